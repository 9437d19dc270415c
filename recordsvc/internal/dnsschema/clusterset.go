package dnsschema

import (
	"fmt"
	"net/netip"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// The clusterset zone (Config.MulticlusterZone, off by default) answers the
// Kubernetes DNS-Based Multicluster Service Discovery specification 1.0.0
// (KEP-1645) from the ServiceImports of an ImportStore:
//
//   - dns-version.<set> TXT "1.0.0"; the apex SOA and NS (ns.dns.<set>.,
//     glued with the nameserver service's cluster IPs) and ns.dns.<set>
//     A/AAAA, as in the cluster zone.
//   - <svc>.<ns>.svc.<set>: A/AAAA of a ClusterSetIP import's spec.ips;
//     for a Headless import every ready address of its imported
//     EndpointSlices (multicluster.kubernetes.io/service-name), of every
//     cluster, NXDOMAIN for every type when none is ready. A bare-name SRV
//     lists every port, as in the cluster zone.
//   - <hostname>.<clusterid>.<svc>.<ns>.svc.<set>, for Headless imports
//     only: the ready addresses of the endpoints of cluster <clusterid>
//     (multicluster.kubernetes.io/source-cluster) named <hostname> (the
//     endpoint's hostname, else its dashed IP as in the cluster zone).
//     <clusterid>.<svc>.<ns>.svc.<set> is the empty non-terminal above them
//     (NODATA) and never holds a record: the specification forbids names
//     that pick one cluster's backends of a service.
//   - _<port>._<proto>.<svc>.<ns>.svc.<set>: SRV for the named port,
//     targeting <svc>.<ns>.svc.<set> for ClusterSetIP imports (the
//     import's spec.ports) and each <hostname>.<clusterid>.<svc>... of a
//     Headless one (N ready endpoints x M ports of their slices; an
//     imported slice without ports takes the import's).
//   - PTR, for an address the cluster zone has no PTR for (the
//     specification's limitation: one PTR per address, the cluster-local
//     one wins): a clusterset IP points to <svc>.<ns>.svc.<set>, a ready
//     endpoint address of a Headless import to its
//     <hostname>.<clusterid>.<svc>.<ns>.svc.<set>.
//   - <ns>.svc.<set> is NODATA when the namespace exists here (namespace
//     sameness), every other name NXDOMAIN, with the set zone's SOA.
//
// Invalidation keys: kubeindex.ImportKey of the import (plus NamespaceKey
// when it is missing), which the index announces for the import and its
// slices; PTR answers AddressKey and the ImportKey of each import found.

// MulticlusterSchemaVersion is the version of the multicluster DNS
// specification dns-version.<set zone> answers.
const MulticlusterSchemaVersion = "1.0.0"

// ImportStore is a Store that also holds the clusterset's ServiceImports
// (implemented by *kubeindex.Index). The clusterset zone of a Store without
// it holds no service.
type ImportStore interface {
	ServiceImport(namespace, name string) (kubeindex.ServiceImport, bool)
	ImportEndpoints(namespace, name string) []kubeindex.ImportEndpoint
	ImportsByIP(ip netip.Addr) []kubeindex.ImportRef
}

// setZone is the clusterset zone's part of a Schema.
type setZone struct {
	zone       string // "clusterset.local." lower case
	labels     []string
	nsHost     string // "ns.dns.<set>."
	hostmaster string
	svcSuffix  string // ".svc.<set>."
}

func newSetZone(zone, clusterZone string) (*setZone, error) {
	zone = strings.TrimSuffix(asciiLower(zone), ".")
	labels, err := validateZone(zone)
	if err != nil {
		return nil, err
	}
	if zone == clusterZone || strings.HasSuffix(zone, "."+clusterZone) || strings.HasSuffix(clusterZone, "."+zone) {
		return nil, fmt.Errorf("overlaps the cluster zone %q", clusterZone)
	}
	fqdn := zone + "."
	return &setZone{zone: fqdn, labels: labels, nsHost: "ns.dns." + fqdn, hostmaster: "hostmaster." + fqdn,
		svcSuffix: ".svc." + fqdn}, nil
}

// MulticlusterZone returns the clusterset zone, fully qualified and lower
// case, or "" when it is off.
func (s *Schema) MulticlusterZone() string {
	if s.set == nil {
		return ""
	}
	return s.set.zone
}

// parseSet parses qname when it lies in the clusterset zone; in is false
// otherwise. A name of the zone off its grammar is a Malformed error of a
// Name marked Set, so its NXDOMAIN carries the zone's SOA.
func (s *Schema) parseSet(qname string) (name Name, err error, in bool) {
	labels, valid := splitName(qname)
	if !hasSuffixLabels(labels, s.set.labels) {
		return Name{}, nil, false
	}
	name, reason := parseSetRelative(labels[:len(labels)-len(s.set.labels)])
	if !valid {
		reason = "not a valid domain name"
	}
	if reason != "" {
		return Name{Set: true}, &ParseError{Name: qname, Kind: Malformed, Reason: reason}, true
	}
	name.Set = true
	return name, nil, true
}

// parseSetRelative parses the labels left of the clusterset zone.
func parseSetRelative(rel []string) (Name, string) {
	n := len(rel)
	if n == 0 || rel[n-1] != "svc" {
		// The apex and dns-version / dns / ns.dns are as in the cluster zone.
		name, reason := parseZoneRelative(rel)
		if reason == "" && (name.Kind == KindPodRoot || name.Kind == KindPodNamespace || name.Kind == KindPod) {
			return Name{}, "no pod names in the clusterset zone"
		}
		return name, reason
	}
	below := rel[:n-1]
	var endpoint, cluster string
	switch {
	case len(below) == 3: // <clusterid>.<svc>.<ns>
		cluster = below[0]
	case len(below) == 4 && !strings.HasPrefix(below[0], "_") && !strings.HasPrefix(below[1], "_"):
		endpoint, cluster = below[0], below[1] // <hostname>.<clusterid>.<svc>.<ns>
	default: // <ns>, <svc>.<ns>, _<port>._<proto>.<svc>.<ns>
		return parseService(below)
	}
	name, reason := parseService(below[len(below)-2:])
	if reason != "" {
		return name, reason
	}
	if !isEndpointLabel(cluster) {
		return Name{}, fmt.Sprintf("cluster %q is not a DNS label", cluster)
	}
	if endpoint == "" {
		return Name{Kind: KindCluster, Namespace: name.Namespace, Service: name.Service, Cluster: cluster}, ""
	}
	if !isEndpointLabel(endpoint) {
		return Name{}, fmt.Sprintf("endpoint %q is neither a hostname nor a dashed IP", endpoint)
	}
	return Name{Kind: KindEndpoint, Namespace: name.Namespace, Service: name.Service, Endpoint: endpoint, Cluster: cluster}, ""
}

// resolveSet answers name, a name of the clusterset zone.
func (l *lookup) resolveSet(name Name, owner string, qtype uint16) outcome {
	s := l.s
	switch name.Kind {
	case KindApex:
		switch qtype {
		case typeSOA:
			l.depend(kubeindex.ServiceKey(s.nsNS, s.nsName))
			return positive([]*clusterdnsv1.ResourceRecord{s.setSOA(owner, l.serial)}, nil)
		case typeNS:
			var glue []*clusterdnsv1.ResourceRecord
			for _, ip := range uniqueAddrs(l.nameserverIPs()) {
				glue = append(glue, addressRecord(s.set.nsHost, s.ttl, ip))
			}
			return positive([]*clusterdnsv1.ResourceRecord{nsRecord(owner, s.ttl, s.set.nsHost)}, glue)
		}
		return noData()
	case KindDNSVersion:
		if qtype == typeTXT {
			return positive([]*clusterdnsv1.ResourceRecord{txtRecord(owner, s.ttl, MulticlusterSchemaVersion)}, nil)
		}
		return noData()
	case KindDNSParent, KindNameserver, KindServiceRoot, KindServiceNamespace:
		// As in the cluster zone.
		return l.resolve(Name{Kind: name.Kind, Namespace: name.Namespace}, owner, qtype)
	case KindService:
		return l.setService(name, owner, qtype)
	case KindCluster, KindEndpoint:
		return l.setEndpoint(name, owner, qtype)
	case KindPort:
		return l.setPort(name, owner, qtype)
	default:
		return nameError()
	}
}

// setSOA is the clusterset zone's SOA: the cluster zone's, named after the
// set zone.
func (s *Schema) setSOA(owner string, serial uint32) *clusterdnsv1.ResourceRecord {
	rr := s.soa(owner, serial)
	rr.GetSoa().Mname, rr.GetSoa().Rname = s.set.nsHost, s.set.hostmaster
	return rr
}

// findImport looks a ServiceImport up, recording its key (and, when it is
// missing, the namespace key).
func (l *lookup) findImport(namespace, name string) (kubeindex.ServiceImport, ImportStore, bool) {
	l.depend(kubeindex.ImportKey(namespace, name))
	st, ok := l.store.(ImportStore)
	var si kubeindex.ServiceImport
	if ok {
		si, ok = st.ServiceImport(namespace, name)
	}
	if !ok {
		l.depend(kubeindex.NamespaceKey(namespace))
	}
	return si, st, ok
}

// setEndpoint is a ready address of a Headless import with its names: the
// endpoint label and the cluster label ("" when the cluster ID is no DNS
// label: the address then has no name of its own).
type setEndpoint struct {
	ep      kubeindex.ImportEndpoint
	ip      netip.Addr
	label   string
	cluster string
}

// host is <label>.<cluster>.<svc>.<ns>.svc.<set>.
func (e setEndpoint) host(service string) string { return e.label + "." + e.cluster + "." + service }

// readySet returns the ready addresses of the import's endpoints.
func readySet(st ImportStore, namespace, name string) []setEndpoint {
	var out []setEndpoint
	for _, ep := range st.ImportEndpoints(namespace, name) {
		if !ep.Ready {
			continue
		}
		cluster := asciiLower(ep.ClusterID)
		if !isRFC1123Label(cluster) {
			cluster = ""
		}
		for _, ip := range ep.Addresses {
			out = append(out, setEndpoint{ep: ep, ip: ip, label: endpointLabel(ep.Endpoint, ip), cluster: cluster})
		}
	}
	return out
}

// setServiceHost returns "<svc>.<ns>.svc.<set>." in lower case.
func (l *lookup) setServiceHost(si kubeindex.ServiceImport) string {
	return asciiLower(si.Name) + "." + asciiLower(si.Namespace) + l.s.set.svcSuffix
}

// setPorts are the ports of an imported endpoint: its slice's, else the
// import's.
func setPorts(si kubeindex.ServiceImport, e setEndpoint) []kubeindex.Port {
	if len(e.ep.Ports) > 0 {
		return e.ep.Ports
	}
	return si.Ports
}

// setService answers <svc>.<ns>.svc.<set>.
func (l *lookup) setService(name Name, owner string, qtype uint16) outcome {
	si, st, ok := l.findImport(name.Namespace, name.Service)
	if !ok {
		return nameError()
	}
	ttl := l.s.ttl
	host := l.setServiceHost(si)
	if !si.Headless {
		switch qtype {
		case typeA, typeAAAA:
			return addressAnswer(owner, ttl, uniqueAddrs(si.IPs), qtype == typeA)
		case typeSRV:
			b := newSRVBuilder(owner, ttl)
			for _, p := range si.Ports {
				b.add(host, p.Port, si.IPs...)
			}
			return b.outcome()
		}
		return noData()
	}
	eps := readySet(st, name.Namespace, name.Service)
	if len(eps) == 0 {
		return nameError()
	}
	switch qtype {
	case typeA, typeAAAA:
		addrs := make([]netip.Addr, 0, len(eps))
		for _, e := range eps {
			addrs = append(addrs, e.ip)
		}
		return addressAnswer(owner, ttl, uniqueAddrs(addrs), qtype == typeA)
	case typeSRV:
		b := newSRVBuilder(owner, ttl)
		for _, e := range eps {
			if e.cluster == "" {
				continue
			}
			for _, p := range setPorts(si, e) {
				b.add(e.host(host), p.Port, e.ip)
			}
		}
		return b.outcome()
	}
	return noData()
}

// setEndpoint answers <clusterid>.<svc>.<ns>.svc.<set> (KindCluster: an
// empty non-terminal while the cluster has named endpoints) and
// <hostname>.<clusterid>.<svc>.<ns>.svc.<set>, of Headless imports only.
func (l *lookup) setEndpoint(name Name, owner string, qtype uint16) outcome {
	si, st, ok := l.findImport(name.Namespace, name.Service)
	if !ok || !si.Headless {
		return nameError()
	}
	var matches []setEndpoint
	for _, e := range readySet(st, name.Namespace, name.Service) {
		if e.cluster == name.Cluster && (name.Kind == KindCluster || e.label == name.Endpoint) {
			matches = append(matches, e)
		}
	}
	if len(matches) == 0 {
		return nameError()
	}
	if name.Kind == KindCluster {
		return noData()
	}
	ttl := l.s.ttl
	switch qtype {
	case typeA, typeAAAA:
		addrs := make([]netip.Addr, 0, len(matches))
		for _, m := range matches {
			addrs = append(addrs, m.ip)
		}
		return addressAnswer(owner, ttl, uniqueAddrs(addrs), qtype == typeA)
	case typeSRV:
		b := newSRVBuilder(owner, ttl)
		for _, m := range matches {
			for _, p := range setPorts(si, m) {
				b.add(m.host(l.setServiceHost(si)), p.Port, m.ip)
			}
		}
		return b.outcome()
	}
	return noData()
}

// setPort answers _<port>._<proto>.<svc>.<ns>.svc.<set>.
func (l *lookup) setPort(name Name, owner string, qtype uint16) outcome {
	si, st, ok := l.findImport(name.Namespace, name.Service)
	if !ok {
		return nameError()
	}
	host := l.setServiceHost(si)
	b := newSRVBuilder(owner, l.s.ttl)
	if si.Headless {
		for _, e := range readySet(st, name.Namespace, name.Service) {
			if e.cluster == "" {
				continue
			}
			for _, p := range setPorts(si, e) {
				if portMatches(p, name) {
					b.add(e.host(host), p.Port, e.ip)
				}
			}
		}
	} else {
		for _, p := range si.Ports {
			if portMatches(p, name) {
				b.add(host, p.Port, si.IPs...)
			}
		}
	}
	if b.empty() {
		return nameError()
	}
	if qtype != typeSRV {
		return noData()
	}
	return b.outcome()
}

// setPTRTargets returns the clusterset names of ip, for an address the
// cluster zone has no PTR for: the service name of a clusterset IP, the
// endpoint names of a Headless import's ready endpoint.
func (l *lookup) setPTRTargets(ip netip.Addr) []string {
	st, ok := l.store.(ImportStore)
	if l.s.set == nil || !ok {
		return nil
	}
	var targets []string
	for _, ref := range st.ImportsByIP(ip) {
		l.depend(kubeindex.ImportKey(ref.Import.Namespace, ref.Import.Name))
		host := l.setServiceHost(ref.Import)
		switch {
		case ref.Endpoint == nil:
			targets = appendUnique(targets, host)
		case ref.Import.Headless && ref.Endpoint.Ready:
			cluster := asciiLower(ref.Endpoint.ClusterID)
			if isRFC1123Label(cluster) {
				targets = appendUnique(targets, endpointLabel(ref.Endpoint.Endpoint, ip)+"."+cluster+"."+host)
			}
		}
	}
	return targets
}
