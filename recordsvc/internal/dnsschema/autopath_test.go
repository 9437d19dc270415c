package dnsschema

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Client addresses of the autopath fixture.
const (
	otherClient  = "10.244.7.7"        // a pod of otherns
	mappedClient = "::ffff:10.244.7.7" // the same, IPv4-mapped
	sharedClient = "10.244.8.8"        // pods of otherns and testns (host network)
	testnsClient = "10.244.9.9"        // a pod of testns
	noPodClient  = "10.244.6.6"        // no running pod
)

// autopathStore is clusterStore with a client namespace, otherns, that has
// a service of its own.
func autopathStore() *fakeStore {
	f := clusterStore()
	f.addNamespace("otherns")
	f.addService(clusterIP("otherns", "real", nil, "10.96.2.1"))
	f.pods[netip.MustParseAddr(otherClient)] = []string{"otherns"}
	f.pods[netip.MustParseAddr(sharedClient)] = []string{"otherns", "testns"}
	return f
}

// autopathCase is an answerCase asked from a client address; namespace is
// the expected LookupResponse.autopath_namespace.
type autopathCase struct {
	answerCase
	client    string
	namespace string
}

func TestAnswerAutopath(t *testing.T) {
	s := mustSchema(t, Config{Pods: PodsVerified, Autopath: true})
	const (
		suffix = ".otherns.svc.cluster.local."
		podKey = "pod/10.244.7.7"
	)
	kube := "kubernetes.default.svc.cluster.local."
	svc4 := "svc4.testns.svc.cluster.local."
	// completed is a completion for the otherns client.
	completed := func(qname string, qtype uint16, answer, extra, keys []string) autopathCase {
		return autopathCase{answerCase: answerCase{qname: qname, qtype: qtype, result: success,
			answer: answer, extra: extra, keys: keys}, client: otherClient, namespace: "otherns"}
	}
	// plain is an answer that is no completion.
	plain := func(client, qname string, qtype uint16, result clusterdnsv1.Result, answer, keys []string) autopathCase {
		return autopathCase{answerCase: answerCase{qname: qname, qtype: qtype, result: result, answer: answer,
			keys: keys}, client: client}
	}
	cases := []autopathCase{
		// The example: svc1.testns searched from otherns.
		completed("svc4.testns"+suffix, dns.TypeA, []string{
			"svc4.testns" + suffix + " 30 IN CNAME " + svc4,
			svc4 + " 30 IN A 10.96.1.4"}, nil,
			[]string{"svc/otherns/testns", "ns/otherns", podKey, "svc/testns/svc4"}),
		// The query's case is kept on the asked name only.
		completed("SVC4.TestNS.OtherNS.svc.Cluster.Local.", dns.TypeA, []string{
			"SVC4.TestNS.OtherNS.svc.Cluster.Local. 30 IN CNAME " + svc4,
			svc4 + " 30 IN A 10.96.1.4"}, nil, nil),
		// An IPv4-only service asked AAAA: the pair A+AAAA stops at it, so
		// AAAA gets the CNAME alone.
		completed("svc4.testns"+suffix, dns.TypeAAAA, []string{"svc4.testns" + suffix + " 30 IN CNAME " + svc4}, nil, nil),
		completed("svc6.testns"+suffix, dns.TypeA, []string{
			"svc6.testns" + suffix + " 30 IN CNAME svc6.testns.svc.cluster.local."}, nil, nil),
		completed("dual.testns"+suffix, dns.TypeAAAA, []string{
			"dual.testns" + suffix + " 30 IN CNAME dual.testns.svc.cluster.local.",
			"dual.testns.svc.cluster.local. 30 IN AAAA fd00:10:96::2"}, nil, nil),
		completed("kube-dns.kube-system"+suffix, dns.TypeAAAA, []string{
			"kube-dns.kube-system" + suffix + " 30 IN CNAME kube-dns.kube-system.svc.cluster.local.",
			"kube-dns.kube-system.svc.cluster.local. 30 IN AAAA fd00:10:96::a"}, nil, nil),
		// ndots:5 searches a service's full name first: X is in the zone.
		completed(kube+"otherns.svc.cluster.local.", dns.TypeA, []string{
			kube + "otherns.svc.cluster.local. 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"}, nil,
			[]string{podKey, "svc/default/kubernetes"}),
		completed("kubernetes.default.svc"+suffix, dns.TypeA, []string{
			"kubernetes.default.svc" + suffix + " 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"}, nil, nil),
		// Headless services and their endpoints.
		completed("headless.testns"+suffix, dns.TypeA, []string{
			"headless.testns" + suffix + " 30 IN CNAME headless.testns.svc.cluster.local.",
			"headless.testns.svc.cluster.local. 30 IN A 10.244.2.1",
			"headless.testns.svc.cluster.local. 30 IN A 10.244.2.2",
			"headless.testns.svc.cluster.local. 30 IN A 10.244.2.4",
			"headless.testns.svc.cluster.local. 30 IN A 10.244.2.5"}, nil, nil),
		completed("web-0.headless.testns"+suffix, dns.TypeA, []string{
			"web-0.headless.testns" + suffix + " 30 IN CNAME web-0.headless.testns.svc.cluster.local.",
			"web-0.headless.testns.svc.cluster.local. 30 IN A 10.244.2.1"}, nil, nil),
		// SRV, by port name and for the bare service.
		completed("_http._tcp.svc4.testns"+suffix, dns.TypeSRV, []string{
			"_http._tcp.svc4.testns" + suffix + " 30 IN CNAME _http._tcp." + svc4,
			"_http._tcp." + svc4 + " 30 IN SRV 0 100 80 " + svc4},
			[]string{svc4 + " 30 IN A 10.96.1.4"}, []string{podKey, "svc/testns/svc4"}),
		completed("svc4.testns"+suffix, dns.TypeSRV, []string{
			"svc4.testns" + suffix + " 30 IN CNAME " + svc4,
			svc4 + " 30 IN SRV 0 50 80 " + svc4,
			svc4 + " 30 IN SRV 0 50 8080 " + svc4},
			[]string{svc4 + " 30 IN A 10.96.1.4"}, nil),
		// ExternalName candidates: their CNAME follows ours, an in-zone
		// target is chased, and the whole chain stays within 8 CNAMEs.
		completed("ext.testns"+suffix, dns.TypeA, []string{
			"ext.testns" + suffix + " 30 IN CNAME ext.testns.svc.cluster.local.",
			"ext.testns.svc.cluster.local. 30 IN CNAME www.example.com."}, nil, nil),
		completed("ext-in.testns"+suffix, dns.TypeA, []string{
			"ext-in.testns" + suffix + " 30 IN CNAME ext-in.testns.svc.cluster.local.",
			"ext-in.testns.svc.cluster.local. 30 IN CNAME " + kube,
			kube + " 30 IN A 10.96.0.1"}, nil,
			[]string{"svc/otherns/testns", "ns/otherns", podKey, "svc/testns/ext-in", "svc/default/kubernetes"}),
		completed("c0.testns"+suffix, dns.TypeA, chainTo("c0.testns"+suffix, 7), nil, nil),
		// Pod names and zone names further down the list.
		completed("10-244-9-9.testns.pod"+suffix, dns.TypeA, []string{
			"10-244-9-9.testns.pod" + suffix + " 30 IN CNAME 10-244-9-9.testns.pod.cluster.local.",
			"10-244-9-9.testns.pod.cluster.local. 30 IN A 10.244.9.9"}, nil,
			[]string{podKey, "svc/pod/testns", "ns/pod", "ns/testns", "pod/10.244.9.9"}),
		completed("10-244-9-9.testns.pod"+suffix, dns.TypeAAAA, []string{
			"10-244-9-9.testns.pod" + suffix + " 30 IN CNAME 10-244-9-9.testns.pod.cluster.local."}, nil, nil),
		completed("dns-version"+suffix, dns.TypeTXT, []string{
			"dns-version" + suffix + " 30 IN CNAME dns-version.cluster.local.",
			`dns-version.cluster.local. 30 IN TXT "1.1.0"`}, nil, nil),
		{answerCase: answerCase{qname: "svc4.testns" + suffix, qtype: dns.TypeA, result: success, answer: []string{
			"svc4.testns" + suffix + " 30 IN CNAME " + svc4,
			svc4 + " 30 IN A 10.96.1.4"}}, client: mappedClient, namespace: "otherns"},

		// Nothing in the zone: the asked name's NXDOMAIN, depending on every
		// candidate tried.
		plain(otherClient, "nothere.testns"+suffix, dns.TypeA, nxdomain, nil,
			[]string{"svc/otherns/testns", "ns/otherns", podKey, "svc/testns/nothere", "ns/testns"}),
		plain(otherClient, "www.example.com"+suffix, dns.TypeA, nxdomain, nil,
			[]string{podKey, "svc/com/example", "ns/com"}),
		plain(otherClient, "google.com"+suffix, dns.TypeAAAA, nxdomain, nil,
			[]string{"svc/otherns/com", "ns/otherns", podKey, "svc/com/google", "ns/com"}),
		plain(otherClient, "nothere.default.svc.cluster.local.otherns.svc.cluster.local.", dns.TypeA, nxdomain, nil,
			[]string{podKey, "svc/default/nothere", "ns/default"}),
		// Names that exist without addresses do not stop the search.
		plain(otherClient, "testns"+suffix, dns.TypeA, nxdomain, nil,
			[]string{"svc/otherns/testns", "ns/otherns", podKey, "ns/testns"}),
		plain(otherClient, "dns-version"+suffix, dns.TypeA, nxdomain, nil, nil),
		plain(otherClient, "notready.testns"+suffix, dns.TypeA, nxdomain, nil, nil),
		// Existing names are answered as themselves.
		plain(otherClient, "real"+suffix, dns.TypeA, success, []string{"real" + suffix + " 30 IN A 10.96.2.1"},
			[]string{"svc/otherns/real"}),
		plain(otherClient, "real"+suffix, dns.TypeAAAA, nodata, nil, []string{"svc/otherns/real"}),
		plain(otherClient, "otherns.svc.cluster.local.", dns.TypeA, nodata, nil, []string{"ns/otherns"}),
		plain(otherClient, "svc4.testns.svc.cluster.local.", dns.TypeA, success,
			[]string{svc4 + " 30 IN A 10.96.1.4"}, []string{"svc/testns/svc4"}),
		// Not the client's own first search suffix, or no single namespace
		// for the client: no completion.
		plain(testnsClient, "svc4.testns"+suffix, dns.TypeA, nxdomain, nil,
			[]string{"svc/otherns/testns", "ns/otherns", "pod/10.244.9.9"}),
		plain(sharedClient, "svc4.testns"+suffix, dns.TypeA, nxdomain, nil,
			[]string{"svc/otherns/testns", "ns/otherns", "pod/10.244.8.8"}),
		plain(noPodClient, "svc4.testns"+suffix, dns.TypeA, nxdomain, nil,
			[]string{"svc/otherns/testns", "ns/otherns", "pod/10.244.6.6"}),
		plain("", "svc4.testns"+suffix, dns.TypeA, nxdomain, nil, []string{"svc/otherns/testns", "ns/otherns"}),
		// Names no candidate can be built from.
		plain(otherClient, `svc4\.testns`+suffix, dns.TypeA, nxdomain, nil, []string{}),
		plain(otherClient, "nons.svc.cluster.local.", dns.TypeA, nxdomain, nil, []string{"ns/nons"}),
		plain(otherClient, "svc4.testns.otherns.pod.cluster.local.", dns.TypeA, nxdomain, nil, []string{}),
		plain(otherClient, "svc4.testns.otherns.svc.example.org.", dns.TypeA, notAuth, nil, []string{}),
	}
	store := autopathStore()
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s/%s", tc.client, tc.qname, dns.TypeToString[tc.qtype]), func(t *testing.T) {
			resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: tc.qname, Qtype: uint32(tc.qtype), ClientIp: tc.client})
			if tc.result == notAuth {
				if resp.GetResult() != notAuth || len(resp.GetKeys()) != 0 {
					t.Fatalf("got %v keys %q, want NOT_AUTHORITATIVE without keys", resp.GetResult(), resp.GetKeys())
				}
				return
			}
			checkResponse(t, s, resp, soaLine, tc.answerCase)
			if resp.GetAutopathNamespace() != tc.namespace {
				t.Errorf("autopath_namespace %q; want %q", resp.GetAutopathNamespace(), tc.namespace)
			}
		})
	}
}

