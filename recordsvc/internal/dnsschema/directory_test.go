package dnsschema

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// dirStore is a fakeStore that lists each namespace's Services.
type dirStore struct{ *fakeStore }

var _ DirectoryStore = dirStore{}

func (d dirStore) ServiceNames(namespace string, limit int) ([]string, bool) {
	d.record("ServiceNames")
	var names []string
	for _, k := range d.sortedServiceKeys() {
		if ns, name, _ := strings.Cut(k, "/"); ns == namespace {
			names = append(names, name)
		}
	}
	if len(names) > limit {
		return nil, false
	}
	return names, true
}

// shopStore has a namespace shop with three Services (a ClusterIP one, a
// headless one with a ready endpoint and a headless one without), an
// ExternalName whose target is no address, an empty namespace and a pod.
func shopStore() dirStore {
	f := newFakeStore(testRevision)
	f.addNamespace("shop", "empty", "kube-system")
	web := []kubeindex.Port{port("http", "tcp", 80)}
	f.addService(clusterIP("shop", "web", web, "10.96.3.1"))
	f.addService(headless("shop", "db", web), ep("db-0", true, web, "10.244.3.1"))
	f.addService(headless("shop", "cart", web))
	f.addService(externalName("shop", "ext-ip", "10.1.2.3"))
	f.pods[addrs("10.244.3.9")[0]] = []string{"shop"}
	return dirStore{f}
}

func TestAnswerAbsentBelow(t *testing.T) {
	shopLabels := []string{"cart", "db", "ext-ip", "web"}
	shopKeys := func(missing string) []string {
		return []string{"svc/shop/" + missing, "ns/shop", "svcs/shop"}
	}
	tests := []struct {
		name   string
		cfg    Config
		plain  bool // the store is no DirectoryStore
		qname  string
		qtype  uint16
		result clusterdnsv1.Result
		// apex is the expected AbsentBelow.Apex, "" for none; labels
		// and keys are then checked too.
		apex   string
		labels []string
		keys   []string
		// notAccepted leaves the request's accept_absent_below unset.
		notAccepted bool
	}{
		{name: "caller does not accept directories", qname: "nope.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			notAccepted: true},
		{name: "missing service A", qname: "nope.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "missing service AAAA", qname: "nope.shop.svc.cluster.local.", qtype: dns.TypeAAAA, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "missing service SRV", qname: "nope.shop.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "endpoint of a missing service", qname: "db-0.nope.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "port of a missing service", qname: "_http._tcp.nope.shop.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "asked in upper case", qname: "NOPE.Shop.SVC.Cluster.Local.", qtype: dns.TypeA, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "search-path expansion", qname: "example.com.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("com")},
		{name: "other zone", cfg: Config{Zone: "Example.Org."}, qname: "nope.shop.svc.example.org.", qtype: dns.TypeA,
			result: nxdomain, apex: "shop.svc.example.org.", labels: shopLabels, keys: shopKeys("nope")},
		{name: "namespace without services", qname: "nope.empty.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain,
			apex: "empty.svc.cluster.local.", labels: nil, keys: []string{"svc/empty/nope", "ns/empty", "svcs/empty"}},
		{name: "limit reached exactly", cfg: Config{DirectoryLimit: 4}, qname: "nope.shop.svc.cluster.local.", qtype: dns.TypeA,
			result: nxdomain, apex: "shop.svc.cluster.local.", labels: shopLabels, keys: shopKeys("nope")},

		{name: "existing service NODATA", qname: "web.shop.svc.cluster.local.", qtype: dns.TypeAAAA, result: nodata},
		{name: "headless without endpoints", qname: "cart.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "unknown endpoint of a service", qname: "db-9.db.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "unknown port of a service", qname: "_nope._tcp.web.shop.svc.cluster.local.", qtype: dns.TypeSRV, result: nxdomain},
		{name: "ExternalName without a name", qname: "ext-ip.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "missing namespace", qname: "nope.gone.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "missing namespace itself", qname: "gone.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "malformed label", qname: "*.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "too deep", qname: "a.b._http._tcp.nope.shop.svc.cluster.local.", qtype: dns.TypeA, result: nxdomain},
		{name: "pod name", cfg: Config{Pods: PodsVerified}, qname: "10-244-3-8.shop.pod.cluster.local.", qtype: dns.TypeA,
			result: nxdomain},
		{name: "pods disabled", cfg: Config{Pods: PodsDisabled}, qname: "10-244-3-9.shop.pod.cluster.local.", qtype: dns.TypeA,
			result: nxdomain},
		{name: "reverse name", qname: "9.9.9.10.in-addr.arpa.", qtype: dns.TypePTR, result: notAuth},
		{name: "clusterset name", cfg: Config{MulticlusterZone: "clusterset.local"}, qname: "nope.shop.svc.clusterset.local.",
			qtype: dns.TypeA, result: nxdomain},
		{name: "autopath on", cfg: Config{Pods: PodsVerified, Autopath: true}, qname: "nope.shop.svc.cluster.local.",
			qtype: dns.TypeA, result: nxdomain},
		{name: "more services than the limit", cfg: Config{DirectoryLimit: 3}, qname: "nope.shop.svc.cluster.local.",
			qtype: dns.TypeA, result: nxdomain},
		{name: "limit negative", cfg: Config{DirectoryLimit: -1}, qname: "nope.empty.svc.cluster.local.", qtype: dns.TypeA,
			result: nxdomain},
		{name: "store without directories", plain: true, qname: "nope.shop.svc.cluster.local.", qtype: dns.TypeA,
			result: nxdomain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSchema(t, tt.cfg)
			var store Store = shopStore()
			if tt.plain {
				store = shopStore().fakeStore
			}
			resp := s.Answer(store, &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: uint32(tt.qtype), ClientIp: "10.244.3.9",
				AcceptAbsentBelow: !tt.notAccepted})
			if resp.GetResult() != tt.result {
				t.Fatalf("result %v; want %v", resp.GetResult(), tt.result)
			}
			dir := resp.GetAbsentBelow()
			if tt.apex == "" {
				if dir != nil {
					t.Fatalf("absent_below %v; want none", dir)
				}
				if slices.ContainsFunc(resp.GetKeys(), func(k string) bool { return strings.HasPrefix(k, "svcs/") }) {
					t.Errorf("keys %q name a services key without a directory", resp.GetKeys())
				}
				return
			}
			if dir == nil {
				t.Fatalf("no absent_below; want apex %q", tt.apex)
			}
			if dir.GetApex() != tt.apex || !slices.Equal(dir.GetLabels(), tt.labels) {
				t.Errorf("absent_below %q %q; want %q %q", dir.GetApex(), dir.GetLabels(), tt.apex, tt.labels)
			}
			// The services key goes with the list, not with the answer.
			isServices := func(k string) bool { return strings.HasPrefix(k, "svcs/") }
			answerKeys := slices.DeleteFunc(slices.Clone(tt.keys), isServices)
			listKeys := slices.DeleteFunc(slices.Clone(tt.keys), func(k string) bool { return !isServices(k) })
			if got, want := slices.Sorted(slices.Values(resp.GetKeys())), slices.Sorted(slices.Values(answerKeys)); !slices.Equal(got, want) {
				t.Errorf("keys %q; want %q", got, want)
			}
			if got := dir.GetKeys(); !slices.Equal(got, listKeys) {
				t.Errorf("absent_below keys %q; want %q", got, listKeys)
			}
		})
	}
}

