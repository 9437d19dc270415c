package dnsschema

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// fakeStore is a map-backed Store for tests. calls records the order of
// method calls so tests can check that the revision is read first.
type fakeStore struct {
	notSynced  bool
	rev        uint64
	namespaces map[string]bool
	services   map[string]kubeindex.Service    // "ns/name"
	endpoints  map[string][]kubeindex.Endpoint // "ns/name"
	pods       map[netip.Addr][]string         // pod IP -> namespaces
	calls      []string
}

func newFakeStore(rev uint64) *fakeStore {
	return &fakeStore{
		rev:        rev,
		namespaces: map[string]bool{},
		services:   map[string]kubeindex.Service{},
		endpoints:  map[string][]kubeindex.Endpoint{},
		pods:       map[netip.Addr][]string{},
	}
}

func (f *fakeStore) addNamespace(names ...string) {
	for _, n := range names {
		f.namespaces[n] = true
	}
}

func (f *fakeStore) addService(svc kubeindex.Service, eps ...kubeindex.Endpoint) {
	key := svc.Namespace + "/" + svc.Name
	f.services[key] = svc
	f.endpoints[key] = append(f.endpoints[key], eps...)
}

func (f *fakeStore) record(call string) { f.calls = append(f.calls, call) }

func (f *fakeStore) Synced() bool { f.record("Synced"); return !f.notSynced }

func (f *fakeStore) Revision() uint64 { f.record("Revision"); return f.rev }

func (f *fakeStore) NamespaceExists(namespace string) bool {
	f.record("NamespaceExists")
	return f.namespaces[namespace]
}

func (f *fakeStore) Service(namespace, name string) (kubeindex.Service, bool) {
	f.record("Service")
	svc, ok := f.services[namespace+"/"+name]
	return svc, ok
}

func (f *fakeStore) Endpoints(namespace, service string) []kubeindex.Endpoint {
	f.record("Endpoints")
	return f.endpoints[namespace+"/"+service]
}

