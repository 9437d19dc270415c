package visibility

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// fixedSerial pins the SOA serial, so the answers of two indexes built a
// moment apart compare equal.
type fixedSerial struct{ *kubeindex.Index }

func (fixedSerial) Serial() uint32 { return 1700000000 }

func mustAddrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// clustersetIndex holds ServiceImports in namespaces team, shared and,
// with other, other (a ClusterSetIP import db and a Headless import hl
// with one ready endpoint pet-1 in clusterA). Without other it is the
// cluster where namespace other does not exist.
func clustersetIndex(other bool) fixedSerial {
	ix := kubeindex.New(kubeindex.Config{StartRevision: 1})
	https := []kubeindex.Port{{Name: "https", Protocol: "tcp", Port: 443}}
	for _, ns := range []string{"kube-system", "team", "shared"} {
		ix.SetNamespace(ns)
	}
	ix.SetService(kubeindex.Service{Namespace: "kube-system", Name: "kube-dns", Type: "ClusterIP", ClusterIPs: mustAddrs("10.96.0.10")})
	ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "team", Name: "own", IPs: mustAddrs("10.42.0.1"), Ports: https})
	ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "shared", Name: "api", IPs: mustAddrs("10.42.0.3"), Ports: https})
	if other {
		ix.SetNamespace("other")
		ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "other", Name: "db", IPs: mustAddrs("10.42.0.2"), Ports: https})
		ix.SetServiceImport(kubeindex.ServiceImport{Namespace: "other", Name: "hl", Headless: true, Ports: https})
		ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "other", Name: "hl-a", MultiClusterService: "hl", ClusterID: "clusterA",
			Endpoints: []kubeindex.Endpoint{{Hostname: "pet-1", Ready: true, Serving: true, Addresses: mustAddrs("10.3.0.1"), Ports: https}}})
	}
	ix.MarkSynced()
	return fixedSerial{ix}
}

