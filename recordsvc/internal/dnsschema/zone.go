package dnsschema

import (
	"net/netip"
	"slices"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Zone-aware answers (Config.ZoneAware).
//
// Only answers made of endpoint addresses depend on where the client is:
// the A, AAAA and SRV records of a headless Service. A ClusterIP Service's
// name answers its cluster IP wherever the client is; kube-proxy applies
// the Service's topology (hints, trafficDistribution) to the connections
// to that IP, so DNS has nothing to add there.
//
// For a headless Service whose ready endpoints do not all share one zone,
// a client in zone Z gets:
//   - only the endpoints meant for Z, when the Service asks for it and at
//     least one ready endpoint qualifies: the endpoints whose hints name Z
//     when every ready endpoint carries hints (the rule kube-proxy follows,
//     which ignores partial hints), else, with spec.trafficDistribution
//     PreferClose (or its newer spelling PreferSameZone), the endpoints in
//     Z;
//   - otherwise every ready endpoint, those in Z first (each group in the
//     usual address order).
//
// A client whose zone is unknown gets the usual answer. Either way the
// answer is marked zone_dependent with the zone it was computed for, so
// that caches never hand it to a client of another zone.
//
// The client's zone is the request's client_zone (a frontend's --zone),
// else the zone of the node of the pod with the client's address (a
// ZoneStore), which then adds the pod and node keys to the answer.

// ZoneStore is a Store that knows the zone of a client address
// (kubeindex.Index.ClientZone): the node of the running pods holding it,
// and that node's topology.kubernetes.io/zone label.
type ZoneStore interface {
	ClientZone(ip netip.Addr) (zone, node string)
}

// Traffic distributions that narrow answers to the client's zone.
const (
	preferClose    = "PreferClose"
	preferSameZone = "PreferSameZone"
)

// zoneView is a lookup's view of the client's zone, found on first use.
type zoneView struct {
	req       *clusterdnsv1.LookupRequest
	resolved  bool
	zone      string
	dependent bool
}

// clientZone returns the asking client's zone, "" when unknown.
func (l *lookup) clientZone() string {
	if l.zv.resolved {
		return l.zv.zone
	}
	l.zv.resolved = true
	if z := l.zv.req.GetClientZone(); z != "" {
		l.zv.zone = z
		return z
	}
	zs, ok := l.store.(ZoneStore)
	if !ok {
		return ""
	}
	ip, err := netip.ParseAddr(l.zv.req.GetClientIp())
	if err != nil {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	l.depend(kubeindex.PodKey(ip))
	zone, node := zs.ClientZone(ip)
	if node != "" {
		l.depend(kubeindex.NodeKey(node))
	}
	l.zv.zone = zone
	return zone
}

// byZone returns the ready endpoints eps of the headless Service svc as
// the asking client should get them (see above).
func (l *lookup) byZone(svc kubeindex.Service, eps []kubeindex.Endpoint) []kubeindex.Endpoint {
	if !l.s.zoneAware || !spansZones(eps) {
		return eps
	}
	l.zv.dependent = true
	z := l.clientZone()
	if z == "" {
		return eps
	}
	if mine := narrowToZone(svc, eps, z); len(mine) > 0 {
		return mine
	}
	return zoneFirst(eps, z)
}

// spansZones reports whether clients in different zones may get different
// answers from eps: their zones or hints are not all the same.
func spansZones(eps []kubeindex.Endpoint) bool {
	for _, ep := range eps[min(1, len(eps)):] {
		if !ep.SameZones(eps[0]) {
			return true
		}
	}
	return false
}

// narrowToZone returns the endpoints meant for zone z when the Service asks
// for narrowing, else nil.
func narrowToZone(svc kubeindex.Service, eps []kubeindex.Endpoint, z string) []kubeindex.Endpoint {
	hinted := !slices.ContainsFunc(eps, func(ep kubeindex.Endpoint) bool { return !ep.Hinted() })
	var keep func(kubeindex.Endpoint) bool
	switch {
	case hinted:
		keep = func(ep kubeindex.Endpoint) bool { return ep.ForHint(z) }
	case svc.TrafficDistribution == preferClose || svc.TrafficDistribution == preferSameZone:
		keep = func(ep kubeindex.Endpoint) bool { return ep.Zone() == z }
	default:
		return nil
	}
	var out []kubeindex.Endpoint
	for _, ep := range eps {
		if keep(ep) {
			out = append(out, ep)
		}
	}
	return out
}

// zoneFirst returns eps with the endpoints in zone z first, each group in
// its original order.
func zoneFirst(eps []kubeindex.Endpoint, z string) []kubeindex.Endpoint {
	out := make([]kubeindex.Endpoint, 0, len(eps))
	for _, ep := range eps {
		if ep.Zone() == z {
			out = append(out, ep)
		}
	}
	for _, ep := range eps {
		if ep.Zone() != z {
			out = append(out, ep)
		}
	}
	return out
}

// markZone records in resp that the answer depends on the client's zone.
func (l *lookup) markZone(resp *clusterdnsv1.LookupResponse) {
	if l.zv.dependent {
		resp.ZoneDependent = true
		resp.Zone = l.zv.zone
	}
}
