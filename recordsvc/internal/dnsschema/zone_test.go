package dnsschema

import (
	"net/netip"
	"slices"
	"testing"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// zoneStore is a fakeStore that knows the node and zone of client
// addresses.
type zoneStore struct {
	*fakeStore
	nodes map[netip.Addr][2]string // client IP -> zone, node
}

func (z zoneStore) ClientZone(ip netip.Addr) (zone, node string) {
	v := z.nodes[ip]
	return v[0], v[1]
}

func zonedEndpoint(ip, zone string, forZones ...string) kubeindex.Endpoint {
	return kubeindex.Endpoint{Addresses: []netip.Addr{netip.MustParseAddr(ip)}, Ready: true}.
		WithDetail(kubeindex.EndpointDetail{Zone: zone, ForZones: forZones})
}

func TestZoneAwareAnswers(t *testing.T) {
	store := zoneStore{fakeStore: newFakeStore(5), nodes: map[netip.Addr][2]string{
		netip.MustParseAddr("10.0.0.1"): {"b", "node-b"},
		netip.MustParseAddr("10.0.0.2"): {"", "node-x"},
	}}
	store.addNamespace("ns")
	eps := []kubeindex.Endpoint{zonedEndpoint("10.1.0.1", "a"), zonedEndpoint("10.1.0.2", "b"), zonedEndpoint("10.1.0.3", "a")}
	store.addService(kubeindex.Service{Namespace: "ns", Name: "spread", Headless: true}, eps...)
	store.addService(kubeindex.Service{Namespace: "ns", Name: "close", Headless: true, TrafficDistribution: "PreferClose"}, eps...)
	store.addService(kubeindex.Service{Namespace: "ns", Name: "hinted", Headless: true},
		zonedEndpoint("10.2.0.1", "a", "a"), zonedEndpoint("10.2.0.2", "b", "c"), zonedEndpoint("10.2.0.3", "c", "a", "b"))
	store.addService(kubeindex.Service{Namespace: "ns", Name: "onezone", Headless: true},
		zonedEndpoint("10.3.0.1", "a"), zonedEndpoint("10.3.0.2", "a"))
	store.addService(kubeindex.Service{Namespace: "ns", Name: "cip", ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.9")}}, eps...)

	cases := []struct {
		name, svc, clientIP, clientZone string
		want                            []string
		dependent                       bool
		zone                            string
		keys                            []string
	}{
		{"frontend zone first", "spread", "", "b", []string{"10.1.0.2", "10.1.0.1", "10.1.0.3"}, true, "b", nil},
		{"frontend zone a", "spread", "", "a", []string{"10.1.0.1", "10.1.0.3", "10.1.0.2"}, true, "a", nil},
		{"unknown zone keeps order", "spread", "", "", []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}, true, "", nil},
		{"pod's node zone", "spread", "10.0.0.1", "", []string{"10.1.0.2", "10.1.0.1", "10.1.0.3"}, true, "b",
			[]string{"pod/10.0.0.1", "node/node-b"}},
		{"node without zone", "spread", "10.0.0.2", "", []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}, true, "",
			[]string{"pod/10.0.0.2", "node/node-x"}},
		{"request zone wins over pod", "spread", "10.0.0.1", "a", []string{"10.1.0.1", "10.1.0.3", "10.1.0.2"}, true, "a", nil},
		{"PreferClose narrows", "close", "", "a", []string{"10.1.0.1", "10.1.0.3"}, true, "a", nil},
		{"PreferClose none in zone orders all", "close", "", "z", []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}, true, "z", nil},
		{"hints narrow", "hinted", "", "a", []string{"10.2.0.1", "10.2.0.3"}, true, "a", nil},
		{"hints for another zone", "hinted", "", "c", []string{"10.2.0.2"}, true, "c", nil},
		{"one zone is not zone dependent", "onezone", "", "b", []string{"10.3.0.1", "10.3.0.2"}, false, "", nil},
		{"ClusterIP untouched", "cip", "", "b", []string{"10.96.0.9"}, false, "", nil},
	}
	s := mustSchema(t, Config{ZoneAware: true})
	off := mustSchema(t, Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &clusterdnsv1.LookupRequest{Name: tc.svc + ".ns.svc.cluster.local.", Qtype: uint32(typeA),
				ClientIp: tc.clientIP, ClientZone: tc.clientZone}
			resp := s.Answer(store, req)
			var got []string
			for _, rr := range resp.GetAnswer() {
				got = append(got, rr.GetA().GetAddress())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("answer = %v, want %v", got, tc.want)
			}
			if resp.GetZoneDependent() != tc.dependent || resp.GetZone() != tc.zone {
				t.Errorf("zone_dependent, zone = %v %q, want %v %q", resp.GetZoneDependent(), resp.GetZone(), tc.dependent, tc.zone)
			}
			for _, k := range tc.keys {
				if !slices.Contains(resp.GetKeys(), k) {
					t.Errorf("keys %v lack %s", resp.GetKeys(), k)
				}
			}
			// Without ZoneAware nothing changes.
			if plain := off.Answer(store, req); plain.GetZoneDependent() || len(plain.GetAnswer()) < len(tc.want) {
				t.Errorf("zone-unaware answer: dependent %v, %d records", plain.GetZoneDependent(), len(plain.GetAnswer()))
			}
		})
	}
}