// TestStoreClusterset answers clusterset.local questions through the view
// of a pod of team, which may see team and shared but not other: every
// name of other must get exactly the answer of a cluster without other
// (result, records, clusterset SOA, TTL), although an open client gets
// something else, and the Store must say it hid something. Names the view
// shows answer as for an open client.
func TestStoreClusterset(t *testing.T) {
	schema, err := dnsschema.New(dnsschema.Config{MulticlusterZone: "clusterset.local"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse([]byte("rules:\n- from: [team]\n  to: [shared, kube-system]\n"))
	if err != nil {
		t.Fatal(err)
	}
	full, without := clustersetIndex(true), clustersetIndex(false)
	restricted := p.ForNamespace("team")
	const (
		nx      = clusterdnsv1.Result_RESULT_NAME_ERROR
		nodata  = clusterdnsv1.Result_RESULT_NO_DATA
		success = clusterdnsv1.Result_RESULT_SUCCESS
		hl      = "hl.other.svc.clusterset.local."
	)
	tests := []struct {
		qname string
		qtype uint16
		open  clusterdnsv1.Result // what an open client gets
		want  clusterdnsv1.Result // what the pod of team gets
		hid   bool
	}{
		{"db.other.svc.clusterset.local.", dns.TypeA, success, nx, true},
		{"DB.Other.svc.ClusterSet.Local.", dns.TypeA, success, nx, true},
		{"db.other.svc.clusterset.local.", dns.TypeAAAA, nodata, nx, true}, // NXDOMAIN, not NODATA: no hint it exists
		{"db.other.svc.clusterset.local.", dns.TypeTXT, nodata, nx, true},
		{"_https._tcp.db.other.svc.clusterset.local.", dns.TypeSRV, success, nx, true},
		{"_https._tcp.db.other.svc.clusterset.local.", dns.TypeA, nodata, nx, true},
		{"db.other.svc.clusterset.local.", dns.TypeSRV, success, nx, true},
		{hl, dns.TypeA, success, nx, true},
		{hl, dns.TypeSRV, success, nx, true},
		{"pet-1.clustera." + hl, dns.TypeA, success, nx, true},
		{"clustera." + hl, dns.TypeA, nodata, nx, true}, // the empty non-terminal too
		{"_https._tcp." + hl, dns.TypeSRV, success, nx, true},
		{"other.svc.clusterset.local.", dns.TypeA, nodata, nx, true},
		{"x.db.other.svc.clusterset.local.", dns.TypeA, nx, nx, true},
		// PTR of a clusterset IP and of a headless import's endpoint.
		{"2.0.42.10.in-addr.arpa.", dns.TypePTR, success, 0, true},
		{"1.0.3.10.in-addr.arpa.", dns.TypePTR, success, 0, true},
		// What the view shows.
		{"own.team.svc.clusterset.local.", dns.TypeA, success, success, false},
		{"own.team.svc.clusterset.local.", dns.TypeAAAA, nodata, nodata, false},
		{"_https._tcp.own.team.svc.clusterset.local.", dns.TypeSRV, success, success, false},
		{"api.shared.svc.clusterset.local.", dns.TypeA, success, success, false},
		{"team.svc.clusterset.local.", dns.TypeA, nodata, nodata, false},
		{"missing.team.svc.clusterset.local.", dns.TypeA, nx, nx, false},
		{"1.0.42.10.in-addr.arpa.", dns.TypePTR, success, success, false},
		{"dns-version.clusterset.local.", dns.TypeTXT, success, success, false},
		{"nowhere.svc.clusterset.local.", dns.TypeA, nx, nx, true}, // hidden as well as missing, as in cluster.local
	}
	for _, tt := range tests {
		t.Run(tt.qname+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			req := &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: uint32(tt.qtype)}
			open := schema.Answer(NewStore(full, View{}), req)
			if open.GetResult() != tt.open {
				t.Fatalf("open client: %v, want %v", open.GetResult(), tt.open)
			}
			st := NewStore(full, restricted)
			got := schema.Answer(st, req)
			missing := schema.Answer(NewStore(without, View{}), req)
			if tt.want != 0 && got.GetResult() != tt.want {
				t.Errorf("pod of team: %v, want %v", got.GetResult(), tt.want)
			}
			reference := missing
			if !tt.hid {
				reference = open
			}
			if !sameAnswer(got, reference) {
				t.Errorf("pod of team got\n%v\nwant (as %s)\n%v", got, map[bool]string{true: "without namespace other", false: "an open client"}[tt.hid], reference)
			}
			if st.Hid() != tt.hid {
				t.Errorf("Hid() = %v, want %v", st.Hid(), tt.hid)
			}
			if got.GetResult() == nx && len(got.GetAuthority()) > 0 && tt.qtype != dns.TypePTR {
				soa := got.GetAuthority()[0].GetSoa()
				if got.GetAuthority()[0].GetName() != "clusterset.local." || soa.GetMname() != "ns.dns.clusterset.local." {
					t.Errorf("authority %v, want the clusterset SOA", got.GetAuthority())
				}
			}
		})
	}
}

