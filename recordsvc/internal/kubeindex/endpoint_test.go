package kubeindex

import (
	"reflect"
	"slices"
	"testing"
)

// TestEndpointDetail checks that an Endpoint hands back the detail it was
// given, and that endpoints compare equal exactly when their details do.
func TestEndpointDetail(t *testing.T) {
	tests := []struct {
		name string
		d    EndpointDetail
	}{
		{name: "none"},
		{name: "node and zone", d: EndpointDetail{NodeName: "node-a", Zone: "zone-1"}},
		{name: "hints", d: EndpointDetail{Zone: "zone-1", ForZones: []string{"zone-1", "zone-2"}}},
		{name: "one hint", d: EndpointDetail{ForZones: []string{"zone-2"}}},
		{name: "target only", d: EndpointDetail{TargetRef: TargetRef{Kind: "Pod", Namespace: "ns", Name: "web-0"}}},
		{name: "all", d: EndpointDetail{NodeName: "n", Zone: "z", ForZones: []string{"z"}, TargetRef: TargetRef{Kind: "Pod", Namespace: "ns", Name: "web-1"}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ep(true, "", "10.0.0.1").WithDetail(tt.d)
			if got := e.Detail(); !reflect.DeepEqual(got, tt.d) {
				t.Fatalf("Detail() = %+v, want %+v", got, tt.d)
			}
			for j, other := range tests {
				o := ep(true, "", "10.0.0.1").WithDetail(other.d)
				if eq := endpointEqual(e, o); eq != (i == j) {
					t.Fatalf("endpointEqual with %q: %v", other.name, eq)
				}
			}
			if back := e.WithDetail(EndpointDetail{}); !endpointEqual(back, ep(true, "", "10.0.0.1")) {
				t.Fatalf("detail not cleared: %+v", back.Detail())
			}
		})
	}
}

// TestEndpointZones checks the zone readers that answers use against the
// detail they summarize.
func TestEndpointZones(t *testing.T) {
	details := []EndpointDetail{
		{},
		{Zone: "zone-1"},
		{Zone: "zone-1", NodeName: "other node"},
		{Zone: "zone-1", ForZones: []string{"zone-1"}},
		{Zone: "zone-2", ForZones: []string{"zone-1", "zone-2"}},
		{ForZones: []string{"zone-2", "zone-1"}},
	}
	for _, d := range details {
		e := ep(true, "", "10.0.0.1").WithDetail(d)
		if e.Hinted() != (len(d.ForZones) > 0) {
			t.Errorf("%+v: Hinted %v", d, e.Hinted())
		}
		for _, z := range []string{"zone-1", "zone-2", "zone-3", ""} {
			if got, want := e.ForHint(z), slices.Contains(d.ForZones, z); got != want {
				t.Errorf("%+v: ForHint(%q) = %v, want %v", d, z, got, want)
			}
		}
		for _, od := range details {
			o := ep(true, "", "10.0.0.2").WithDetail(od)
			want := d.Zone == od.Zone && slices.Equal(d.ForZones, od.ForZones)
			if got := e.SameZones(o); got != want {
				t.Errorf("%+v SameZones %+v = %v, want %v", d, od, got, want)
			}
		}
	}
}
