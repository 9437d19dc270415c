package kubeindex

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// feed applies writes to ix in order.
func feed(ix *Index, writes []func(*Index)) {
	for _, w := range writes {
		w(ix)
	}
}

func TestDigestOrderIndependent(t *testing.T) {
	svc := Service{Namespace: "a", Name: "web", ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
		Ports: []Port{{Name: "http", Protocol: "tcp", Port: 80}}}
	writes := []func(*Index){
		func(ix *Index) { ix.SetNamespace("a") },
		func(ix *Index) { ix.SetNamespace("b") },
		func(ix *Index) { ix.SetService(svc) },
		func(ix *Index) { ix.SetEndpointSlice(slice("a", "s1", "web", ep(true, "h1", "10.0.0.1"))) },
		func(ix *Index) { ix.SetEndpointSlice(slice("a", "s2", "web", ep(false, "", "10.0.0.2"))) },
		func(ix *Index) {
			ix.SetPod(Pod{Namespace: "b", Name: "p", IPs: []netip.Addr{netip.MustParseAddr("10.1.0.1")}})
		},
	}
	forward, backward := New(Config{}), New(Config{})
	feed(forward, writes)
	reversed := slices.Clone(writes)
	slices.Reverse(reversed)
	feed(backward, reversed)
	if forward.Digest().IsZero() || forward.Digest() != backward.Digest() {
		t.Fatalf("same objects, different digests: %v and %v", forward.Digest(), backward.Digest())
	}

	tests := []struct {
		name   string
		change func(*Index)
		same   bool
	}{
		{"no-op update", func(ix *Index) { ix.SetService(svc) }, true},
		{"port renamed", func(ix *Index) {
			s := svc
			s.Ports = []Port{{Name: "web", Protocol: "tcp", Port: 80}}
			ix.SetService(s)
		}, false},
		{"endpoint readiness", func(ix *Index) { ix.SetEndpointSlice(slice("a", "s2", "web", ep(true, "", "10.0.0.2"))) }, false},
		{"pod IP", func(ix *Index) {
			ix.SetPod(Pod{Namespace: "b", Name: "p", IPs: []netip.Addr{netip.MustParseAddr("10.1.0.2")}})
		}, false},
		{"namespace gone", func(ix *Index) { ix.DeleteNamespace("b") }, false},
		{"replace with the same state", func(ix *Index) {
			ix.Replace(Snapshot{Namespaces: []string{"a", "b"}, Services: []Service{svc},
				EndpointSlices: []EndpointSlice{slice("a", "s1", "web", ep(true, "h1", "10.0.0.1")),
					slice("a", "s2", "web", ep(false, "", "10.0.0.2"))},
				Pods: []Pod{{Namespace: "b", Name: "p", IPs: []netip.Addr{netip.MustParseAddr("10.1.0.1")}}}})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := New(Config{})
			feed(ix, writes)
			before := ix.Digest()
			tt.change(ix)
			if got := ix.Digest() == before; got != tt.same {
				t.Fatalf("digest unchanged = %v, want %v", got, tt.same)
			}
		})
	}

	t.Run("empty again", func(t *testing.T) {
		ix := New(Config{})
		feed(ix, writes)
		ix.Replace(Snapshot{})
		if !ix.Digest().IsZero() {
			t.Fatalf("digest of an empty index %v, want zero", ix.Digest())
		}
	})
}