// chainTo returns the completion of cN.testns asked as owner: the CNAME to
// c0.testns.svc and the ExternalName chain c0 -> c1 -> ... -> c<last>, 1 +
// last CNAMEs.
func chainTo(owner string, last int) []string {
	out := []string{owner + " 30 IN CNAME c0.testns.svc.cluster.local."}
	for i := range last {
		out = append(out, fmt.Sprintf("c%d.testns.svc.cluster.local. 30 IN CNAME c%d.testns.svc.cluster.local.", i, i+1))
	}
	return out
}

// TestAnswerAutopathOff checks that completion needs Config.Autopath and a
// synced store.
func TestAnswerAutopathOff(t *testing.T) {
	qname := "svc4.testns.otherns.svc.cluster.local."
	tests := []struct {
		name   string
		cfg    Config
		synced bool
		result clusterdnsv1.Result
		keys   []string
	}{
		{"autopath off", Config{Pods: PodsVerified}, true, nxdomain, []string{"svc/otherns/testns", "ns/otherns"}},
		{"not synced", Config{Pods: PodsVerified, Autopath: true}, false, notReady, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSchema(t, tt.cfg)
			store := autopathStore()
			store.notSynced = !tt.synced
			resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: qname, Qtype: uint32(dns.TypeA), ClientIp: otherClient})
			if resp.GetResult() != tt.result || len(resp.GetAnswer()) != 0 || resp.GetAutopathNamespace() != "" {
				t.Fatalf("got %v %v namespace %q, want %v and no completion",
					resp.GetResult(), resp.GetAnswer(), resp.GetAutopathNamespace(), tt.result)
			}
			if tt.keys != nil && fmt.Sprint(resp.GetKeys()) != fmt.Sprint(tt.keys) {
				t.Fatalf("keys %q, want %q", resp.GetKeys(), tt.keys)
			}
		})
	}
}
