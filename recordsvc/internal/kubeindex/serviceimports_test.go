package kubeindex

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func importSlice(ns, name, service, cluster string, eps ...Endpoint) EndpointSlice {
	return EndpointSlice{Namespace: ns, Name: name, MultiClusterService: service, ClusterID: cluster, Endpoints: eps}
}

func readyAt(host string, addrs ...string) Endpoint {
	ep := Endpoint{Hostname: host, Ready: true, Serving: true}
	for _, a := range addrs {
		ep.Addresses = append(ep.Addresses, netip.MustParseAddr(a))
	}
	return ep
}

// refStrings renders ImportsByIP's result as "ns/name" or
// "ns/name cluster host".
func refStrings(refs []ImportRef) []string {
	var out []string
	for _, r := range refs {
		s := r.Import.Namespace + "/" + r.Import.Name
		if r.Endpoint != nil {
			s += " " + r.Endpoint.ClusterID + " " + r.Endpoint.Hostname
		}
		out = append(out, s)
	}
	return out
}

func TestServiceImports(t *testing.T) {
	vip := netip.MustParseAddr("10.42.42.42")
	pet := netip.MustParseAddr("10.3.0.100")
	cases := []struct {
		name      string
		setup     func(ix *Index)
		found     bool
		endpoints []string // "cluster host"
		byVIP     []string
		byPet     []string
	}{
		{"clusterset ip", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", IPs: []netip.Addr{vip}})
		}, true, nil, []string{"test/svc"}, nil},
		{"headless with slices of two clusters", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
			ix.SetEndpointSlice(importSlice("test", "b", "svc", "clusterB", readyAt("pet-1", "10.3.1.100")))
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
		}, true, []string{"clusterA pet-1", "clusterB pet-1"}, nil, []string{"test/svc clusterA pet-1"}},
		{"slice before its import", func(ix *Index) {
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
		}, true, []string{"clusterA pet-1"}, nil, []string{"test/svc clusterA pet-1"}},
		{"slice without import", func(ix *Index) {
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
		}, false, []string{"clusterA pet-1"}, nil, nil},
		{"import deleted", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", IPs: []netip.Addr{vip}})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.DeleteServiceImport("test", "svc")
		}, false, []string{"clusterA pet-1"}, nil, nil},
		{"import deleted and back", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.DeleteServiceImport("test", "svc")
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
		}, true, []string{"clusterA pet-1"}, nil, []string{"test/svc clusterA pet-1"}},
		{"slice deleted", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.DeleteEndpointSlice("test", "a")
		}, true, nil, nil, nil},
		{"slice label removed", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.SetEndpointSlice(importSlice("test", "a", "", "", readyAt("pet-1", "10.3.0.100")))
		}, true, nil, nil, nil},
		{"slice moved to another import", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.SetEndpointSlice(importSlice("test", "a", "other", "clusterA", readyAt("pet-1", "10.3.0.100")))
		}, true, nil, nil, nil},
		{"changed cluster", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterC", readyAt("pet-1", "10.3.0.100")))
		}, true, []string{"clusterC pet-1"}, nil, []string{"test/svc clusterC pet-1"}},
		{"same address as a clusterset ip and an endpoint", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", IPs: []netip.Addr{vip}})
			ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("odd", "10.42.42.42")))
		}, true, []string{"clusterA odd"}, []string{"test/svc", "test/svc clusterA odd"}, nil},
		{"ipv4-mapped addresses unmapped", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", IPs: []netip.Addr{netip.MustParseAddr("::ffff:10.42.42.42")}})
		}, true, nil, []string{"test/svc"}, nil},
		{"names compare without case", func(ix *Index) {
			ix.SetServiceImport(ServiceImport{Namespace: "Test", Name: "SVC", Headless: true})
			ix.SetEndpointSlice(importSlice("TEST", "a", "Svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
		}, true, []string{"clusterA pet-1"}, nil, []string{"Test/SVC clusterA pet-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(Config{StartRevision: 1})
			tc.setup(ix)
			if _, ok := ix.ServiceImport("test", "svc"); ok != tc.found {
				t.Errorf("ServiceImport found = %v, want %v", ok, tc.found)
			}
			var eps []string
			for _, ep := range ix.ImportEndpoints("test", "svc") {
				eps = append(eps, ep.ClusterID+" "+ep.Hostname)
			}
			if !slices.Equal(eps, tc.endpoints) {
				t.Errorf("ImportEndpoints = %v, want %v", eps, tc.endpoints)
			}
			if got := refStrings(ix.ImportsByIP(vip)); !slices.Equal(got, tc.byVIP) {
				t.Errorf("ImportsByIP(%s) = %v, want %v", vip, got, tc.byVIP)
			}
			if got := refStrings(ix.ImportsByIP(pet)); !slices.Equal(got, tc.byPet) {
				t.Errorf("ImportsByIP(%s) = %v, want %v", pet, got, tc.byPet)
			}
		})
	}
}