func TestSubscribeFrom(t *testing.T) {
	// Each replica sees namespaces a..e created, one change each; keys of
	// the changes after the resume point make the catch-up.
	build := func(cfg Config) (*Index, []Change) {
		ix := New(cfg)
		sub := ix.Subscribe(t.Context())
		defer sub.Close()
		feed(ix, []func(*Index){
			func(ix *Index) { ix.SetNamespace("a") },
			func(ix *Index) { ix.SetNamespace("b") },
			func(ix *Index) { ix.SetNamespace("c") },
			func(ix *Index) { ix.SetNamespace("d") },
			func(ix *Index) { ix.SetNamespace("e") },
		})
		changes, _ := sub.Take(nil)
		return ix, changes
	}
	ix, changes := build(Config{StartRevision: 100})
	other, otherChanges := build(Config{StartRevision: 5000})
	tests := []struct {
		name    string
		ix      *Index
		from    ResumePoint
		resumed bool
		keys    []string
	}{
		{"by revision", ix, ResumePoint{Revision: changes[2].Revision, ByRevision: true}, true, []string{"ns/d", "ns/e"}},
		{"by current revision", ix, ResumePoint{Revision: ix.Revision(), ByRevision: true}, true, nil},
		{"by start revision", ix, ResumePoint{Revision: 100, ByRevision: true}, true,
			[]string{"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}},
		{"revision from the future", ix, ResumePoint{Revision: ix.Revision() + 1, ByRevision: true}, false, nil},
		{"revision before the start", ix, ResumePoint{Revision: 99, ByRevision: true}, false, nil},
		{"by digest of another replica", ix, ResumePoint{Digest: otherChanges[1].Digest, ByDigest: true}, true,
			[]string{"ns/c", "ns/d", "ns/e"}},
		{"by current digest", other, ResumePoint{Digest: changes[4].Digest, ByDigest: true}, true, nil},
		{"by empty digest", other, ResumePoint{ByDigest: true}, true, []string{"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}},
		{"unknown digest", ix, ResumePoint{Digest: Digest{1}, ByDigest: true}, false, nil},
		{"bad revision, good digest", ix, ResumePoint{Revision: 1, ByRevision: true, Digest: changes[3].Digest, ByDigest: true},
			true, []string{"ns/e"}},
		{"nothing", ix, ResumePoint{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := tt.ix.SubscribeFrom(t.Context(), tt.from)
			defer sub.Close()
			if sub.Resumed() != tt.resumed || !slices.Equal(sub.CatchUp(), tt.keys) {
				t.Fatalf("resumed %v catch-up %v, want %v %v", sub.Resumed(), sub.CatchUp(), tt.resumed, tt.keys)
			}
			if sub.Revision() != tt.ix.Revision() || sub.Digest() != tt.ix.Digest() {
				t.Fatalf("subscription at %d/%v, index at %d/%v", sub.Revision(), sub.Digest(), tt.ix.Revision(), tt.ix.Digest())
			}
		})
	}
}

func TestHistoryBounds(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		writes      int
		keysPer     int
		oldestKnown int // index of the earliest change still resumable after
	}{
		{"by changes", Config{HistoryChanges: 3}, 10, 1, 7},
		// The first Replace adds 2 namespaces, each later one swaps 2 for
		// 2 (4 keys): the last two fill the 8 keys.
		{"by keys", Config{HistoryKeys: 8}, 10, 2, 8},
		{"one change over the key limit", Config{HistoryKeys: 3}, 2, 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := New(tt.cfg)
			start := ix.Revision()
			for i := range tt.writes {
				ix.Replace(Snapshot{Namespaces: namespaces(i*tt.keysPer, tt.keysPer)})
			}
			// Resuming after change j (revision start+j) needs changes j+1...
			for j := 0; j <= tt.writes; j++ {
				sub := ix.SubscribeFrom(t.Context(), ResumePoint{Revision: start + uint64(j), ByRevision: true})
				want := j >= tt.oldestKnown
				if sub.Resumed() != want {
					t.Errorf("resume after change %d: %v, want %v", j, sub.Resumed(), want)
				}
				sub.Close()
			}
		})
	}
}

// namespaces returns n namespace names starting at number from.
func namespaces(from, n int) []string {
	var out []string
	for i := range n {
		out = append(out, "ns"+string(rune('a'+(from+i)%26))+string(rune('a'+(from+i)/26)))
	}
	return out
}

func TestInvisibleChangeKeepsDigestResumable(t *testing.T) {
	// Moving an endpoint from one slice of a service to another changes the
	// objects (the digest) but nothing DNS can see (no revision).
	ix := New(Config{})
	ix.SetNamespace("a")
	ix.SetEndpointSlice(slice("a", "s1", "web", ep(true, "", "10.0.0.1")))
	before, rev := ix.Digest(), ix.Revision()
	ix.SetEndpointSlice(slice("a", "s2", "web", ep(true, "", "10.0.0.1")))
	middle := ix.Digest()
	ix.DeleteEndpointSlice("a", "s1")
	if ix.Revision() != rev || middle == before || ix.Digest() == middle {
		t.Fatalf("revision %d -> %d, digests %v %v %v", rev, ix.Revision(), before, middle, ix.Digest())
	}
	for _, d := range []Digest{before, middle, ix.Digest()} {
		sub := ix.SubscribeFrom(t.Context(), ResumePoint{Digest: d, ByDigest: true})
		if !sub.Resumed() || len(sub.CatchUp()) != 0 {
			t.Errorf("digest %v: resumed %v catch-up %v", d, sub.Resumed(), sub.CatchUp())
		}
		sub.Close()
	}
}

func TestSerial(t *testing.T) {
	ix := New(Config{})
	start := ix.Serial()
	if now := uint32(time.Now().Unix()); start > now || now-start > 5 {
		t.Fatalf("serial %d at start, clock %d", start, now)
	}
	ix.mu.Lock()
	ix.advanceSerialLocked(time.Now().Add(time.Hour))
	ix.mu.Unlock()
	ahead := ix.Serial()
	ix.SetNamespace("a") // a change now, with the clock behind the serial
	if ix.Serial() != ahead {
		t.Fatalf("serial went from %d to %d", ahead, ix.Serial())
	}
}

func TestIdleSubscriptionHoldsNoQueue(t *testing.T) {
	ix := New(Config{})
	sub := ix.Subscribe(t.Context())
	defer sub.Close()
	ix.SetNamespace("a")
	if got, _ := sub.Take(nil); len(got) != 1 {
		t.Fatalf("took %v", got)
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.queue != nil {
		t.Fatalf("queue kept after it was read: cap %d", cap(sub.queue))
	}
}
