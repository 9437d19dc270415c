package discovery

import (
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// serviceType maps spec.type as the API spells it to the enum. A type added
// to Kubernetes after this build maps to ClusterIP: every such type so far
// has kept cluster IPs, so it is the least wrong answer.
func serviceType(t string) clusterdnsv1.ServiceType {
	switch t {
	case "NodePort":
		return clusterdnsv1.ServiceType_SERVICE_TYPE_NODE_PORT
	case "LoadBalancer":
		return clusterdnsv1.ServiceType_SERVICE_TYPE_LOAD_BALANCER
	case "ExternalName":
		return clusterdnsv1.ServiceType_SERVICE_TYPE_EXTERNAL_NAME
	default:
		return clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP
	}
}

// protocol maps the index's lower-case protocol names to the enum.
func protocol(p string) clusterdnsv1.Protocol {
	switch p {
	case "tcp":
		return clusterdnsv1.Protocol_PROTOCOL_TCP
	case "udp":
		return clusterdnsv1.Protocol_PROTOCOL_UDP
	case "sctp":
		return clusterdnsv1.Protocol_PROTOCOL_SCTP
	default:
		return clusterdnsv1.Protocol_PROTOCOL_UNSPECIFIED
	}
}

func toService(s kubeindex.Service) *clusterdnsv1.Service {
	out := &clusterdnsv1.Service{
		Namespace:    s.Namespace,
		Name:         s.Name,
		Type:         serviceType(s.Type),
		Headless:     s.Headless,
		ExternalName: s.ExternalName,
		Ports:        toPorts(s.Ports),
	}
	if len(s.ClusterIPs) > 0 {
		out.ClusterIps = make([]string, len(s.ClusterIPs))
		for i, ip := range s.ClusterIPs {
			out.ClusterIps[i] = ip.String()
		}
	}
	return out
}

func toPorts(ps []kubeindex.Port) []*clusterdnsv1.Port {
	if len(ps) == 0 {
		return nil
	}
	out := make([]*clusterdnsv1.Port, len(ps))
	for i, p := range ps {
		out[i] = &clusterdnsv1.Port{Name: p.Name, Protocol: protocol(p.Protocol), Port: uint32(p.Port), AppProtocol: p.AppProtocol}
	}
	return out
}

func toEndpoint(ep kubeindex.Endpoint) *clusterdnsv1.Endpoint {
	out := &clusterdnsv1.Endpoint{
		Addresses:   make([]string, len(ep.Addresses)),
		Ready:       ep.Ready,
		Serving:     ep.Serving,
		Terminating: ep.Terminating,
		Hostname:    ep.Hostname,
		NodeName:    ep.NodeName(),
		Zone:        ep.Zone(),
		Ports:       toPorts(ep.Ports),
	}
	for i, a := range ep.Addresses {
		out.Addresses[i] = a.String()
	}
	if r := ep.TargetRef(); r != (kubeindex.TargetRef{}) {
		out.TargetRef = &clusterdnsv1.TargetRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
	}
	return out
}

// toState converts a ServiceState for ref, which names the Service as the
// client asked for it (the index matches names case-insensitively).
func toState(ref *clusterdnsv1.ServiceRef, st kubeindex.ServiceState) *clusterdnsv1.ServiceState {
	out := &clusterdnsv1.ServiceState{
		Ref:    &clusterdnsv1.ServiceRef{Namespace: ref.GetNamespace(), Name: ref.GetName()},
		Exists: st.Exists,
	}
	if !st.Exists {
		return out
	}
	out.Service = toService(st.Service)
	if len(st.Endpoints) > 0 {
		out.Endpoints = make([]*clusterdnsv1.Endpoint, len(st.Endpoints))
		for i, ep := range st.Endpoints {
			out.Endpoints[i] = toEndpoint(ep)
		}
	}
	return out
}