// TestStoreImportsOpenKeys checks what the record server reads to mark an
// open client's answer client_specific: the answer about an import of a
// namespace some client cannot see names it by its import key (of the
// Service key form, svc/<ns>/...), which the policy reports as hidden
// from some; an import every client sees is not.
func TestStoreImportsOpenKeys(t *testing.T) {
	schema, err := dnsschema.New(dnsschema.Config{MulticlusterZone: "clusterset.local"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse([]byte("rules:\n- from: [team]\n  to: [shared, kube-system]\n"))
	if err != nil {
		t.Fatal(err)
	}
	full := clustersetIndex(true)
	for _, tt := range []struct {
		qname, ns, name string
		qtype           uint16
		hidden          bool
	}{
		{"db.other.svc.clusterset.local.", "other", "db", dns.TypeA, true},
		{"2.0.42.10.in-addr.arpa.", "other", "db", dns.TypePTR, true},
		{"api.shared.svc.clusterset.local.", "shared", "api", dns.TypeA, false},
	} {
		resp := schema.Answer(NewStore(full, View{}), &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: uint32(tt.qtype)})
		if !slices.Contains(resp.GetKeys(), kubeindex.ImportKey(tt.ns, tt.name)) {
			t.Errorf("%s: keys %v lack %s", tt.qname, resp.GetKeys(), kubeindex.ImportKey(tt.ns, tt.name))
		}
		if got := p.HiddenFromSome(tt.ns); got != tt.hidden {
			t.Errorf("%s: HiddenFromSome(%s) = %v, want %v", tt.qname, tt.ns, got, tt.hidden)
		}
	}
}

// TestStoreWithoutImports wraps a store that holds no ServiceImports: the
// view holds none either, whatever it allows.
func TestStoreWithoutImports(t *testing.T) {
	st := NewStore(plainStore{clustersetIndex(true)}, View{})
	if _, ok := st.ServiceImport("other", "db"); ok {
		t.Error("ServiceImport found through a store without imports")
	}
	if eps := st.ImportEndpoints("other", "hl"); eps != nil {
		t.Errorf("ImportEndpoints = %v, want none", eps)
	}
	if refs := st.ImportsByIP(netip.MustParseAddr("10.42.0.2")); refs != nil {
		t.Errorf("ImportsByIP = %v, want none", refs)
	}
}

// plainStore is a SerialStore without the import methods.
type plainStore struct{ inner fixedSerial }

func (s plainStore) Synced() bool                             { return s.inner.Synced() }
func (s plainStore) Revision() uint64                         { return s.inner.Revision() }
func (s plainStore) Serial() uint32                           { return s.inner.Serial() }
func (s plainStore) NamespaceExists(ns string) bool           { return s.inner.NamespaceExists(ns) }
func (s plainStore) PodNamespacesByIP(ip netip.Addr) []string { return s.inner.PodNamespacesByIP(ip) }
func (s plainStore) Service(ns, name string) (kubeindex.Service, bool) {
	return s.inner.Service(ns, name)
}
func (s plainStore) Endpoints(ns, svc string) []kubeindex.Endpoint { return s.inner.Endpoints(ns, svc) }
func (s plainStore) ServicesByClusterIP(ip netip.Addr) []kubeindex.Service {
	return s.inner.ServicesByClusterIP(ip)
}
func (s plainStore) EndpointsByIP(ip netip.Addr) []kubeindex.EndpointRef {
	return s.inner.EndpointsByIP(ip)
}

// sameAnswer compares what a DNS client sees of two answers.
func sameAnswer(a, b *clusterdnsv1.LookupResponse) bool {
	return a.GetResult() == b.GetResult() && a.GetTtl() == b.GetTtl() && a.GetTruncated() == b.GetTruncated() &&
		sameRecords(a.GetAnswer(), b.GetAnswer()) && sameRecords(a.GetAuthority(), b.GetAuthority()) &&
		sameRecords(a.GetAdditional(), b.GetAdditional())
}

func sameRecords(a, b []*clusterdnsv1.ResourceRecord) bool {
	return slices.EqualFunc(a, b, func(x, y *clusterdnsv1.ResourceRecord) bool { return proto.Equal(x, y) })
}

// TestStoreSendsNoDirectory checks that answers through a view carry no
// absent_below, where the index's own answer has one: the Store is no
// DirectoryStore (see its comment).
func TestStoreSendsNoDirectory(t *testing.T) {
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	full := clustersetIndex(true)
	req := &clusterdnsv1.LookupRequest{Name: "nope.team.svc.cluster.local.", Qtype: uint32(dns.TypeA), AcceptAbsentBelow: true}
	if resp := schema.Answer(full, req); resp.GetAbsentBelow() == nil {
		t.Fatalf("the index's own NXDOMAIN has no absent_below: %v", resp)
	}
	st := NewStore(full, View{})
	if _, ok := any(st).(dnsschema.DirectoryStore); ok {
		t.Error("Store is a DirectoryStore")
	}
	if resp := schema.Answer(st, req); resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR || resp.GetAbsentBelow() != nil {
		t.Errorf("through the view: %v absent_below %v; want NXDOMAIN without", resp.GetResult(), resp.GetAbsentBelow())
	}
}