// TestAbsentBelowHolds asks, for each label of a namespace that its
// directory does not list, names at and under it in every type: each must
// be NXDOMAIN, as the directory promises. It runs on the rich fixture and
// on a kubeindex.Index, whose lists come from its own index.
func TestAbsentBelowHolds(t *testing.T) {
	ix := kubeindex.New(kubeindex.Config{StartRevision: 1})
	ix.SetNamespace("Shop")
	web := []kubeindex.Port{{Name: "http", Protocol: "tcp", Port: 80}}
	ix.SetService(kubeindex.Service{Namespace: "Shop", Name: "Web", ClusterIPs: addrs("10.96.3.1"), Ports: web})
	ix.SetService(kubeindex.Service{Namespace: "shop", Name: "db", Headless: true, Ports: web})
	ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "shop", Name: "db-1", Service: "db",
		Endpoints: []kubeindex.Endpoint{{Addresses: addrs("10.244.3.1"), Hostname: "db-0", Ready: true, Ports: web}}})
	ix.SetService(kubeindex.Service{Namespace: "shop", Name: "ext", ExternalName: "web.shop.svc.cluster.local"})
	ix.MarkSynced()

	clusterDir := dirStore{clusterStore()}
	stores := []struct {
		name      string
		store     Store
		namespace string
		listed    []string
	}{
		{"fake", clusterDir, "testns", nil},
		{"index", fixedSerial{ix}, "shop", []string{"db", "ext", "web"}},
	}
	// Labels to try: every Service name anywhere, and others.
	candidates := []string{"nope", "web", "db", "ext", "kubernetes", "kube-dns", "www", "com", "svc", "pod", "dns",
		"shop", "testns", "default", "x1", "10-244-3-1", "db-0"}
	for _, k := range clusterDir.sortedServiceKeys() {
		_, name, _ := strings.Cut(k, "/")
		candidates = append(candidates, name)
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeCNAME, dns.TypeTXT, dns.TypePTR, dns.TypeANY}
	s := mustSchema(t, Config{})
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			apex := st.namespace + ".svc.cluster.local."
			resp := s.Answer(st.store, &clusterdnsv1.LookupRequest{Name: "absent." + apex, Qtype: uint32(dns.TypeA), AcceptAbsentBelow: true})
			dir := resp.GetAbsentBelow()
			if dir == nil || dir.GetApex() != apex || !slices.IsSorted(dir.GetLabels()) {
				t.Fatalf("absent_below %v; want a sorted directory of %s", dir, apex)
			}
			if st.listed != nil && !slices.Equal(dir.GetLabels(), st.listed) {
				t.Fatalf("labels %q; want %q", dir.GetLabels(), st.listed)
			}
			for _, label := range candidates {
				if slices.Contains(dir.GetLabels(), label) {
					continue
				}
				for _, prefix := range []string{"", "x.", "db-0.", "10-244-3-1.", "_http._tcp.", "a.b."} {
					for _, qtype := range types {
						qname := prefix + label + "." + apex
						resp := s.Answer(st.store, &clusterdnsv1.LookupRequest{Name: qname, Qtype: uint32(qtype), AcceptAbsentBelow: true})
						if resp.GetResult() != nxdomain {
							t.Errorf("%s %s: %v; the directory says NXDOMAIN", qname, dns.TypeToString[qtype], resp.GetResult())
						}
					}
				}
			}
		})
	}
}