func (f *fakeStore) sortedServiceKeys() []string {
	keys := make([]string, 0, len(f.services))
	for k := range f.services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (f *fakeStore) ServicesByClusterIP(ip netip.Addr) []kubeindex.Service {
	f.record("ServicesByClusterIP")
	var out []kubeindex.Service
	for _, k := range f.sortedServiceKeys() {
		if svc := f.services[k]; slices.Contains(svc.ClusterIPs, ip) {
			out = append(out, svc)
		}
	}
	return out
}

func (f *fakeStore) EndpointsByIP(ip netip.Addr) []kubeindex.EndpointRef {
	f.record("EndpointsByIP")
	var out []kubeindex.EndpointRef
	for _, k := range f.sortedServiceKeys() {
		ns, name, _ := strings.Cut(k, "/")
		for _, ep := range f.endpoints[k] {
			if slices.Contains(ep.Addresses, ip) {
				out = append(out, kubeindex.EndpointRef{Namespace: ns, Service: name, Endpoint: ep})
			}
		}
	}
	return out
}

func (f *fakeStore) PodNamespacesByIP(ip netip.Addr) []string {
	f.record("PodNamespacesByIP")
	return f.pods[ip]
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func ep(hostname string, ready bool, ports []kubeindex.Port, ips ...string) kubeindex.Endpoint {
	return kubeindex.Endpoint{Addresses: addrs(ips...), Hostname: hostname, Ready: ready, Ports: ports}
}

func port(name, proto string, number int32) kubeindex.Port {
	return kubeindex.Port{Name: name, Protocol: proto, Port: number}
}

func clusterIP(ns, name string, ports []kubeindex.Port, ips ...string) kubeindex.Service {
	return kubeindex.Service{Namespace: ns, Name: name, ClusterIPs: addrs(ips...), Ports: ports}
}

func headless(ns, name string, ports []kubeindex.Port) kubeindex.Service {
	return kubeindex.Service{Namespace: ns, Name: name, Headless: true, Ports: ports}
}

func externalName(ns, name, target string) kubeindex.Service {
	return kubeindex.Service{Namespace: ns, Name: name, ExternalName: target}
}

// testRevision is the fixture's revision, hence the SOA serial.
const testRevision = 1700000000

// clusterStore is the fixture most answer tests run on.
func clusterStore() *fakeStore {
	f := newFakeStore(testRevision)
	f.addNamespace("default", "kube-system", "testns", "other")

	web := []kubeindex.Port{port("http", "tcp", 80), port("", "tcp", 8080)}
	f.addService(clusterIP("default", "kubernetes", []kubeindex.Port{port("https", "tcp", 443)}, "10.96.0.1"),
		ep("", true, []kubeindex.Port{port("https", "tcp", 6443)}, "192.168.0.10"))
	f.addService(clusterIP("kube-system", "kube-dns",
		[]kubeindex.Port{port("dns", "udp", 53), port("dns-tcp", "tcp", 53), port("metrics", "tcp", 9153)},
		"10.96.0.10", "fd00:10:96::a"))
	f.addService(clusterIP("testns", "svc4", web, "10.96.1.4"),
		ep("", true, []kubeindex.Port{port("http", "tcp", 8080)}, "10.244.1.1"),
		ep("", false, []kubeindex.Port{port("http", "tcp", 8080)}, "10.244.1.2"))
	f.addService(clusterIP("testns", "svc6",
		[]kubeindex.Port{port("http", "tcp", 80), port("assoc", "sctp", 9999)}, "fd00:10:96::6"))
	f.addService(clusterIP("testns", "dual",
		[]kubeindex.Port{port("http", "tcp", 80), port("dns", "udp", 53)}, "10.96.1.2", "fd00:10:96::2"))

	// headless: three slices, a duplicate address across slices, a
	// not-ready endpoint, one hostname with two addresses, an IPv6 slice
	// reusing a hostname.
	f.addService(headless("testns", "headless", web),
		ep("web-0", true, web, "10.244.2.1"),
		ep("", true, web, "10.244.2.2"),
		ep("web-2", false, web, "10.244.2.3"),
		// slice 2
		ep("", true, web, "10.244.2.2"),
		ep("dup", true, web, "10.244.2.4", "10.244.2.5"),
		// slice 3 (IPv6, http only)
		ep("web-0", true, []kubeindex.Port{port("http", "tcp", 80)}, "fd00:10:244::1"),
		ep("", true, []kubeindex.Port{port("http", "tcp", 80)}, "fd00:10:244::2"),
	)
	f.addService(headless("testns", "notready", web), ep("nr", false, web, "10.244.4.1"))
	f.addService(headless("testns", "noeps", web))
	f.addService(headless("testns", "portless", nil), ep("", true, nil, "10.244.3.1"))
	// Two services share an endpoint address (PTR per service).
	f.addService(headless("testns", "share-a", web), ep("x", true, web, "10.244.5.5"))
	f.addService(clusterIP("testns", "share-b", web, "10.96.1.55"), ep("", true, web, "10.244.5.5"))

	f.addService(externalName("testns", "ext", "www.example.com"))
	f.addService(externalName("testns", "ext-dot", "www.example.com."))
	f.addService(externalName("testns", "ext-ip", "10.1.2.3"))
	f.addService(externalName("testns", "ext-in", "kubernetes.default.svc.cluster.local"))
	f.addService(externalName("testns", "ext-upper", "Svc4.TestNS.svc.cluster.local."))
	f.addService(externalName("testns", "ext-chain", "ext-in.testns.svc.cluster.local"))
	f.addService(externalName("testns", "ext-ext", "ext.testns.svc.cluster.local"))
	f.addService(externalName("testns", "ext-missing", "nothere.testns.svc.cluster.local"))
	f.addService(externalName("testns", "ext-headless", "headless.testns.svc.cluster.local"))
	f.addService(externalName("testns", "ext-pod", "10-244-9-9.testns.pod.cluster.local"))
	f.addService(externalName("testns", "ext-apex", "cluster.local"))
	f.addService(externalName("testns", "loop-a", "loop-b.testns.svc.cluster.local"))
	f.addService(externalName("testns", "loop-b", "loop-a.testns.svc.cluster.local"))
	f.addService(externalName("testns", "self", "self.testns.svc.cluster.local"))
	for i := range 10 {
		target := "c" + string(rune('0'+i+1)) + ".testns.svc.cluster.local"
		if i == 9 {
			target = "kubernetes.default.svc.cluster.local"
		}
		f.addService(externalName("testns", "c"+string(rune('0'+i)), target))
	}

	f.pods[netip.MustParseAddr("10.244.9.9")] = []string{"testns"}
	f.pods[netip.MustParseAddr("fd00:10:244::9")] = []string{"testns"}
	return f
}

// specStore models the examples of the Kubernetes DNS-Based Service
// Discovery specification 1.1.0.
func specStore() *fakeStore {
	f := newFakeStore(testRevision)
	f.addNamespace("default")
	https := []kubeindex.Port{port("https", "tcp", 443)}
	f.addService(clusterIP("default", "kubernetes", https, "10.3.0.1", "2001:db8::1"))
	f.addService(headless("default", "headless", https),
		ep("", true, https, "10.3.0.1"),
		ep("", true, https, "10.3.0.2"),
		ep("", true, https, "10.3.0.3"),
		ep("my-pet", true, https, "10.3.0.100"),
		ep("my-pet-2", true, https, "10.3.0.101"),
		ep("my-pet", true, https, "2001:db8::100"),
	)
	f.addService(externalName("default", "foo", "www.example.com"))
	return f
}
