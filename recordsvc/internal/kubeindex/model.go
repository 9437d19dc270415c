package kubeindex

import (
	"net/netip"
	"strings"
	"unique"
)

// Service is the slim view of a core/v1 Service that DNS and the discovery
// API need. Informers keep only this (through their transform) so memory
// stays proportional to what clients can see, not to the full API objects.
type Service struct {
	Namespace string
	Name      string
	// Type is spec.type as the API spells it ("ClusterIP", "NodePort",
	// "LoadBalancer", "ExternalName"); ClusterIP when unset.
	Type string
	// Headless is true when spec.clusterIP is "None": the name resolves to the
	// ready endpoint addresses instead of a cluster IP.
	Headless bool
	// ClusterIPs from spec.clusterIPs (dual-stack aware), empty when headless
	// or ExternalName.
	ClusterIPs []netip.Addr
	// ExternalName is spec.externalName for type ExternalName, else empty.
	ExternalName string
	// Ports are the service's ports (SRV records for ClusterIP services).
	Ports []Port
	// TrafficDistribution is spec.trafficDistribution ("PreferClose"...),
	// empty when unset: headless answers then narrow to the client's zone
	// (zone.go in dnsschema).
	TrafficDistribution string
}

// Port is one named or unnamed port of a Service or an EndpointSlice.
type Port struct {
	// Name is the port name; unnamed ports get no SRV record.
	Name string
	// Protocol in lower case: "tcp", "udp" or "sctp".
	Protocol string
	Port     int32
	// AppProtocol is the port's appProtocol, empty when unset.
	AppProtocol string
}

// Endpoint is one endpoint of an EndpointSlice joined to its Service by the
// kubernetes.io/service-name label.
//
// Where it runs (node, zone, hints) and the kind and namespace of its
// target are read through methods: an Index holds one Endpoint per
// endpoint of the cluster, and these fields, mostly the same for many
// endpoints, are kept as one interned handle. An Endpoint takes 96 bytes
// instead of 176 with them as plain fields, which at 100,000 endpoints was
// most of the record service's growth in memory (bench: recordsvc peak
// RSS). WithDetail sets them.
type Endpoint struct {
	// Addresses of the endpoint (one or several of the slice's family).
	Addresses []netip.Addr
	// Hostname from the slice endpoint, empty when unset.
	Hostname string
	// Ready is the slice condition (nil counts as ready).
	Ready bool
	// Serving is the serving condition (nil counts as Ready); Terminating
	// the terminating condition (nil counts as false).
	Serving     bool
	Terminating bool
	// place holds NodeName, Zone, ForZones and the target's kind and
	// namespace; zero when all are empty.
	place unique.Handle[endpointPlace]
	// targetName is the name of TargetRef.
	targetName string
	// Ports are the ports of the slice the endpoint came from (SRV records
	// for headless services).
	Ports []Port
}

// EndpointDetail is what an Endpoint says about where it runs and what is
// behind it.
type EndpointDetail struct {
	// NodeName and Zone place the endpoint; empty when the slice does not
	// say.
	NodeName string
	Zone     string
	// ForZones are the zones of the endpoint's hints.forZones, nil when
	// the slice gives no hints.
	ForZones []string
	// TargetRef names the object behind the endpoint (usually its Pod);
	// zero when the slice names none.
	TargetRef TargetRef
}

// TargetRef names the object behind an endpoint.
type TargetRef struct {
	Kind      string
	Namespace string
	Name      string
}

// endpointPlace is the interned part of an Endpoint's detail. forZones
// holds the hint zones joined by zoneSeparator, which no zone name (a label
// value) contains.
type endpointPlace struct {
	nodeName, zone, forZones    string
	targetKind, targetNamespace string
}

const zoneSeparator = "\x00"

// WithDetail returns e with its detail set to d.
func (e Endpoint) WithDetail(d EndpointDetail) Endpoint {
	p := endpointPlace{nodeName: d.NodeName, zone: d.Zone, forZones: strings.Join(d.ForZones, zoneSeparator),
		targetKind: d.TargetRef.Kind, targetNamespace: d.TargetRef.Namespace}
	e.place = unique.Handle[endpointPlace]{}
	if p != (endpointPlace{}) {
		e.place = unique.Make(p)
	}
	e.targetName = d.TargetRef.Name
	return e
}

func (e Endpoint) placed() endpointPlace {
	if e.place == (unique.Handle[endpointPlace]{}) {
		return endpointPlace{}
	}
	return e.place.Value()
}

