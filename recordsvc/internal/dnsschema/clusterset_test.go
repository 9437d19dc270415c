package dnsschema

import (
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// setSOALine is the authority record of negative answers in the clusterset
// zone on setStore.
const setSOALine = "clusterset.local. 30 IN SOA ns.dns.clusterset.local. hostmaster.clusterset.local. 1700000000 7200 1800 86400 30"

// fixedSerial is a kubeindex.Index with the serial of the other tests.
type fixedSerial struct{ *kubeindex.Index }

func (fixedSerial) Serial() uint32 { return 1700000000 }

func setEp(host string, ready bool, text ...string) kubeindex.Endpoint {
	return kubeindex.Endpoint{Hostname: host, Ready: ready, Serving: ready, Addresses: addrs(text...)}
}

// setStore holds the clusterset of the specification's examples: the
// ClusterSetIP import test/myservice and the Headless import test/headless
// with endpoints in clusterA (one not ready, one without hostname) and
// clusterB (IPv4 and IPv6 slices), and a local Service whose cluster IP is
// also a clusterset IP.
func setStore() fixedSerial {
	ix := kubeindex.New(kubeindex.Config{StartRevision: 1})
	https := []kubeindex.Port{{Name: "https", Protocol: "tcp", Port: 443}}
	ix.SetNamespace("test")
	ix.SetNamespace("kube-system")
	ix.SetService(kubeindex.Service{Namespace: "kube-system", Name: "kube-dns", Type: "ClusterIP", ClusterIPs: addrs("10.96.0.10")})
	ix.SetService(kubeindex.Service{Namespace: "test", Name: "local", Type: "ClusterIP", ClusterIPs: addrs("10.42.42.43")})
	ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "test", Name: "myservice", IPs: addrs("10.42.42.42", "2001:db8::1"),
		Ports: []kubeindex.Port{{Name: "https", Protocol: "tcp", Port: 443}, {Protocol: "tcp", Port: 80}}})
	ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "test", Name: "shared", IPs: addrs("10.42.42.43")})
	ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "test", Name: "headless", Headless: true, Ports: https})
	ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "test", Name: "empty", Headless: true})
	withPorts := func(ep kubeindex.Endpoint, ports []kubeindex.Port) kubeindex.Endpoint { ep.Ports = ports; return ep }
	ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "test", Name: "headless-a", MultiClusterService: "headless", ClusterID: "clusterA",
		Endpoints: []kubeindex.Endpoint{
			withPorts(setEp("my-pet-1", true, "10.3.0.100"), https),
			withPorts(setEp("", true, "10.3.0.101"), https),
			withPorts(setEp("my-pet-3", false, "10.3.0.102"), https),
		}})
	// clusterB's slices carry no ports: the import's apply.
	ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "test", Name: "headless-b4", MultiClusterService: "headless", ClusterID: "clusterB",
		Endpoints: []kubeindex.Endpoint{setEp("my-pet-1", true, "10.4.0.100")}})
	ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "test", Name: "headless-b6", MultiClusterService: "headless", ClusterID: "clusterB",
		Endpoints: []kubeindex.Endpoint{setEp("my-pet-2", true, "2001:db8::3")}})
	ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "test", Name: "empty-a", MultiClusterService: "empty", ClusterID: "clusterA",
		Endpoints: []kubeindex.Endpoint{setEp("down", false, "10.5.0.1")}})
	ix.MarkSynced()
	return fixedSerial{ix}
}

