package dnsschema

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

const (
	success  = clusterdnsv1.Result_RESULT_SUCCESS
	nodata   = clusterdnsv1.Result_RESULT_NO_DATA
	nxdomain = clusterdnsv1.Result_RESULT_NAME_ERROR
	notReady = clusterdnsv1.Result_RESULT_NOT_READY
	notAuth  = clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE
)

// soaLine is the authority record of negative answers on clusterStore with
// the default Config.
const soaLine = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 30"

// answerCase is one question and its expected response. Records are in
// presentation format and compared as sets, TTLs included. For negative
// results the zone SOA is expected in authority; the response TTL is
// checked against the records (or the negative TTL). keys, when not nil, must
// equal the response keys as a set.
type answerCase struct {
	qname  string
	qtype  uint16
	result clusterdnsv1.Result
	answer []string
	extra  []string
	keys   []string
}

func mustSchema(t *testing.T, cfg Config) *Schema {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return s
}

func runAnswerCases(t *testing.T, s *Schema, store Store, soa string, cases []answerCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s", tc.qname, dns.TypeToString[tc.qtype]), func(t *testing.T) {
			resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: tc.qname, Qtype: uint32(tc.qtype)})
			checkResponse(t, s, resp, soa, tc)
		})
	}
}

func checkResponse(t *testing.T, s *Schema, resp *clusterdnsv1.LookupResponse, soa string, tc answerCase) {
	t.Helper()
	if resp.GetResult() != tc.result {
		t.Errorf("result %v; want %v (answer %v)", resp.GetResult(), tc.result, rrStrings(t, resp.GetAnswer()))
	}
	if resp.GetServerId() != "" {
		t.Errorf("server_id %q; want empty", resp.GetServerId())
	}
	compareRRs(t, "answer", rrStrings(t, resp.GetAnswer()), canonical(t, tc.answer))
	compareRRs(t, "additional", rrStrings(t, resp.GetAdditional()), canonical(t, tc.extra))
	var wantAuth []string
	wantTTL := uint32(0)
	switch tc.result {
	case nodata, nxdomain:
		wantAuth = canonical(t, []string{soa})
		wantTTL = s.negativeTTL()
	case success:
		first := true
		for _, line := range append(slices.Clone(tc.answer), tc.extra...) {
			rr, err := dns.NewRR(line)
			if err != nil {
				t.Fatalf("bad expected record %q: %v", line, err)
			}
			if first || rr.Header().Ttl < wantTTL {
				wantTTL = rr.Header().Ttl
				first = false
			}
		}
	}
	compareRRs(t, "authority", rrStrings(t, resp.GetAuthority()), wantAuth)
	if resp.GetTtl() != wantTTL {
		t.Errorf("ttl %d; want %d", resp.GetTtl(), wantTTL)
	}
	if tc.keys != nil {
		got := slices.Sorted(slices.Values(resp.GetKeys()))
		want := slices.Sorted(slices.Values(tc.keys))
		if !slices.Equal(got, want) {
			t.Errorf("keys %q; want %q", got, want)
		}
	}
	if len(resp.GetKeys()) != len(slices.Compact(slices.Sorted(slices.Values(resp.GetKeys())))) {
		t.Errorf("duplicate keys %q", resp.GetKeys())
	}
}

func compareRRs(t *testing.T, section string, got, want []string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", section, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// canonical rewrites presentation-format records through miekg/dns so that
// spacing does not matter.
func canonical(t *testing.T, lines []string) []string {
	t.Helper()
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		rr, err := dns.NewRR(line)
		if err != nil || rr == nil {
			t.Fatalf("bad expected record %q: %v", line, err)
		}
		out = append(out, rr.String())
	}
	return out
}

// rrStrings converts proto records to miekg/dns presentation format.
func rrStrings(t *testing.T, rrs []*clusterdnsv1.ResourceRecord) []string {
	t.Helper()
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, toRR(t, rr).String())
	}
	return out
}

func toRR(t *testing.T, rr *clusterdnsv1.ResourceRecord) dns.RR {
	t.Helper()
	hdr := dns.RR_Header{Name: rr.GetName(), Class: dns.ClassINET, Ttl: rr.GetTtl()}
	if !dns.IsFqdn(hdr.Name) {
		t.Errorf("owner %q not fully qualified", hdr.Name)
	}
	target := func(s string) string {
		if !dns.IsFqdn(s) {
			t.Errorf("target %q not fully qualified", s)
		}
		return s
	}
	switch d := rr.GetData().(type) {
	case *clusterdnsv1.ResourceRecord_A:
		hdr.Rrtype = dns.TypeA
		ip := net.ParseIP(d.A.GetAddress())
		if ip == nil || ip.To4() == nil {
			t.Errorf("bad A address %q", d.A.GetAddress())
		}
		return &dns.A{Hdr: hdr, A: ip}
	case *clusterdnsv1.ResourceRecord_Aaaa:
		hdr.Rrtype = dns.TypeAAAA
		a, err := netip.ParseAddr(d.Aaaa.GetAddress())
		if err != nil || !a.Is6() || a.Is4In6() || a.String() != d.Aaaa.GetAddress() {
			t.Errorf("bad AAAA address %q", d.Aaaa.GetAddress())
		}
		return &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(d.Aaaa.GetAddress())}
	case *clusterdnsv1.ResourceRecord_Srv:
		hdr.Rrtype = dns.TypeSRV
		return &dns.SRV{Hdr: hdr, Priority: uint16(d.Srv.GetPriority()), Weight: uint16(d.Srv.GetWeight()),
			Port: uint16(d.Srv.GetPort()), Target: target(d.Srv.GetTarget())}
	case *clusterdnsv1.ResourceRecord_Ptr:
		hdr.Rrtype = dns.TypePTR
		return &dns.PTR{Hdr: hdr, Ptr: target(d.Ptr.GetTarget())}
	case *clusterdnsv1.ResourceRecord_Cname:
		hdr.Rrtype = dns.TypeCNAME
		return &dns.CNAME{Hdr: hdr, Target: target(d.Cname.GetTarget())}
	case *clusterdnsv1.ResourceRecord_Txt:
		hdr.Rrtype = dns.TypeTXT
		return &dns.TXT{Hdr: hdr, Txt: d.Txt.GetValues()}
	case *clusterdnsv1.ResourceRecord_Ns:
		hdr.Rrtype = dns.TypeNS
		return &dns.NS{Hdr: hdr, Ns: target(d.Ns.GetTarget())}
	case *clusterdnsv1.ResourceRecord_Soa:
		hdr.Rrtype = dns.TypeSOA
		s := d.Soa
		return &dns.SOA{Hdr: hdr, Ns: target(s.GetMname()), Mbox: target(s.GetRname()), Serial: s.GetSerial(),
			Refresh: s.GetRefresh(), Retry: s.GetRetry(), Expire: s.GetExpire(), Minttl: s.GetMinimum()}
	default:
		t.Fatalf("record %v has no data", rr)
		return nil
	}
}

