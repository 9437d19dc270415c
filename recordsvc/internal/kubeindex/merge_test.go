package kubeindex

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMergeOne checks that a single slice's merge shortcut gives what the
// general merge gives, and that it shares the slice's list, without a copy,
// when the slice is already its own merge.
func TestMergeOne(t *testing.T) {
	tests := []struct {
		name   string
		eps    []Endpoint
		shared bool
	}{
		{name: "empty"},
		{name: "sorted, one address each", eps: []Endpoint{ep(true, "", "10.0.0.1"), ep(false, "b", "10.0.0.2"), ep(true, "", "fd00::1")}, shared: true},
		{name: "unsorted", eps: []Endpoint{ep(true, "", "10.0.0.2"), ep(true, "", "10.0.0.1")}},
		{name: "duplicate address", eps: []Endpoint{ep(false, "a", "10.0.0.1"), ep(true, "b", "10.0.0.1")}},
		{name: "several addresses", eps: []Endpoint{ep(true, "", "10.0.0.1", "10.0.0.9"), ep(true, "", "10.0.0.2")}, shared: true},
		{name: "no address", eps: []Endpoint{ep(true, "a"), ep(true, "", "10.0.0.1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeOne(tt.eps)
			want := mergeEndpoints([][]Endpoint{tt.eps})
			if !slices.EqualFunc(got, want, endpointEqual) {
				t.Fatalf("mergeOne\n got %+v\nwant %+v", got, want)
			}
			if shared := len(got) > 0 && &got[0] == &tt.eps[0]; shared != tt.shared {
				t.Fatalf("shares the slice's list: %v, want %v", shared, tt.shared)
			}
		})
	}
}

// TestEndpointSliceFromAPIShared checks that the endpoints of a converted
// slice, which share one array of addresses and one string of names, still
// behave as separate values: appending to one endpoint's addresses leaves
// the next endpoint's alone, and names come out whole.
func TestEndpointSliceFromAPIShared(t *testing.T) {
	ref := func(name string) *corev1.ObjectReference {
		return &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name}
	}
	s := EndpointSliceFromAPI(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-x", Labels: map[string]string{serviceLabel: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1", "10.0.0.1", "10.0.0.5"}, Hostname: ptr("web-0"), TargetRef: ref("web-0-abc")},
			{Addresses: []string{"not an address"}, Hostname: ptr("gone"), TargetRef: ref("gone-1")},
			{Addresses: []string{"10.0.0.2"}, TargetRef: ref("web-1-def")},
			{Addresses: []string{"10.0.0.3"}, Hostname: ptr("web-2")},
		},
	})
	target := func(name string) EndpointDetail {
		return EndpointDetail{TargetRef: TargetRef{Kind: "Pod", Namespace: "ns", Name: name}}
	}
	want := []Endpoint{
		Endpoint{Addresses: ips("10.0.0.1", "10.0.0.5"), Hostname: "web-0", Ready: true, Serving: true}.WithDetail(target("web-0-abc")),
		Endpoint{Addresses: ips("10.0.0.2"), Ready: true, Serving: true}.WithDetail(target("web-1-def")),
		{Addresses: ips("10.0.0.3"), Hostname: "web-2", Ready: true, Serving: true},
	}
	if !slices.EqualFunc(s.Endpoints, want, endpointEqual) {
		t.Fatalf("endpoints\n got %+v\nwant %+v", s.Endpoints, want)
	}
	grown := append(s.Endpoints[0].Addresses, ips("10.0.0.7")...)
	if !slices.Equal(s.Endpoints[1].Addresses, ips("10.0.0.2")) || len(grown) != 3 {
		t.Fatalf("appending to the first endpoint's addresses changed the second's: %v", s.Endpoints[1].Addresses)
	}
}

// TestEndpointsByIPAcrossServices follows one address through two services'
// slices as they are added, moved and removed: the reverse index names the
// services whose endpoints hold it, and forgets a service with no slices.
func TestEndpointsByIPAcrossServices(t *testing.T) {
	ip := ips("10.0.0.7")[0]
	ix := New(Config{})
	services := func() []string {
		var out []string
		for _, r := range ix.EndpointsByIP(ip) {
			out = append(out, r.Namespace+"/"+r.Service)
		}
		return out
	}
	steps := []struct {
		name  string
		write func()
		want  []string
	}{
		{"first service", func() { ix.SetEndpointSlice(slice("ns", "a-1", "a", ep(true, "", "10.0.0.7"))) }, []string{"ns/a"}},
		{"second service shares it", func() { ix.SetEndpointSlice(slice("ns", "b-1", "b", ep(true, "", "10.0.0.7"))) }, []string{"ns/a", "ns/b"}},
		{"first service's slice gone", func() { ix.DeleteEndpointSlice("ns", "a-1") }, []string{"ns/b"}},
		{"slice moves to another service", func() { ix.SetEndpointSlice(slice("ns", "b-1", "c", ep(true, "", "10.0.0.7"))) }, []string{"ns/c"}},
		{"address leaves the slice", func() { ix.SetEndpointSlice(slice("ns", "b-1", "c", ep(true, "", "10.0.0.8"))) }, nil},
		{"back, then all gone", func() {
			ix.SetEndpointSlice(slice("ns", "b-1", "c", ep(true, "", "10.0.0.7")))
			ix.DeleteEndpointSlice("ns", "b-1")
		}, nil},
	}
	for _, s := range steps {
		s.write()
		if got := services(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: services of %s %v, want %v", s.name, ip, got, s.want)
		}
	}
	if len(ix.endpoints) != 0 || len(ix.endpointIP) != 0 || len(ix.sharedEndpointIP) != 0 {
		t.Fatalf("left behind: %d services, %d+%d addresses", len(ix.endpoints), len(ix.endpointIP), len(ix.sharedEndpointIP))
	}
}