func TestAnswerClusterset(t *testing.T) {
	s := mustSchema(t, Config{MulticlusterZone: "clusterset.local"})
	myKey := kubeindex.ImportKey("test", "myservice")
	hlKey := kubeindex.ImportKey("test", "headless")
	const hl = "headless.test.svc.clusterset.local."
	runAnswerCases(t, s, setStore(), setSOALine, []answerCase{
		// 2.2 schema version; the apex as in the cluster zone.
		{qname: "dns-version.clusterset.local.", qtype: dns.TypeTXT, result: success,
			answer: []string{`dns-version.clusterset.local. 30 IN TXT "1.0.0"`}},
		{qname: "clusterset.local.", qtype: dns.TypeSOA, result: success, answer: []string{setSOALine}},
		{qname: "clusterset.local.", qtype: dns.TypeNS, result: success,
			answer: []string{"clusterset.local. 30 IN NS ns.dns.clusterset.local."},
			extra:  []string{"ns.dns.clusterset.local. 30 IN A 10.96.0.10"}},
		{qname: "ns.dns.clusterset.local.", qtype: dns.TypeA, result: success,
			answer: []string{"ns.dns.clusterset.local. 30 IN A 10.96.0.10"}},
		{qname: "clusterset.local.", qtype: dns.TypeA, result: nodata},
		{qname: "svc.clusterset.local.", qtype: dns.TypeA, result: nodata},
		{qname: "test.svc.clusterset.local.", qtype: dns.TypeA, result: nodata},
		{qname: "nope.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		// 2.3 ClusterSetIP.
		{qname: "myservice.test.svc.clusterset.local.", qtype: dns.TypeA, result: success,
			answer: []string{"myservice.test.svc.clusterset.local. 30 IN A 10.42.42.42"}, keys: []string{myKey}},
		{qname: "MyService.Test.svc.ClusterSet.Local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"MyService.Test.svc.ClusterSet.Local. 30 IN AAAA 2001:db8::1"}},
		{qname: "myservice.test.svc.clusterset.local.", qtype: dns.TypeTXT, result: nodata},
		{qname: "_https._tcp.myservice.test.svc.clusterset.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_https._tcp.myservice.test.svc.clusterset.local. 30 IN SRV 0 100 443 myservice.test.svc.clusterset.local."},
			extra: []string{"myservice.test.svc.clusterset.local. 30 IN A 10.42.42.42",
				"myservice.test.svc.clusterset.local. 30 IN AAAA 2001:db8::1"}},
		{qname: "_https._tcp.myservice.test.svc.clusterset.local.", qtype: dns.TypeA, result: nodata},
		{qname: "_http._tcp.myservice.test.svc.clusterset.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "_https._udp.myservice.test.svc.clusterset.local.", qtype: dns.TypeSRV, result: nxdomain},
		// 2.3.4: no name picks one cluster of a ClusterSetIP service.
		{qname: "clustera.myservice.test.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "my-pet-1.clustera.myservice.test.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		// 2.4 Headless: every ready address of every cluster.
		{qname: hl, qtype: dns.TypeA, result: success, answer: []string{
			hl + " 30 IN A 10.3.0.100", hl + " 30 IN A 10.3.0.101", hl + " 30 IN A 10.4.0.100"}, keys: []string{hlKey}},
		{qname: hl, qtype: dns.TypeAAAA, result: success, answer: []string{hl + " 30 IN AAAA 2001:db8::3"}},
		{qname: "my-pet-1.clusterA." + hl, qtype: dns.TypeA, result: success,
			answer: []string{"my-pet-1.clusterA." + hl + " 30 IN A 10.3.0.100"}},
		{qname: "my-pet-1.clusterb." + hl, qtype: dns.TypeA, result: success,
			answer: []string{"my-pet-1.clusterb." + hl + " 30 IN A 10.4.0.100"}},
		{qname: "my-pet-2.clusterb." + hl, qtype: dns.TypeAAAA, result: success,
			answer: []string{"my-pet-2.clusterb." + hl + " 30 IN AAAA 2001:db8::3"}},
		{qname: "my-pet-2.clusterb." + hl, qtype: dns.TypeA, result: nodata},
		{qname: "10-3-0-101.clustera." + hl, qtype: dns.TypeA, result: success,
			answer: []string{"10-3-0-101.clustera." + hl + " 30 IN A 10.3.0.101"}},
		{qname: "my-pet-1.clustera." + hl, qtype: dns.TypeSRV, result: success,
			answer: []string{"my-pet-1.clustera." + hl + " 30 IN SRV 0 100 443 my-pet-1.clustera." + hl},
			extra:  []string{"my-pet-1.clustera." + hl + " 30 IN A 10.3.0.100"}},
		{qname: "my-pet-3.clustera." + hl, qtype: dns.TypeA, result: nxdomain}, // not ready
		{qname: "my-pet-2.clustera." + hl, qtype: dns.TypeAAAA, result: nxdomain},
		// 2.4.4: the cluster label is an empty non-terminal, never a record.
		{qname: "clustera." + hl, qtype: dns.TypeA, result: nodata},
		{qname: "clusterc." + hl, qtype: dns.TypeA, result: nxdomain},
		{qname: "_https._tcp." + hl, qtype: dns.TypeSRV, result: success, answer: []string{
			"_https._tcp." + hl + " 30 IN SRV 0 25 443 my-pet-1.clustera." + hl,
			"_https._tcp." + hl + " 30 IN SRV 0 25 443 10-3-0-101.clustera." + hl,
			"_https._tcp." + hl + " 30 IN SRV 0 25 443 my-pet-1.clusterb." + hl,
			"_https._tcp." + hl + " 30 IN SRV 0 25 443 my-pet-2.clusterb." + hl,
		}, extra: []string{
			"my-pet-1.clustera." + hl + " 30 IN A 10.3.0.100",
			"10-3-0-101.clustera." + hl + " 30 IN A 10.3.0.101",
			"my-pet-1.clusterb." + hl + " 30 IN A 10.4.0.100",
			"my-pet-2.clusterb." + hl + " 30 IN AAAA 2001:db8::3",
		}},
		{qname: "empty.test.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "down.clustera.empty.test.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		// PTR where the cluster zone has none.
		{qname: "42.42.42.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"42.42.42.10.in-addr.arpa. 30 IN PTR myservice.test.svc.clusterset.local."}},
		{qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 30 IN PTR myservice.test.svc.clusterset.local."}},
		{qname: "100.0.3.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"100.0.3.10.in-addr.arpa. 30 IN PTR my-pet-1.clustera." + hl}},
		{qname: "101.0.3.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"101.0.3.10.in-addr.arpa. 30 IN PTR 10-3-0-101.clustera." + hl}},
		{qname: "102.0.3.10.in-addr.arpa.", qtype: dns.TypePTR, result: notAuth}, // not ready
		// The cluster-local PTR wins (the specification's limitation).
		{qname: "43.42.42.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"43.42.42.10.in-addr.arpa. 30 IN PTR local.test.svc.cluster.local."}},
		// Missing and malformed names: NXDOMAIN with the zone's SOA.
		{qname: "missing.test.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain,
			keys: []string{kubeindex.ImportKey("test", "missing"), kubeindex.NamespaceKey("test")}},
		{qname: "missing.other.svc.clusterset.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "10-0-0-1.test.pod.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "a.b.my-pet-1.clustera." + hl, qtype: dns.TypeA, result: nxdomain},
		{qname: "other.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
		// The cluster zone is unchanged.
		{qname: "local.test.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"local.test.svc.cluster.local. 30 IN A 10.42.42.43"}},
	})
}

// Off by default: the clusterset zone is not the record service's, nor are
// the clusterset's reverse names.
func TestAnswerClustersetOff(t *testing.T) {
	s := mustSchema(t, Config{})
	store := setStore()
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"myservice.test.svc.clusterset.local.", dns.TypeA},
		{"dns-version.clusterset.local.", dns.TypeTXT},
		{"42.42.42.10.in-addr.arpa.", dns.TypePTR},
		{"100.0.3.10.in-addr.arpa.", dns.TypePTR},
	} {
		resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: q.name, Qtype: uint32(q.qtype)})
		if resp.GetResult() != notAuth {
			t.Errorf("%s: result %v, want %v", q.name, resp.GetResult(), notAuth)
		}
	}
	if s.MulticlusterZone() != "" {
		t.Errorf("MulticlusterZone() = %q, want empty", s.MulticlusterZone())
	}
}

// A Store without ServiceImports has an empty clusterset zone.
func TestAnswerClustersetWithoutImportStore(t *testing.T) {
	s := mustSchema(t, Config{MulticlusterZone: "clusterset.local."})
	store := newFakeStore(1700000000)
	store.addNamespace("test")
	runAnswerCases(t, s, store, "clusterset.local. 30 IN SOA ns.dns.clusterset.local. hostmaster.clusterset.local. 1700000000 7200 1800 86400 30",
		[]answerCase{
			{qname: "myservice.test.svc.clusterset.local.", qtype: dns.TypeA, result: nxdomain},
			{qname: "test.svc.clusterset.local.", qtype: dns.TypeA, result: nodata},
		})
	if s.MulticlusterZone() != "clusterset.local." {
		t.Errorf("MulticlusterZone() = %q", s.MulticlusterZone())
	}
}

func TestMulticlusterZoneConfig(t *testing.T) {
	cases := []struct {
		cluster, set string
		ok           bool
	}{
		{"cluster.local", "clusterset.local", true},
		{"cluster.local", "ClusterSet.Local.", true},
		{"cluster.local", "cluster.local", false},
		{"cluster.local", "x.cluster.local", false},
		{"cluster.local", "local", false},
		{"cluster.local", "in-addr.arpa", false},
		{"cluster.local", "bad..name", false},
	}
	for _, tc := range cases {
		_, err := New(Config{Zone: tc.cluster, MulticlusterZone: tc.set})
		if (err == nil) != tc.ok {
			t.Errorf("New(zone %q, multicluster %q) = %v, want ok %v", tc.cluster, tc.set, err, tc.ok)
		}
	}
}

func TestParseClusterset(t *testing.T) {
	s := mustSchema(t, Config{MulticlusterZone: "clusterset.local"})
	cases := []struct {
		qname string
		want  Name
		err   bool
	}{
		{"clusterset.local.", Name{Kind: KindApex, Set: true}, false},
		{"svc.clusterset.local", Name{Kind: KindServiceRoot, Set: true}, false},
		{"a.b.svc.clusterset.local.", Name{Kind: KindService, Namespace: "b", Service: "a", Set: true}, false},
		{"C.a.b.svc.clusterset.local.", Name{Kind: KindCluster, Namespace: "b", Service: "a", Cluster: "c", Set: true}, false},
		{"h.c.a.b.svc.clusterset.local.", Name{Kind: KindEndpoint, Namespace: "b", Service: "a", Endpoint: "h", Cluster: "c", Set: true}, false},
		{"_p._tcp.a.b.svc.clusterset.local.", Name{Kind: KindPort, Namespace: "b", Service: "a", Port: "p", Protocol: "tcp", Set: true}, false},
		{"_p.c.a.b.svc.clusterset.local.", Name{}, true},
		{"x.h.c.a.b.svc.clusterset.local.", Name{}, true},
		{"pod.clusterset.local.", Name{}, true},
		{"a.b.svc.cluster.local.", Name{Kind: KindService, Namespace: "b", Service: "a"}, false},
	}
	for _, tc := range cases {
		got, err := s.parse(tc.qname)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parse(%q) = %+v, %v; want %+v, error %v", tc.qname, got, err, tc.want, tc.err)
		}
	}
}
