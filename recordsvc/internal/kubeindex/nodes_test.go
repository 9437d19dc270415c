package kubeindex

import (
	"context"
	"net/netip"
	"slices"
	"testing"
)

func TestClientZone(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.7")
	cases := []struct {
		name       string
		setup      func(ix *Index)
		zone, node string
	}{
		{"unknown address", func(ix *Index) {}, "", ""},
		{"pod on a zoned node", func(ix *Index) {
			ix.SetNode("n1", "zone-a")
			ix.SetPod(Pod{Namespace: "ns", Name: "p", IPs: []netip.Addr{ip}, NodeName: "n1"})
		}, "zone-a", "n1"},
		{"node without zone", func(ix *Index) {
			ix.SetPod(Pod{Namespace: "ns", Name: "p", IPs: []netip.Addr{ip}, NodeName: "n1"})
		}, "", "n1"},
		{"pods on two nodes", func(ix *Index) {
			ix.SetNode("n1", "zone-a")
			ix.SetNode("n2", "zone-b")
			ix.SetPod(Pod{Namespace: "ns", Name: "p", IPs: []netip.Addr{ip}, NodeName: "n1"})
			ix.SetPod(Pod{Namespace: "ns", Name: "q", IPs: []netip.Addr{ip}, NodeName: "n2"})
		}, "", ""},
		{"pod gone", func(ix *Index) {
			ix.SetNode("n1", "zone-a")
			ix.SetPod(Pod{Namespace: "ns", Name: "p", IPs: []netip.Addr{ip}, NodeName: "n1"})
			ix.DeletePod("ns", "p")
		}, "", ""},
		{"node relabelled", func(ix *Index) {
			ix.SetNode("n1", "zone-a")
			ix.SetPod(Pod{Namespace: "ns", Name: "p", IPs: []netip.Addr{ip}, NodeName: "n1"})
			ix.SetNode("n1", "zone-c")
		}, "zone-c", "n1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := New(Config{StartRevision: 1, ClientZones: true})
			tc.setup(ix)
			if zone, node := ix.ClientZone(ip); zone != tc.zone || node != tc.node {
				t.Errorf("ClientZone = %q %q, want %q %q", zone, node, tc.zone, tc.node)
			}
		})
	}
}

// A node's zone change is a change: it moves the revision, announces the
// node's key and the digest, and an unchanged label announces nothing.
func TestNodeZoneChanges(t *testing.T) {
	ix := New(Config{StartRevision: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sub := ix.Subscribe(ctx)
	before := ix.Digest()
	ix.SetNode("n1", "zone-a")
	ix.SetNode("n1", "zone-a")
	if ix.Revision() != 2 || ix.Digest() == before {
		t.Fatalf("revision %d, digest moved %v; want 2, true", ix.Revision(), ix.Digest() != before)
	}
	ix.DeleteNode("n1")
	if ix.Digest() != before {
		t.Error("digest after delete differs from the empty index's")
	}
	<-sub.Ready()
	changes, _ := sub.Take(nil)
	var keys []string
	for _, c := range changes {
		keys = append(keys, c.Keys...)
	}
	if !slices.Equal(keys, []string{"node/n1", "node/n1"}) {
		t.Errorf("keys = %v, want node/n1 twice", keys)
	}
}