// Imports and imported slices are changes like any other: each announces
// the import's key and the addresses it adds or drops, an unchanged write
// announces nothing, and removing everything restores the empty digest.
func TestServiceImportChanges(t *testing.T) {
	ix := New(Config{StartRevision: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sub := ix.Subscribe(ctx)
	empty := ix.Digest()
	key := ImportKey("test", "svc")

	si := ServiceImport{Namespace: "test", Name: "svc", Headless: true}
	ix.SetServiceImport(si)
	ix.SetServiceImport(si)
	s := importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100"))
	ix.SetEndpointSlice(s)
	ix.SetEndpointSlice(s)
	if ix.Revision() != 3 {
		t.Fatalf("revision %d after two changes and two repeats, want 3", ix.Revision())
	}
	withSlice := ix.Digest()
	ix.DeleteEndpointSlice("test", "a")
	ix.SetEndpointSlice(s)
	if ix.Digest() != withSlice {
		t.Error("digest differs after a slice was deleted and added back")
	}
	ix.DeleteEndpointSlice("test", "a")
	ix.DeleteServiceImport("test", "svc")
	if ix.Digest() != empty {
		t.Error("digest after removing everything differs from the empty index's")
	}

	<-sub.Ready()
	changes, _ := sub.Take(nil)
	want := [][]string{
		{key},
		{"ip/10.3.0.100", key},
		{"ip/10.3.0.100", key},
		{"ip/10.3.0.100", key},
		{"ip/10.3.0.100", key},
		{key},
	}
	if len(changes) != len(want) {
		t.Fatalf("%d changes, want %d", len(changes), len(want))
	}
	for i, c := range changes {
		got := slices.Sorted(slices.Values(c.Keys))
		if !slices.Equal(got, want[i]) {
			t.Errorf("change %d keys = %v, want %v", i, got, want[i])
		}
	}
}

// The import's key is namespaced like a Service's, and never a Service's.
func TestImportKey(t *testing.T) {
	k := ImportKey("Test", "Svc")
	if k != "svc/test/svc/clusterset" || k == ServiceKey("test", "svc") || !strings.HasPrefix(k, ServiceKey("test", "svc")+"/") {
		t.Errorf("ImportKey = %q", k)
	}
}

// A file snapshot without an imported slice removes it.
func TestReplaceDropsImportedSlices(t *testing.T) {
	ix := New(Config{StartRevision: 1})
	ix.SetServiceImport(ServiceImport{Namespace: "test", Name: "svc", Headless: true})
	ix.SetEndpointSlice(importSlice("test", "a", "svc", "clusterA", readyAt("pet-1", "10.3.0.100")))
	ix.Replace(Snapshot{Namespaces: []string{"test"}})
	if eps := ix.ImportEndpoints("test", "svc"); len(eps) != 0 {
		t.Errorf("ImportEndpoints after Replace = %v, want none", eps)
	}
	if refs := ix.ImportsByIP(netip.MustParseAddr("10.3.0.100")); len(refs) != 0 {
		t.Errorf("ImportsByIP after Replace = %v, want none", refStrings(refs))
	}
}

func TestServiceImportFromUnstructured(t *testing.T) {
	cases := []struct {
		name string
		spec map[string]any
		want ServiceImport
	}{
		{"clusterset ip, dual stack", map[string]any{
			"type": "ClusterSetIP", "ips": []any{"10.42.42.42", "2001:db8::1", "10.42.42.42", "not-an-ip"},
			"ports": []any{
				map[string]any{"name": "https", "protocol": "TCP", "port": int64(443)},
				map[string]any{"port": int64(53), "protocol": "UDP"},
				map[string]any{"name": "bad", "port": int64(70000)},
			},
		}, ServiceImport{IPs: []netip.Addr{netip.MustParseAddr("10.42.42.42"), netip.MustParseAddr("2001:db8::1")},
			Ports: []Port{{Name: "https", Protocol: "tcp", Port: 443}, {Protocol: "udp", Port: 53}}}},
		{"headless ignores ips", map[string]any{"type": "Headless", "ips": []any{"10.42.42.42"}},
			ServiceImport{Headless: true}},
		{"no spec", nil, ServiceImport{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"namespace": "test", "name": "svc"}}}
			if tc.spec != nil {
				o.Object["spec"] = tc.spec
			}
			tc.want.Namespace, tc.want.Name = "test", "svc"
			if got := ServiceImportFromUnstructured(o); !importEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEndpointSliceFromAPIMultiCluster(t *testing.T) {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "a", Labels: map[string]string{
			multiClusterServiceLabel: "svc", sourceClusterLabel: "clusterA"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.3.0.100"}, Hostname: ptr("pet-1")}},
	}
	got := EndpointSliceFromAPI(s)
	if got.Service != "" || got.MultiClusterService != "svc" || got.ClusterID != "clusterA" || len(got.Endpoints) != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestServiceImportsResource(t *testing.T) {
	cases := []struct {
		name     string
		versions []string
		want     string // version, "" for an error
	}{
		{"v1beta1 preferred", []string{"v1alpha1", "v1beta1"}, "v1beta1"},
		{"v1alpha1", []string{"v1alpha1"}, "v1alpha1"},
		{"not installed", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			disc := fake.NewClientset().Discovery().(*fakediscovery.FakeDiscovery)
			for _, v := range tc.versions {
				disc.Resources = append(disc.Resources, &metav1.APIResourceList{
					GroupVersion: multiClusterGroup + "/" + v,
					APIResources: []metav1.APIResource{{Name: "serviceexports"}, {Name: "serviceimports", Namespaced: true}},
				})
			}
			gvr, err := serviceImportsResource(disc)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", gvr)
				}
				return
			}
			if err != nil || gvr.Version != tc.want || gvr.Resource != "serviceimports" || gvr.Group != multiClusterGroup {
				t.Errorf("got %v, %v; want version %s", gvr, err, tc.want)
			}
		})
	}
}
