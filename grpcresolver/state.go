package grpcresolver

import (
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// AttributeKey is the type of the keys of the attributes this package sets
// on every resolver.Address and resolver.Endpoint it produces.
type AttributeKey string

const (
	// ZoneAttributeKey holds the endpoint's zone (a string; absent when the
	// zone is unknown).
	ZoneAttributeKey AttributeKey = "clusterdns.zone"
	// NodeAttributeKey holds the name of the endpoint's node (a string;
	// absent when unknown).
	NodeAttributeKey AttributeKey = "clusterdns.node"
)

// ZoneFromAddress returns the zone of an address produced by this package,
// or "" when it has none.
func ZoneFromAddress(a resolver.Address) string {
	return stringAttr(a.Attributes, ZoneAttributeKey)
}

// NodeFromAddress returns the node name of an address produced by this
// package, or "" when it has none.
func NodeFromAddress(a resolver.Address) string {
	return stringAttr(a.Attributes, NodeAttributeKey)
}

// ZoneFromEndpoint returns the zone of an endpoint produced by this
// package, or "" when it has none; balancers that see endpoints rather than
// addresses read it here.
func ZoneFromEndpoint(e resolver.Endpoint) string {
	return stringAttr(e.Attributes, ZoneAttributeKey)
}

func stringAttr(a *attributes.Attributes, key AttributeKey) string {
	s, _ := a.Value(key).(string)
	return s
}

// resolved is one address of the pushed state, with what its attributes
// carry; a slice of them is comparable, so an unchanged state is not
// pushed again.
type resolved struct {
	addr, zone, node string
	// endpoint numbers the Service endpoint the address belongs to, so
	// that a dual-stack endpoint's addresses form one resolver.Endpoint.
	endpoint int
}

// errNoSuchPort reports a target port that the Service does not have.
type errNoSuchPort struct{ t target }

func (e errNoSuchPort) Error() string {
	return fmt.Sprintf("service %s/%s has no port named %q", e.t.namespace, e.t.name, e.t.portName)
}

// addresses lists the addresses of the ready endpoints of st for the port
// of t. An error means the state gives no addresses for t: the Service does
// not exist, is an ExternalName, or lacks the named port.
func addresses(t target, st *clusterdnsv1.ServiceState) ([]resolved, error) {
	if !st.GetExists() {
		return nil, fmt.Errorf("service %s/%s does not exist", t.namespace, t.name)
	}
	svc := st.GetService()
	if svc.GetType() == clusterdnsv1.ServiceType_SERVICE_TYPE_EXTERNAL_NAME {
		return nil, fmt.Errorf("service %s/%s is an ExternalName Service (%s), without endpoints", t.namespace, t.name, svc.GetExternalName())
	}
	// Endpoint ports are target ports: they are matched by the name of the
	// Service port, and may differ from one EndpointSlice to another.
	portName, fixed := t.portName, uint32(0)
	if portName == "" {
		fixed = t.portNumber
		for _, p := range svc.GetPorts() {
			if p.GetPort() == t.portNumber && isTCP(p.GetProtocol()) {
				portName, fixed = p.GetName(), 0
				break
			}
		}
	} else if !hasPort(svc.GetPorts(), portName) {
		return nil, errNoSuchPort{t}
	}
	var out []resolved
	seen := make(map[string]bool)
	for i, ep := range st.GetEndpoints() {
		// Ready is false while an endpoint terminates, even when it still
		// serves: a client must send it nothing new.
		if !ep.GetReady() || ep.GetTerminating() {
			continue
		}
		port := fixed
		if port == 0 {
			port = endpointPort(ep.GetPorts(), portName)
		}
		if port == 0 {
			continue
		}
		for _, ip := range ep.GetAddresses() {
			addr := net.JoinHostPort(ip, strconv.FormatUint(uint64(port), 10))
			if seen[addr] {
				continue
			}
			seen[addr] = true
			out = append(out, resolved{addr: addr, zone: ep.GetZone(), node: ep.GetNodeName(), endpoint: i})
		}
	}
	return out, nil
}

func isTCP(p clusterdnsv1.Protocol) bool {
	return p == clusterdnsv1.Protocol_PROTOCOL_TCP || p == clusterdnsv1.Protocol_PROTOCOL_UNSPECIFIED
}

func hasPort(ports []*clusterdnsv1.Port, name string) bool {
	for _, p := range ports {
		if p.GetName() == name && isTCP(p.GetProtocol()) {
			return true
		}
	}
	return false
}

// endpointPort is the number of the TCP port called name, or 0.
func endpointPort(ports []*clusterdnsv1.Port, name string) uint32 {
	for _, p := range ports {
		if p.GetName() == name && isTCP(p.GetProtocol()) {
			return p.GetPort()
		}
	}
	return 0
}

// toState builds the resolver.State of addrs: Addresses for balancers that
// still read them, and Endpoints grouping the addresses of one Kubernetes
// endpoint (both families of a dual-stack pod).
func toState(addrs []resolved) resolver.State {
	var st resolver.State
	for i, r := range addrs {
		var attrs *attributes.Attributes
		if r.zone != "" {
			attrs = attrs.WithValue(ZoneAttributeKey, r.zone)
		}
		if r.node != "" {
			attrs = attrs.WithValue(NodeAttributeKey, r.node)
		}
		a := resolver.Address{Addr: r.addr, Attributes: attrs}
		st.Addresses = append(st.Addresses, a)
		if i > 0 && addrs[i-1].endpoint == r.endpoint {
			last := &st.Endpoints[len(st.Endpoints)-1]
			last.Addresses = append(last.Addresses, a)
			continue
		}
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{a}, Attributes: attrs})
	}
	return st
}