func TestAnswerZoneInfrastructure(t *testing.T) {
	s := mustSchema(t, Config{})
	nsKey := "svc/kube-system/kube-dns"
	runAnswerCases(t, s, clusterStore(), soaLine, []answerCase{
		{qname: "cluster.local.", qtype: dns.TypeSOA, result: success,
			answer: []string{soaLine}, keys: []string{nsKey}},
		{qname: "Cluster.LOCAL", qtype: dns.TypeSOA, result: success,
			answer: []string{"Cluster.LOCAL. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 30"}},
		{qname: "cluster.local.", qtype: dns.TypeNS, result: success,
			answer: []string{"cluster.local. 30 IN NS ns.dns.cluster.local."},
			extra:  []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10", "ns.dns.cluster.local. 30 IN AAAA fd00:10:96::a"},
			keys:   []string{nsKey}},
		{qname: "CLUSTER.local.", qtype: dns.TypeNS, result: success,
			answer: []string{"CLUSTER.local. 30 IN NS ns.dns.cluster.local."},
			extra:  []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10", "ns.dns.cluster.local. 30 IN AAAA fd00:10:96::a"}},
		{qname: "cluster.local.", qtype: dns.TypeA, result: nodata, keys: []string{nsKey}},
		{qname: "cluster.local.", qtype: dns.TypeAAAA, result: nodata},
		{qname: "cluster.local.", qtype: dns.TypeTXT, result: nodata},
		{qname: "cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "cluster.local.", qtype: dns.TypeANY, result: nodata},
		{qname: "ns.dns.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"ns.dns.cluster.local. 30 IN A 10.96.0.10"}, keys: []string{nsKey}},
		{qname: "NS.dns.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"NS.dns.cluster.local. 30 IN AAAA fd00:10:96::a"}},
		{qname: "ns.dns.cluster.local.", qtype: dns.TypeTXT, result: nodata, keys: []string{}},
		{qname: "ns.dns.cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "dns.cluster.local.", qtype: dns.TypeA, result: nodata, keys: []string{}},
		{qname: "x.dns.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "dns-version.cluster.local.", qtype: dns.TypeTXT, result: success,
			answer: []string{`dns-version.cluster.local. 30 IN TXT "1.1.0"`}, keys: []string{}},
		{qname: "DNS-Version.Cluster.Local", qtype: dns.TypeTXT, result: success,
			answer: []string{`DNS-Version.Cluster.Local. 30 IN TXT "1.1.0"`}},
		{qname: "dns-version.cluster.local.", qtype: dns.TypeA, result: nodata},
		{qname: "dns-version.cluster.local.", qtype: dns.TypeANY, result: nodata},
		{qname: "x.dns-version.cluster.local.", qtype: dns.TypeTXT, result: nxdomain, keys: []string{}},
		{qname: "svc.cluster.local.", qtype: dns.TypeA, result: nodata, keys: []string{}},
		{qname: "svc.cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "svc.cluster.local.", qtype: dns.TypeNS, result: nodata},
		{qname: "svc.cluster.local.", qtype: dns.TypeTXT, result: nodata},
		{qname: "pod.cluster.local.", qtype: dns.TypeA, result: nodata},
		{qname: "foo.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{}},
		{qname: "foo.cluster.local.", qtype: dns.TypeNS, result: nxdomain},
		{qname: "foo.svc.cluster.local.", qtype: dns.TypeNS, result: nxdomain, keys: []string{"ns/foo"}},
		{qname: "testns.svc.cluster.local.", qtype: dns.TypeA, result: nodata, keys: []string{"ns/testns"}},
		{qname: "testns.svc.cluster.local.", qtype: dns.TypeNS, result: nodata},
		{qname: "other.svc.cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "nsnoexist.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{"ns/nsnoexist"}},
		{qname: "testns.pod.cluster.local.", qtype: dns.TypeA, result: nodata, keys: []string{"ns/testns"}},
		{qname: "nsnoexist.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{"ns/nsnoexist"}},
		{qname: "*.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "*.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "*.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "svc4.*.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "_http._tcp.*.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "a.b.c.d.e.f.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "a.b.c.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "example.com.", qtype: dns.TypeA, result: notAuth, keys: []string{}},
		{qname: "cluster.local.example.com.", qtype: dns.TypeA, result: notAuth},
		{qname: "local.", qtype: dns.TypeSOA, result: notAuth},
		{qname: ".", qtype: dns.TypeNS, result: notAuth},
	})
}

func TestAnswerClusterIPServices(t *testing.T) {
	s := mustSchema(t, Config{})
	runAnswerCases(t, s, clusterStore(), soaLine, []answerCase{
		// IPv4-only, IPv6-only and dual-stack.
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"},
			keys:   []string{"svc/default/kubernetes"}},
		{qname: "kubernetes.default.svc.cluster.local", qtype: dns.TypeA, result: success,
			answer: []string{"kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"}},
		{qname: "KUBERNETES.Default.SVC.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"KUBERNETES.Default.SVC.cluster.local. 30 IN A 10.96.0.1"}},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeAAAA, result: nodata,
			keys: []string{"svc/default/kubernetes"}},
		{qname: "svc6.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"svc6.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::6"}},
		{qname: "svc6.testns.svc.cluster.local.", qtype: dns.TypeA, result: nodata},
		{qname: "dual.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"dual.testns.svc.cluster.local. 30 IN A 10.96.1.2"}},
		{qname: "dual.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"dual.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::2"}},
		{qname: "kube-dns.kube-system.svc.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"kube-dns.kube-system.svc.cluster.local. 30 IN AAAA fd00:10:96::a"}},

		// SRV for named ports, with glue.
		{qname: "_https._tcp.kubernetes.default.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_https._tcp.kubernetes.default.svc.cluster.local. 30 IN SRV 0 100 443 kubernetes.default.svc.cluster.local."},
			extra:  []string{"kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"},
			keys:   []string{"svc/default/kubernetes"}},
		{qname: "_http._tcp.dual.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_http._tcp.dual.testns.svc.cluster.local. 30 IN SRV 0 100 80 dual.testns.svc.cluster.local."},
			extra: []string{"dual.testns.svc.cluster.local. 30 IN A 10.96.1.2",
				"dual.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::2"}},
		{qname: "_dns._udp.dual.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_dns._udp.dual.testns.svc.cluster.local. 30 IN SRV 0 100 53 dual.testns.svc.cluster.local."},
			extra: []string{"dual.testns.svc.cluster.local. 30 IN A 10.96.1.2",
				"dual.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::2"}},
		{qname: "_assoc._sctp.svc6.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_assoc._sctp.svc6.testns.svc.cluster.local. 30 IN SRV 0 100 9999 svc6.testns.svc.cluster.local."},
			extra:  []string{"svc6.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::6"}},
		{qname: "_DNS._UDP.Kube-DNS.kube-system.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_DNS._UDP.Kube-DNS.kube-system.svc.cluster.local. 30 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."},
			extra: []string{"kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10",
				"kube-dns.kube-system.svc.cluster.local. 30 IN AAAA fd00:10:96::a"}},
		{qname: "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."},
			extra: []string{"kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10",
				"kube-dns.kube-system.svc.cluster.local. 30 IN AAAA fd00:10:96::a"}},
		// Bare-name SRV: every port, unnamed included; same port once.
		{qname: "svc4.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"svc4.testns.svc.cluster.local. 30 IN SRV 0 50 80 svc4.testns.svc.cluster.local.",
				"svc4.testns.svc.cluster.local. 30 IN SRV 0 50 8080 svc4.testns.svc.cluster.local."},
			extra: []string{"svc4.testns.svc.cluster.local. 30 IN A 10.96.1.4"}},
		{qname: "kube-dns.kube-system.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 50 53 kube-dns.kube-system.svc.cluster.local.",
				"kube-dns.kube-system.svc.cluster.local. 30 IN SRV 0 50 9153 kube-dns.kube-system.svc.cluster.local."},
			extra: []string{"kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10",
				"kube-dns.kube-system.svc.cluster.local. 30 IN AAAA fd00:10:96::a"}},
		{qname: "dual.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"dual.testns.svc.cluster.local. 30 IN SRV 0 50 80 dual.testns.svc.cluster.local.",
				"dual.testns.svc.cluster.local. 30 IN SRV 0 50 53 dual.testns.svc.cluster.local."},
			extra: []string{"dual.testns.svc.cluster.local. 30 IN A 10.96.1.2",
				"dual.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::2"}},

		// Missing ports, protocols, services and namespaces.
		{qname: "_http._udp.svc4.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain,
			keys: []string{"svc/testns/svc4"}},
		{qname: "_nope._tcp.svc4.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "_http._quic.svc4.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "http.tcp.svc4.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain, keys: []string{}},
		{qname: "_http._tcp.svc4.testns.svc.cluster.local.", qtype: dns.TypeA, result: nodata},
		{qname: "_http._tcp.svc4.testns.svc.cluster.local.", qtype: dns.TypeTXT, result: nodata},
		{qname: "_http._tcp.missing.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain,
			keys: []string{"svc/testns/missing", "ns/testns"}},
		{qname: "missing.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			keys: []string{"svc/testns/missing", "ns/testns"}},
		{qname: "missing.testns.svc.cluster.local.", qtype: dns.TypeTXT, result: nxdomain},
		{qname: "missing.testns.svc.cluster.local.", qtype: dns.TypeSOA, result: nxdomain},
		{qname: "svc0.nsnoexist.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			keys: []string{"svc/nsnoexist/svc0", "ns/nsnoexist"}},
		{qname: "kubernetes.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},

		// Existing name, type it lacks: NODATA.
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeTXT, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeCNAME, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypePTR, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeMX, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeSOA, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeNS, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeANY, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeHINFO, result: nodata},

		// Per-endpoint names of a ClusterIP service (ready endpoints only).
		{qname: "10-244-1-1.svc4.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"10-244-1-1.svc4.testns.svc.cluster.local. 30 IN A 10.244.1.1"},
			keys:   []string{"svc/testns/svc4"}},
		{qname: "10-244-1-1.svc4.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: nodata},
		{qname: "10-244-1-1.svc4.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: success,
			answer: []string{"10-244-1-1.svc4.testns.svc.cluster.local. 30 IN SRV 0 100 8080 10-244-1-1.svc4.testns.svc.cluster.local."},
			extra:  []string{"10-244-1-1.svc4.testns.svc.cluster.local. 30 IN A 10.244.1.1"}},
		{qname: "10-244-1-2.svc4.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "10-244-1-9.svc4.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "10-244-1-1.svc6.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
	})
}

func TestAnswerHeadlessServices(t *testing.T) {
	s := mustSchema(t, Config{})
	const h = "headless.testns.svc.cluster.local."
	runAnswerCases(t, s, clusterStore(), soaLine, []answerCase{
		// Every ready address across slices, duplicates removed.
		{qname: h, qtype: dns.TypeA, result: success, answer: []string{
			h + " 30 IN A 10.244.2.1", h + " 30 IN A 10.244.2.2", h + " 30 IN A 10.244.2.4", h + " 30 IN A 10.244.2.5"},
			keys: []string{"svc/testns/headless"}},
		{qname: h, qtype: dns.TypeAAAA, result: success, answer: []string{
			h + " 30 IN AAAA fd00:10:244::1", h + " 30 IN AAAA fd00:10:244::2"}},
		{qname: "HEADLESS.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: success, answer: []string{
			"HEADLESS.testns.svc.cluster.local. 30 IN AAAA fd00:10:244::1", "HEADLESS.testns.svc.cluster.local. 30 IN AAAA fd00:10:244::2"}},
		{qname: h, qtype: dns.TypeTXT, result: nodata},
		{qname: h, qtype: dns.TypeCNAME, result: nodata},
		{qname: h, qtype: dns.TypeANY, result: nodata},

		// Per-endpoint names: hostname, else dashed IP; several addresses
		// under one hostname.
		{qname: "web-0." + h, qtype: dns.TypeA, result: success, answer: []string{"web-0." + h + " 30 IN A 10.244.2.1"}},
		{qname: "web-0." + h, qtype: dns.TypeAAAA, result: success, answer: []string{"web-0." + h + " 30 IN AAAA fd00:10:244::1"}},
		{qname: "WEB-0.Headless.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"WEB-0.Headless.testns.svc.cluster.local. 30 IN A 10.244.2.1"}},
		{qname: "dup." + h, qtype: dns.TypeA, result: success, answer: []string{
			"dup." + h + " 30 IN A 10.244.2.4", "dup." + h + " 30 IN A 10.244.2.5"}},
		{qname: "dup." + h, qtype: dns.TypeAAAA, result: nodata},
		{qname: "10-244-2-2." + h, qtype: dns.TypeA, result: success, answer: []string{"10-244-2-2." + h + " 30 IN A 10.244.2.2"}},
		{qname: "fd00-10-244--2." + h, qtype: dns.TypeAAAA, result: success,
			answer: []string{"fd00-10-244--2." + h + " 30 IN AAAA fd00:10:244::2"}},
		{qname: "FD00-10-244--2." + h, qtype: dns.TypeAAAA, result: success,
			answer: []string{"FD00-10-244--2." + h + " 30 IN AAAA fd00:10:244::2"}},
		{qname: "fd00-10-244-0-0-0-0-2." + h, qtype: dns.TypeAAAA, result: nxdomain},
		{qname: "10-244-2-1." + h, qtype: dns.TypeA, result: nxdomain}, // named web-0
		{qname: "web-2." + h, qtype: dns.TypeA, result: nxdomain},      // not ready
		{qname: "10-244-2-3." + h, qtype: dns.TypeA, result: nxdomain},
		{qname: "nobody." + h, qtype: dns.TypeA, result: nxdomain, keys: []string{"svc/testns/headless"}},
		{qname: "web-0." + h, qtype: dns.TypeTXT, result: nodata},
		{qname: "web-0." + h, qtype: dns.TypeSRV, result: success,
			answer: []string{"web-0." + h + " 30 IN SRV 0 50 80 web-0." + h, "web-0." + h + " 30 IN SRV 0 50 8080 web-0." + h},
			extra:  []string{"web-0." + h + " 30 IN A 10.244.2.1", "web-0." + h + " 30 IN AAAA fd00:10:244::1"}},
		{qname: "x.web-0." + h, qtype: dns.TypeA, result: nxdomain},

		// SRV: N endpoints x M named ports targeting endpoint names, glue.
		{qname: "_http._tcp." + h, qtype: dns.TypeSRV, result: success, answer: []string{
			"_http._tcp." + h + " 30 IN SRV 0 25 80 web-0." + h,
			"_http._tcp." + h + " 30 IN SRV 0 25 80 10-244-2-2." + h,
			"_http._tcp." + h + " 30 IN SRV 0 25 80 dup." + h,
			"_http._tcp." + h + " 30 IN SRV 0 25 80 fd00-10-244--2." + h,
		}, extra: []string{
			"web-0." + h + " 30 IN A 10.244.2.1",
			"web-0." + h + " 30 IN AAAA fd00:10:244::1",
			"10-244-2-2." + h + " 30 IN A 10.244.2.2",
			"dup." + h + " 30 IN A 10.244.2.4",
			"dup." + h + " 30 IN A 10.244.2.5",
			"fd00-10-244--2." + h + " 30 IN AAAA fd00:10:244::2",
		}, keys: []string{"svc/testns/headless"}},
		{qname: "_http._tcp." + h, qtype: dns.TypeA, result: nodata},
		{qname: "_http._udp." + h, qtype: dns.TypeSRV, result: nxdomain},
		{qname: "_https._tcp." + h, qtype: dns.TypeSRV, result: nxdomain},
		{qname: "_http._tcp.web-0." + h, qtype: dns.TypeSRV, result: nxdomain},
		// Bare-name SRV: every port of every ready endpoint.
		{qname: h, qtype: dns.TypeSRV, result: success, answer: []string{
			h + " 30 IN SRV 0 14 80 web-0." + h,
			h + " 30 IN SRV 0 14 8080 web-0." + h,
			h + " 30 IN SRV 0 14 80 10-244-2-2." + h,
			h + " 30 IN SRV 0 14 8080 10-244-2-2." + h,
			h + " 30 IN SRV 0 14 80 dup." + h,
			h + " 30 IN SRV 0 14 8080 dup." + h,
			h + " 30 IN SRV 0 14 80 fd00-10-244--2." + h,
		}, extra: []string{
			"web-0." + h + " 30 IN A 10.244.2.1",
			"web-0." + h + " 30 IN AAAA fd00:10:244::1",
			"10-244-2-2." + h + " 30 IN A 10.244.2.2",
			"dup." + h + " 30 IN A 10.244.2.4",
			"dup." + h + " 30 IN A 10.244.2.5",
			"fd00-10-244--2." + h + " 30 IN AAAA fd00:10:244::2",
		}},

		// No ready endpoint: NXDOMAIN whatever the type.
		{qname: "notready.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{"svc/testns/notready"}},
		{qname: "notready.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: nxdomain},
		{qname: "notready.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "notready.testns.svc.cluster.local.", qtype: dns.TypeTXT, result: nxdomain},
		{qname: "_http._tcp.notready.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
		{qname: "nr.notready.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "noeps.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},

		// Endpoints without ports answer A, but no SRV.
		{qname: "portless.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"portless.testns.svc.cluster.local. 30 IN A 10.244.3.1"}},
		{qname: "portless.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "10-244-3-1.portless.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"10-244-3-1.portless.testns.svc.cluster.local. 30 IN A 10.244.3.1"}},
		{qname: "10-244-3-1.portless.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "_http._tcp.portless.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
	})
}

func TestAnswerExternalNames(t *testing.T) {
	s := mustSchema(t, Config{})
	const ext = "ext.testns.svc.cluster.local."
	kube := "kubernetes.default.svc.cluster.local."
	runAnswerCases(t, s, clusterStore(), soaLine, []answerCase{
		// Out-of-zone target: the CNAME alone.
		{qname: ext, qtype: dns.TypeA, result: success, answer: []string{ext + " 30 IN CNAME www.example.com."},
			keys: []string{"svc/testns/ext"}},
		{qname: ext, qtype: dns.TypeAAAA, result: success, answer: []string{ext + " 30 IN CNAME www.example.com."}},
		{qname: ext, qtype: dns.TypeCNAME, result: success, answer: []string{ext + " 30 IN CNAME www.example.com."}},
		{qname: "EXT.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"EXT.testns.svc.cluster.local. 30 IN CNAME www.example.com."}},
		{qname: "ext-dot.testns.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"ext-dot.testns.svc.cluster.local. 30 IN CNAME www.example.com."}},
		{qname: ext, qtype: dns.TypeSRV, result: nodata},
		{qname: ext, qtype: dns.TypeTXT, result: nodata},
		{qname: ext, qtype: dns.TypeMX, result: nodata},
		{qname: ext, qtype: dns.TypeANY, result: nodata},
		// Names below an ExternalName service do not exist.
		{qname: "_http._tcp." + ext, qtype: dns.TypeSRV, result: nxdomain, keys: []string{"svc/testns/ext"}},
		{qname: "foo." + ext, qtype: dns.TypeA, result: nxdomain},
		{qname: "foo." + ext, qtype: dns.TypeCNAME, result: nxdomain},
		// An IP-valued ExternalName is NXDOMAIN for every type.
		{qname: "ext-ip.testns.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{"svc/testns/ext-ip"}},
		{qname: "ext-ip.testns.svc.cluster.local.", qtype: dns.TypeCNAME, result: nxdomain},
		{qname: "ext-ip.testns.svc.cluster.local.", qtype: dns.TypeTXT, result: nxdomain},

		// In-zone targets are chased inside the answer.
		{qname: "ext-in.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"ext-in.testns.svc.cluster.local. 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"},
			keys: []string{"svc/testns/ext-in", "svc/default/kubernetes"}},
		{qname: "Ext-In.TestNS.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"Ext-In.TestNS.svc.cluster.local. 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"}},
		{qname: "ext-in.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: success, answer: []string{
			"ext-in.testns.svc.cluster.local. 30 IN CNAME " + kube}},
		{qname: "ext-in.testns.svc.cluster.local.", qtype: dns.TypeCNAME, result: success, answer: []string{
			"ext-in.testns.svc.cluster.local. 30 IN CNAME " + kube},
			keys: []string{"svc/testns/ext-in"}},
		{qname: "ext-in.testns.svc.cluster.local.", qtype: dns.TypeSRV, result: nodata},
		{qname: "ext-upper.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"ext-upper.testns.svc.cluster.local. 30 IN CNAME svc4.testns.svc.cluster.local.",
			"svc4.testns.svc.cluster.local. 30 IN A 10.96.1.4"}},
		{qname: "ext-chain.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"ext-chain.testns.svc.cluster.local. 30 IN CNAME ext-in.testns.svc.cluster.local.",
			"ext-in.testns.svc.cluster.local. 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"},
			keys: []string{"svc/testns/ext-chain", "svc/testns/ext-in", "svc/default/kubernetes"}},
		{qname: "ext-ext.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: success, answer: []string{
			"ext-ext.testns.svc.cluster.local. 30 IN CNAME " + ext,
			ext + " 30 IN CNAME www.example.com."}},
		{qname: "ext-headless.testns.svc.cluster.local.", qtype: dns.TypeAAAA, result: success, answer: []string{
			"ext-headless.testns.svc.cluster.local. 30 IN CNAME headless.testns.svc.cluster.local.",
			"headless.testns.svc.cluster.local. 30 IN AAAA fd00:10:244::1",
			"headless.testns.svc.cluster.local. 30 IN AAAA fd00:10:244::2"}},
		{qname: "ext-pod.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"ext-pod.testns.svc.cluster.local. 30 IN CNAME 10-244-9-9.testns.pod.cluster.local.",
			"10-244-9-9.testns.pod.cluster.local. 30 IN A 10.244.9.9"},
			keys: []string{"svc/testns/ext-pod", "ns/testns"}},
		// A target with no records of the type: the CNAME alone, keys
		// of the target included.
		{qname: "ext-missing.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"ext-missing.testns.svc.cluster.local. 30 IN CNAME nothere.testns.svc.cluster.local."},
			keys: []string{"svc/testns/ext-missing", "svc/testns/nothere", "ns/testns"}},
		{qname: "ext-apex.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"ext-apex.testns.svc.cluster.local. 30 IN CNAME cluster.local."}},
		// Loops and long chains stop.
		{qname: "loop-a.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"loop-a.testns.svc.cluster.local. 30 IN CNAME loop-b.testns.svc.cluster.local.",
			"loop-b.testns.svc.cluster.local. 30 IN CNAME loop-a.testns.svc.cluster.local."},
			keys: []string{"svc/testns/loop-a", "svc/testns/loop-b"}},
		{qname: "self.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"self.testns.svc.cluster.local. 30 IN CNAME self.testns.svc.cluster.local."}},
		{qname: "c0.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"c0.testns.svc.cluster.local. 30 IN CNAME c1.testns.svc.cluster.local.",
			"c1.testns.svc.cluster.local. 30 IN CNAME c2.testns.svc.cluster.local.",
			"c2.testns.svc.cluster.local. 30 IN CNAME c3.testns.svc.cluster.local.",
			"c3.testns.svc.cluster.local. 30 IN CNAME c4.testns.svc.cluster.local.",
			"c4.testns.svc.cluster.local. 30 IN CNAME c5.testns.svc.cluster.local.",
			"c5.testns.svc.cluster.local. 30 IN CNAME c6.testns.svc.cluster.local.",
			"c6.testns.svc.cluster.local. 30 IN CNAME c7.testns.svc.cluster.local.",
			"c7.testns.svc.cluster.local. 30 IN CNAME c8.testns.svc.cluster.local."}},
		{qname: "c3.testns.svc.cluster.local.", qtype: dns.TypeA, result: success, answer: []string{
			"c3.testns.svc.cluster.local. 30 IN CNAME c4.testns.svc.cluster.local.",
			"c4.testns.svc.cluster.local. 30 IN CNAME c5.testns.svc.cluster.local.",
			"c5.testns.svc.cluster.local. 30 IN CNAME c6.testns.svc.cluster.local.",
			"c6.testns.svc.cluster.local. 30 IN CNAME c7.testns.svc.cluster.local.",
			"c7.testns.svc.cluster.local. 30 IN CNAME c8.testns.svc.cluster.local.",
			"c8.testns.svc.cluster.local. 30 IN CNAME c9.testns.svc.cluster.local.",
			"c9.testns.svc.cluster.local. 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"}},
	})
}

func TestAnswerReverse(t *testing.T) {
	s := mustSchema(t, Config{})
	rev := func(ip string) string { return ReverseName(netip.MustParseAddr(ip)) }
	runAnswerCases(t, s, clusterStore(), soaLine, []answerCase{
		// Cluster IPs.
		{qname: "1.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"1.0.96.10.in-addr.arpa. 30 IN PTR kubernetes.default.svc.cluster.local."},
			keys:   []string{"ip/10.96.0.1", "svc/default/kubernetes"}},
		{qname: "1.0.96.10.IN-ADDR.ARPA", qtype: dns.TypePTR, result: success,
			answer: []string{"1.0.96.10.IN-ADDR.ARPA. 30 IN PTR kubernetes.default.svc.cluster.local."}},
		{qname: rev("fd00:10:96::a"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("fd00:10:96::a") + " 30 IN PTR kube-dns.kube-system.svc.cluster.local."},
			keys:   []string{"ip/fd00:10:96::a", "svc/kube-system/kube-dns"}},
		{qname: strings.ToUpper(rev("fd00:10:96::a")), qtype: dns.TypePTR, result: success,
			answer: []string{strings.ToUpper(rev("fd00:10:96::a")) + " 30 IN PTR kube-dns.kube-system.svc.cluster.local."}},
		{qname: rev("10.96.1.2"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("10.96.1.2") + " 30 IN PTR dual.testns.svc.cluster.local."}},
		{qname: rev("fd00:10:96::2"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("fd00:10:96::2") + " 30 IN PTR dual.testns.svc.cluster.local."}},
		// Endpoint addresses: hostname or dashed IP, once per service.
		{qname: rev("10.244.2.1"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("10.244.2.1") + " 30 IN PTR web-0.headless.testns.svc.cluster.local."},
			keys:   []string{"ip/10.244.2.1", "svc/testns/headless"}},
		{qname: rev("fd00:10:244::1"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("fd00:10:244::1") + " 30 IN PTR web-0.headless.testns.svc.cluster.local."}},
		{qname: rev("10.244.2.2"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("10.244.2.2") + " 30 IN PTR 10-244-2-2.headless.testns.svc.cluster.local."}},
		{qname: rev("10.244.2.5"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("10.244.2.5") + " 30 IN PTR dup.headless.testns.svc.cluster.local."}},
		{qname: rev("fd00:10:244::2"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("fd00:10:244::2") + " 30 IN PTR fd00-10-244--2.headless.testns.svc.cluster.local."}},
		{qname: rev("10.244.1.1"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("10.244.1.1") + " 30 IN PTR 10-244-1-1.svc4.testns.svc.cluster.local."}},
		{qname: rev("192.168.0.10"), qtype: dns.TypePTR, result: success,
			answer: []string{rev("192.168.0.10") + " 30 IN PTR 192-168-0-10.kubernetes.default.svc.cluster.local."}},
		{qname: rev("10.244.5.5"), qtype: dns.TypePTR, result: success, answer: []string{
			rev("10.244.5.5") + " 30 IN PTR x.share-a.testns.svc.cluster.local.",
			rev("10.244.5.5") + " 30 IN PTR 10-244-5-5.share-b.testns.svc.cluster.local."},
			keys: []string{"ip/10.244.5.5", "svc/testns/share-a", "svc/testns/share-b"}},
		// Not-ready and unknown addresses fall through.
		{qname: rev("10.244.2.3"), qtype: dns.TypePTR, result: notAuth, keys: []string{"ip/10.244.2.3", "svc/testns/headless"}},
		{qname: rev("10.244.1.2"), qtype: dns.TypePTR, result: notAuth},
		{qname: rev("9.9.9.9"), qtype: dns.TypePTR, result: notAuth, keys: []string{"ip/9.9.9.9"}},
		{qname: rev("2001:db8::99"), qtype: dns.TypePTR, result: notAuth, keys: []string{"ip/2001:db8::99"}},
		// Other types, partial and invalid names fall through.
		{qname: "1.0.96.10.in-addr.arpa.", qtype: dns.TypeA, result: notAuth, keys: []string{}},
		{qname: "1.0.96.10.in-addr.arpa.", qtype: dns.TypeTXT, result: notAuth},
		{qname: "0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: notAuth, keys: []string{}},
		{qname: "96.10.in-addr.arpa.", qtype: dns.TypeSOA, result: notAuth},
		{qname: "in-addr.arpa.", qtype: dns.TypeNS, result: notAuth},
		{qname: "ip6.arpa.", qtype: dns.TypeSOA, result: notAuth},
		{qname: "300.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: notAuth},
		{qname: "x.1.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: notAuth},
		{qname: "a.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR, result: notAuth},
	})
}

func TestAnswerPods(t *testing.T) {
	insecure := mustSchema(t, Config{Pods: PodsInsecure})
	runAnswerCases(t, insecure, clusterStore(), soaLine, []answerCase{
		{qname: "10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"10-244-9-9.testns.pod.cluster.local. 30 IN A 10.244.9.9"}, keys: []string{"ns/testns"}},
		// insecure answers any well-formed IP, pod or not.
		{qname: "1-2-3-4.default.pod.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"1-2-3-4.default.pod.cluster.local. 30 IN A 1.2.3.4"}},
		{qname: "1-2-3-4.Default.POD.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"1-2-3-4.Default.POD.cluster.local. 30 IN A 1.2.3.4"}},
		{qname: "10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeAAAA, result: nodata},
		{qname: "10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeTXT, result: nodata},
		{qname: "fd00-10-244--9.testns.pod.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"fd00-10-244--9.testns.pod.cluster.local. 30 IN AAAA fd00:10:244::9"}},
		{qname: "FD00-0010-0244-0-0-0-0-9.testns.pod.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"FD00-0010-0244-0-0-0-0-9.testns.pod.cluster.local. 30 IN AAAA fd00:10:244::9"}},
		{qname: "fd00-10-244--9.testns.pod.cluster.local.", qtype: dns.TypeA, result: nodata},
		{qname: "10-244-9-9.nsnoexist.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{"ns/nsnoexist"}},
		{qname: "blah.testns.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{}},
		{qname: "blah.testns.pod.cluster.local.", qtype: dns.TypeAAAA, result: nxdomain},
		{qname: "blah.testns.pod.cluster.local.", qtype: dns.TypeHINFO, result: nxdomain},
		{qname: "256-1-1-1.testns.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "x.10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "testns.pod.cluster.local.", qtype: dns.TypeA, result: nodata},
	})

	disabled := mustSchema(t, Config{Pods: PodsDisabled})
	runAnswerCases(t, disabled, clusterStore(), soaLine, []answerCase{
		{qname: "10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{}},
		{qname: "testns.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain, keys: []string{}},
		{qname: "pod.cluster.local.", qtype: dns.TypeA, result: nodata},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"}},
	})

	verified := mustSchema(t, Config{Pods: PodsVerified})
	runAnswerCases(t, verified, clusterStore(), soaLine, []answerCase{
		{qname: "10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"10-244-9-9.testns.pod.cluster.local. 30 IN A 10.244.9.9"},
			keys:   []string{"ns/testns", "pod/10.244.9.9"}},
		{qname: "fd00-10-244--9.testns.pod.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"fd00-10-244--9.testns.pod.cluster.local. 30 IN AAAA fd00:10:244::9"},
			keys:   []string{"ns/testns", "pod/fd00:10:244::9"}},
		{qname: "10-244-9-9.testns.pod.cluster.local.", qtype: dns.TypeAAAA, result: nodata},
		{qname: "10-244-9-9.default.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			keys: []string{"ns/default", "pod/10.244.9.9"}},
		{qname: "1-2-3-4.testns.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			keys: []string{"ns/testns", "pod/1.2.3.4"}},
		{qname: "10-244-9-9.nsnoexist.pod.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{qname: "testns.pod.cluster.local.", qtype: dns.TypeA, result: nodata},
	})
}

// TestAnswerSpecExamples asks every question of the Kubernetes DNS-Based
// Service Discovery specification 1.1.0 on a store shaped like its examples.
// The spec leaves TTL, weight and priority open; the hostname of an endpoint
// without one is its dashed IP here.
func TestAnswerSpecExamples(t *testing.T) {
	s := mustSchema(t, Config{})
	const h = "headless.default.svc.cluster.local."
	const kube = "kubernetes.default.svc.cluster.local."
	runAnswerCases(t, s, specStore(), soaLine, []answerCase{
		// 2.2 schema version.
		{qname: "dns-version.cluster.local.", qtype: dns.TypeTXT, result: success,
			answer: []string{`dns-version.cluster.local. 30 IN TXT "1.1.0"`}},
		// 2.3.1 A and AAAA.
		{qname: kube, qtype: dns.TypeA, result: success, answer: []string{kube + " 30 IN A 10.3.0.1"}},
		{qname: kube, qtype: dns.TypeAAAA, result: success, answer: []string{kube + " 30 IN AAAA 2001:db8::1"}},
		// 2.3.2 SRV.
		{qname: "_https._tcp." + kube, qtype: dns.TypeSRV, result: success,
			answer: []string{"_https._tcp." + kube + " 30 IN SRV 0 100 443 " + kube},
			extra:  []string{kube + " 30 IN A 10.3.0.1", kube + " 30 IN AAAA 2001:db8::1"}},
		// 2.3.3 PTR, IPv4 and IPv6.
		{qname: "1.0.3.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"1.0.3.10.in-addr.arpa. 30 IN PTR " + kube}},
		{qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 30 IN PTR " + kube}},
		// 2.4.1 headless A/AAAA and per-hostname records.
		{qname: h, qtype: dns.TypeA, result: success, answer: []string{
			h + " 30 IN A 10.3.0.1", h + " 30 IN A 10.3.0.2", h + " 30 IN A 10.3.0.3",
			h + " 30 IN A 10.3.0.100", h + " 30 IN A 10.3.0.101"}},
		{qname: h, qtype: dns.TypeAAAA, result: success, answer: []string{h + " 30 IN AAAA 2001:db8::100"}},
		{qname: "my-pet." + h, qtype: dns.TypeA, result: success, answer: []string{"my-pet." + h + " 30 IN A 10.3.0.100"}},
		{qname: "my-pet." + h, qtype: dns.TypeAAAA, result: success, answer: []string{"my-pet." + h + " 30 IN AAAA 2001:db8::100"}},
		// 2.4.2 headless SRV: N endpoints x M named ports.
		{qname: "_https._tcp." + h, qtype: dns.TypeSRV, result: success, answer: []string{
			"_https._tcp." + h + " 30 IN SRV 0 20 443 10-3-0-1." + h,
			"_https._tcp." + h + " 30 IN SRV 0 20 443 10-3-0-2." + h,
			"_https._tcp." + h + " 30 IN SRV 0 20 443 10-3-0-3." + h,
			"_https._tcp." + h + " 30 IN SRV 0 20 443 my-pet." + h,
			"_https._tcp." + h + " 30 IN SRV 0 20 443 my-pet-2." + h,
		}, extra: []string{
			"10-3-0-1." + h + " 30 IN A 10.3.0.1",
			"10-3-0-2." + h + " 30 IN A 10.3.0.2",
			"10-3-0-3." + h + " 30 IN A 10.3.0.3",
			"my-pet." + h + " 30 IN A 10.3.0.100",
			"my-pet." + h + " 30 IN AAAA 2001:db8::100",
			"my-pet-2." + h + " 30 IN A 10.3.0.101",
		}},
		// 2.4.3 headless PTR.
		{qname: "100.0.3.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"100.0.3.10.in-addr.arpa. 30 IN PTR my-pet." + h}},
		{qname: ReverseName(netip.MustParseAddr("2001:db8::100")), qtype: dns.TypePTR, result: success,
			answer: []string{ReverseName(netip.MustParseAddr("2001:db8::100")) + " 30 IN PTR my-pet." + h}},
		// 2.5 ExternalName, A and AAAA (the frontend chases the target).
		{qname: "foo.default.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"foo.default.svc.cluster.local. 30 IN CNAME www.example.com."}},
		{qname: "foo.default.svc.cluster.local.", qtype: dns.TypeAAAA, result: success,
			answer: []string{"foo.default.svc.cluster.local. 30 IN CNAME www.example.com."}},
		// 2.6 deprecated pod records.
		{qname: "1-2-3-4.default.pod.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"1-2-3-4.default.pod.cluster.local. 30 IN A 1.2.3.4"}},
		{qname: "255-0-255-0.default.pod.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"255-0-255-0.default.pod.cluster.local. 30 IN A 255.0.255.0"}},
	})
}

func TestAnswerNotSynced(t *testing.T) {
	s := mustSchema(t, Config{})
	store := clusterStore()
	store.notSynced = true
	for _, tc := range []answerCase{
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, result: notReady},
		{qname: "missing.testns.svc.cluster.local.", qtype: dns.TypeA, result: notReady},
		{qname: "foo.cluster.local.", qtype: dns.TypeA, result: notReady},
		{qname: "cluster.local.", qtype: dns.TypeSOA, result: notReady},
		{qname: "dns-version.cluster.local.", qtype: dns.TypeTXT, result: notReady},
		{qname: "1.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: notReady},
		{qname: "example.com.", qtype: dns.TypeA, result: notAuth},
		{qname: "0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: notAuth},
	} {
		resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: tc.qname, Qtype: uint32(tc.qtype)})
		if resp.GetResult() != tc.result || len(resp.GetAnswer())+len(resp.GetAuthority())+len(resp.GetAdditional()) != 0 ||
			len(resp.GetKeys()) != 0 || resp.GetTtl() != 0 || resp.GetRevision() != testRevision {
			t.Errorf("%s %d: got %v; want bare %v at revision %d", tc.qname, tc.qtype, resp, tc.result, testRevision)
		}
	}
}

// TestAnswerConfig checks the zone, TTL and nameserver service options and
// the SOA TTL cap.
func TestAnswerConfig(t *testing.T) {
	store := clusterStore()
	store.addService(clusterIP("dns", "clusterdns", nil, "10.96.0.53"))

	s := mustSchema(t, Config{Zone: "Example.ORG.", TTL: 600, NameserverService: "dns/clusterdns"})
	soa := "example.org. 300 IN SOA ns.dns.example.org. hostmaster.example.org. 1700000000 7200 1800 86400 600"
	runAnswerCases(t, s, store, soa, []answerCase{
		{qname: "kubernetes.default.svc.example.org.", qtype: dns.TypeA, result: success,
			answer: []string{"kubernetes.default.svc.example.org. 600 IN A 10.96.0.1"}},
		{qname: "1.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, result: success,
			answer: []string{"1.0.96.10.in-addr.arpa. 600 IN PTR kubernetes.default.svc.example.org."}},
		{qname: "example.org.", qtype: dns.TypeSOA, result: success, answer: []string{soa}},
		{qname: "example.org.", qtype: dns.TypeNS, result: success,
			answer: []string{"example.org. 600 IN NS ns.dns.example.org."},
			extra:  []string{"ns.dns.example.org. 600 IN A 10.96.0.53"},
			keys:   []string{"svc/dns/clusterdns"}},
		{qname: "ns.dns.example.org.", qtype: dns.TypeA, result: success,
			answer: []string{"ns.dns.example.org. 600 IN A 10.96.0.53"}},
		{qname: "ns.dns.example.org.", qtype: dns.TypeAAAA, result: nodata},
		{qname: "missing.default.svc.example.org.", qtype: dns.TypeA, result: nxdomain},
		{qname: "dns-version.example.org.", qtype: dns.TypeTXT, result: success,
			answer: []string{`dns-version.example.org. 600 IN TXT "1.1.0"`}},
		{qname: "ext-in.testns.svc.example.org.", qtype: dns.TypeA, result: success,
			answer: []string{"ext-in.testns.svc.example.org. 600 IN CNAME kubernetes.default.svc.cluster.local."}},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, result: notAuth},
	})

	// A missing nameserver service leaves the NS record without glue.
	s = mustSchema(t, Config{TTL: 5, NameserverService: "dns/none"})
	soa = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5"
	runAnswerCases(t, s, store, soa, []answerCase{
		{qname: "cluster.local.", qtype: dns.TypeNS, result: success,
			answer: []string{"cluster.local. 5 IN NS ns.dns.cluster.local."}, keys: []string{"svc/dns/none"}},
		{qname: "ns.dns.cluster.local.", qtype: dns.TypeA, result: nodata, keys: []string{"svc/dns/none"}},
		{qname: "kubernetes.default.svc.cluster.local.", qtype: dns.TypeA, result: success,
			answer: []string{"kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"}},
		{qname: "missing.default.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
	})
}

func TestAnswerRevisionReadFirst(t *testing.T) {
	s := mustSchema(t, Config{Pods: PodsVerified})
	for _, q := range []string{
		"kubernetes.default.svc.cluster.local.",
		"missing.testns.svc.cluster.local.",
		"_http._tcp.headless.testns.svc.cluster.local.",
		"10-244-9-9.testns.pod.cluster.local.",
		"1.0.96.10.in-addr.arpa.",
		"ext-in.testns.svc.cluster.local.",
		"cluster.local.",
	} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV, dns.TypePTR, dns.TypeNS} {
			store := clusterStore()
			store.rev = 42
			resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: q, Qtype: uint32(qtype)})
			if len(store.calls) == 0 || store.calls[0] != "Revision" {
				t.Errorf("%s %d: store calls %v; want Revision first", q, qtype, store.calls)
			}
			if resp.GetRevision() != 42 {
				t.Errorf("%s %d: revision %d; want 42", q, qtype, resp.GetRevision())
			}
			if n := len(resp.GetAuthority()); n > 0 && resp.GetAuthority()[0].GetSoa().GetSerial() != 42 {
				t.Errorf("%s %d: SOA serial %d; want 42", q, qtype, resp.GetAuthority()[0].GetSoa().GetSerial())
			}
		}
	}
}

func TestAnswerOddRequests(t *testing.T) {
	s := mustSchema(t, Config{})
	store := clusterStore()
	for _, tc := range []struct {
		req  *clusterdnsv1.LookupRequest
		want clusterdnsv1.Result
	}{
		{req: nil, want: notAuth},
		{req: &clusterdnsv1.LookupRequest{}, want: notAuth},
		{req: &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 0x10001}, want: nodata},
		{req: &clusterdnsv1.LookupRequest{Name: "missing.default.svc.cluster.local.", Qtype: 0x10001}, want: nxdomain},
		{req: &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 0}, want: nodata},
		{req: &clusterdnsv1.LookupRequest{Name: `kubernetes\.default.svc.cluster.local.`, Qtype: 1}, want: nxdomain},
		{req: &clusterdnsv1.LookupRequest{Name: "kubernetes..svc.cluster.local.", Qtype: 1}, want: nxdomain},
	} {
		resp := s.Answer(store, tc.req)
		if resp.GetResult() != tc.want {
			t.Errorf("%v: result %v; want %v", tc.req, resp.GetResult(), tc.want)
		}
	}
	// An escaped owner name is kept as asked.
	resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: `\107ubernetes.default.svc.cluster.local`, Qtype: 1})
	if got := resp.GetAnswer(); len(got) != 1 || got[0].GetName() != `\107ubernetes.default.svc.cluster.local.` {
		t.Errorf("escaped owner: %v", got)
	}
}

func TestFQDN(t *testing.T) {
	for in, want := range map[string]string{
		"a.b":    "a.b.",
		"a.b.":   "a.b.",
		`a\.`:    `a\..`,
		`a\\.`:   `a\\.`,
		`a\\\.`:  `a\\\..`,
		"Ab.Cd.": "Ab.Cd.",
	} {
		if got := fqdn(in); got != want {
			t.Errorf("fqdn(%q) = %q; want %q", in, got, want)
		}
	}
}