// NodeName is the node the endpoint runs on, empty when the slice does not
// say.
func (e Endpoint) NodeName() string { return e.placed().nodeName }

// Zone is the endpoint's zone, empty when the slice does not say.
func (e Endpoint) Zone() string { return e.placed().zone }

// ForZones are the zones of the endpoint's hints.forZones, nil when the
// slice gives no hints.
func (e Endpoint) ForZones() []string {
	if z := e.placed().forZones; z != "" {
		return strings.Split(z, zoneSeparator)
	}
	return nil
}

// Hinted reports whether the endpoint has hints.forZones; ForHint whether
// zone z is among them, and SameZones whether o has the same zone and
// hints. They read the interned detail without building a list, for answers
// that look at every endpoint.
func (e Endpoint) Hinted() bool { return e.placed().forZones != "" }

func (e Endpoint) ForHint(z string) bool {
	for hint := range strings.SplitSeq(e.placed().forZones, zoneSeparator) {
		if hint == z && hint != "" {
			return true
		}
	}
	return false
}

func (e Endpoint) SameZones(o Endpoint) bool {
	if e.place == o.place {
		return true
	}
	p, q := e.placed(), o.placed()
	return p.zone == q.zone && p.forZones == q.forZones
}

// TargetRef names the object behind the endpoint, zero when the slice names
// none.
func (e Endpoint) TargetRef() TargetRef {
	p := e.placed()
	return TargetRef{Kind: p.targetKind, Namespace: p.targetNamespace, Name: e.targetName}
}

// Detail returns what e says about where it runs and what is behind it.
func (e Endpoint) Detail() EndpointDetail {
	return EndpointDetail{NodeName: e.NodeName(), Zone: e.Zone(), ForZones: e.ForZones(), TargetRef: e.TargetRef()}
}

// sameDetail reports whether a and b have the same detail, without
// building either.
func (e Endpoint) sameDetail(o Endpoint) bool {
	return e.place == o.place && e.targetName == o.targetName
}

// EndpointRef names an endpoint together with the service it belongs to; it
// is what a reverse lookup of an endpoint address finds.
type EndpointRef struct {
	Namespace string
	Service   string
	Endpoint  Endpoint
}

// Invalidation keys name the pieces of cluster state a DNS answer depends on.
// The record service announces a key whenever the state behind it changes, and
// every Lookup answer lists the keys it read, negative answers included.

// ServiceKey covers a Service and all its endpoints.
func ServiceKey(namespace, name string) string {
	return "svc/" + strings.ToLower(namespace) + "/" + strings.ToLower(name)
}

// NamespaceKey covers the existence of a namespace.
func NamespaceKey(namespace string) string { return "ns/" + strings.ToLower(namespace) }

// ServicesKey covers which Services exist in a namespace (their names, not
// their content: see ServiceNames). It is announced when a Service is
// created or deleted there, not when one only changes.
func ServicesKey(namespace string) string { return "svcs/" + strings.ToLower(namespace) }

// AddressKey covers everything reachable by reverse lookup of one IP address:
// cluster IPs and endpoint addresses.
func AddressKey(ip netip.Addr) string { return "ip/" + ip.Unmap().String() }

// PodKey covers the pods that have one IP address.
func PodKey(ip netip.Addr) string { return "pod/" + ip.Unmap().String() }

// EndpointSlice is the slim view of a discovery/v1 EndpointSlice: the
// endpoints it contributes to the Service named by its
// kubernetes.io/service-name label.
type EndpointSlice struct {
	Namespace string
	Name      string
	// Service is the value of the kubernetes.io/service-name label; a slice
	// without it belongs to no Service and contributes nothing.
	Service string
	// MultiClusterService is the multicluster.kubernetes.io/service-name
	// label: the slice is an imported one of that ServiceImport, from the
	// cluster ClusterID (multicluster.kubernetes.io/source-cluster label);
	// see serviceimports.go. Both empty for other slices.
	MultiClusterService string
	ClusterID           string
	// Endpoints of the slice, each carrying the slice's ports. Endpoints of
	// type FQDN are dropped: DNS serves addresses only.
	Endpoints []Endpoint
}

// Pod is the slim view of a core/v1 Pod that `pods verified` needs: which
// namespace has a running pod with a given IP. Pods that are not Running
// have no IPs here.
type Pod struct {
	Namespace string
	Name      string
	// IPs from status.podIPs, only while the pod is Running.
	IPs []netip.Addr
	// NodeName is spec.nodeName: the client's zone is its node's
	// (nodes.go).
	NodeName string
}
