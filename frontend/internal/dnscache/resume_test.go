package dnscache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestResume: after a resumed stream the entries depending on a changed key
// die, the others stay hits and exact (beyond their record TTL), and a later
// invalidation compares revisions only with entries of the server now
// followed.
func TestResume(t *testing.T) {
	const (
		nameA = "a.ns.svc.cluster.local."
		nameB = "b.ns.svc.cluster.local."
	)
	keyA := NewKey(nameA, dns.TypeA, dns.ClassINET, false)
	keyB := NewKey(nameB, dns.TypeA, dns.ClassINET, false)
	tests := []struct {
		name         string
		disconnect   bool // a Disconnected before the Resume
		server       string
		revision     uint64
		sameServer   bool
		changed      []string
		wantA, wantB bool   // hits right after the Resume
		invRev       uint64 // a later invalidation of svc/ns/b at this revision
		wantBAfter   bool   // b still a hit after it
	}{
		{"same server keeps what did not change", true, "s1", 20, true, []string{"svc/ns/a"}, false, true, 5, true},
		{"same server: a newer change of b drops it", true, "s1", 20, true, []string{"svc/ns/a"}, false, true, 21, false},
		{"nothing changed", true, "s1", 20, true, nil, true, true, 5, true},
		{"other server: revisions not comparable", true, "s2", 3, false, []string{"svc/ns/a"}, false, true, 4, false},
		{"client says same, cache followed another", true, "s2", 3, true, []string{"svc/ns/a"}, false, true, 4, false},
		{"no broken stream: a resync", false, "s1", 20, true, []string{"svc/ns/a"}, false, false, 21, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Config{})
			c.Resync("s1", 5)
			for _, e := range []struct {
				key  Key
				name string
				dep  string
			}{{keyA, nameA, "svc/ns/a"}, {keyB, nameB, "svc/ns/b"}} {
				if !c.Set(e.key, c.Begin(), clusterResp(t, e.name, "s1", 10, e.dep)) {
					t.Fatalf("Set %s refused", e.name)
				}
			}
			c.Wait()
			if tt.disconnect {
				c.Disconnected()
			}
			c.Resume(tt.server, tt.revision, tt.changed, tt.sameServer)
			c.Wait()
			if _, hit := c.Get(keyA); hit != tt.wantA {
				t.Errorf("a after resume: hit %v, want %v", hit, tt.wantA)
			}
			if _, hit := c.Get(keyB); hit != tt.wantB {
				t.Errorf("b after resume: hit %v, want %v", hit, tt.wantB)
			}
			// Past the record TTL (30s), within ClusterTTL: only an exact
			// entry is still served.
			clk.advance(time.Minute)
			if _, hit := c.Get(keyB); hit != tt.wantB {
				t.Errorf("b a minute later: hit %v, want %v (exact again after the resume)", hit, tt.wantB)
			}
			c.Invalidate(tt.server, tt.invRev, []string{"svc/ns/b"})
			c.Wait()
			if _, hit := c.Get(keyB); hit != tt.wantBAfter {
				t.Errorf("b after an invalidation at %d: hit %v, want %v", tt.invRev, hit, tt.wantBAfter)
			}
		})
	}
}

// TestResumeRacesFill: fills begun before or during the outage are stored
// after a resume only when nothing they depend on changed and their
// revision is comparable.
func TestResumeRacesFill(t *testing.T) {
	const name = "a.ns.svc.cluster.local."
	key := NewKey(name, dns.TypeA, dns.ClassINET, false)
	tests := []struct {
		name       string
		beginAt    string // "before" the outage, "during" it, "after" the resume
		server     string // of the resume
		sameServer bool
		answerFrom string
		answerRev  uint64
		changed    []string
		wantSet    bool
	}{
		{"before, key changed", "before", "s1", true, "s1", 10, []string{"svc/ns/a"}, false},
		{"before, other key changed", "before", "s1", true, "s1", 10, []string{"svc/ns/b"}, true},
		{"during the outage", "during", "s1", true, "s1", 21, nil, false},
		{"after, same server", "after", "s1", true, "s1", 20, []string{"svc/ns/a"}, true},
		{"before, other server, answer of the old one", "before", "s2", false, "s1", 10, nil, false},
		{"before, other server, answer at its stream's revision", "before", "s2", false, "s2", 3, nil, true},
		{"after, other server, older than the stream", "after", "s2", false, "s2", 2, nil, false},
		{"after, other server, at the stream's revision", "after", "s2", false, "s2", 3, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{})
			c.Resync("s1", 5)
			var fill Fill
			if tt.beginAt == "before" {
				fill = c.Begin()
			}
			c.Disconnected()
			if tt.beginAt == "during" {
				fill = c.Begin()
			}
			rev := uint64(20)
			if tt.server != "s1" {
				rev = 3
			}
			c.Resume(tt.server, rev, tt.changed, tt.sameServer)
			if tt.beginAt == "after" {
				fill = c.Begin()
			}
			if got := c.Set(key, fill, clusterResp(t, name, tt.answerFrom, tt.answerRev, "svc/ns/a")); got != tt.wantSet {
				t.Errorf("Set = %v, want %v", got, tt.wantSet)
			}
		})
	}
}
