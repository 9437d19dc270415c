package dnscache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestServeStale walks entries through their life with serve-stale on (or
// off) and checks what Get and GetStale hand out at each step.
func TestServeStale(t *testing.T) {
	const name = "a.ns.svc.cluster.local."
	key := NewKey(name, dns.TypeA, dns.ClassINET, false)
	fwdKey := NewForwardKey("www.example.org.", dns.TypeA, dns.ClassINET, false)
	type step struct {
		advance  time.Duration
		event    func(c *Cache)
		hit      bool // Get serves it
		stale    bool // GetStale serves it
		staleTTL uint32
	}
	tests := []struct {
		name     string
		maxStale time.Duration
		key      Key
		resp     func(t *testing.T) Response
		steps    []step
	}{
		{
			name: "cluster entry kept past its ttl for max stale", maxStale: time.Hour, key: key,
			resp: func(t *testing.T) Response { return clusterResp(t, name, "s9", 10, "svc/ns/a") },
			steps: []step{
				{10 * time.Second, nil, true, true, 7},
				{21 * time.Second, nil, false, true, 7},
				{59 * time.Minute, nil, false, true, 7},
				{time.Minute, nil, false, false, 0},
			},
		},
		{
			name: "serve-stale off", key: key,
			resp: func(t *testing.T) Response { return clusterResp(t, name, "s9", 10, "svc/ns/a") },
			steps: []step{
				{10 * time.Second, nil, true, false, 0},
				{21 * time.Second, nil, false, false, 0},
			},
		},
		{
			name: "exact entry after a broken stream", maxStale: time.Hour, key: key,
			resp: func(t *testing.T) Response { return clusterResp(t, name, "s1", 10, "svc/ns/a") },
			steps: []step{
				{2 * time.Minute, nil, true, true, 7},
				{0, (*Cache).Disconnected, false, true, 7},
				// Within max stale of the end of its hold (5m).
				{62 * time.Minute, nil, false, true, 7},
				{2 * time.Minute, nil, false, false, 0},
			},
		},
		{
			name: "invalidated entry is never stale", maxStale: time.Hour, key: key,
			resp: func(t *testing.T) Response { return clusterResp(t, name, "s1", 10, "svc/ns/a") },
			steps: []step{
				{0, func(c *Cache) { c.Invalidate("s1", 11, []string{"svc/ns/a"}) }, false, false, 0},
			},
		},
		{
			name: "resync demotes to stale only", maxStale: time.Hour, key: key,
			resp: func(t *testing.T) Response { return clusterResp(t, name, "s1", 10, "svc/ns/a") },
			steps: []step{
				{time.Second, func(c *Cache) { c.Resync("s2", 3) }, false, true, 7},
				{time.Second, func(c *Cache) { c.Invalidate("s2", 4, []string{"svc/ns/other"}) }, false, true, 7},
				// The new stream's revisions are not comparable with the
				// entry's: any invalidation of its keys drops it.
				{time.Second, func(c *Cache) { c.Invalidate("s2", 5, []string{"svc/ns/a"}) }, false, false, 0},
			},
		},
		{
			name: "resync without serve-stale drops", key: key,
			resp: func(t *testing.T) Response { return clusterResp(t, name, "s1", 10, "svc/ns/a") },
			steps: []step{
				{time.Second, func(c *Cache) { c.Resync("s2", 3) }, false, false, 0},
			},
		},
		{
			name: "upstream entry", maxStale: 10 * time.Minute, key: fwdKey,
			resp: func(t *testing.T) Response {
				return Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, "www.example.org. 60 IN A 192.0.2.1")}}
			},
			steps: []step{
				{30 * time.Second, func(c *Cache) { c.Resync("s2", 3) }, true, true, 7},
				{31 * time.Second, nil, false, true, 7},
				{10 * time.Minute, nil, false, false, 0},
			},
		},
		{
			name: "negative answer", maxStale: time.Hour, key: key,
			resp: func(t *testing.T) Response {
				return Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{rr(t, soaText)}, Cluster: true,
					Revision: 10, ServerID: "s1", Keys: []string{"svc/ns/a"}, TTL: 5}
			},
			steps: []step{
				{0, (*Cache).Disconnected, true, true, 7},
				{6 * time.Second, nil, false, true, 7},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Config{MaxStale: tt.maxStale, StaleTTL: 7 * time.Second})
			c.Resync("s1", 5)
			if !c.Set(tt.key, c.Begin(), tt.resp(t)) {
				t.Fatal("Set refused")
			}
			c.Wait()
			for i, s := range tt.steps {
				clk.advance(s.advance)
				if s.event != nil {
					s.event(c)
					c.Wait()
				}
				if _, ok := c.Get(tt.key); ok != s.hit {
					t.Errorf("step %d: Get hit = %v, want %v", i, ok, s.hit)
				}
				before := c.Stats().Stale
				got, ok := c.GetStale(tt.key)
				if ok != s.stale {
					t.Fatalf("step %d: GetStale hit = %v, want %v", i, ok, s.stale)
				}
				if !ok {
					if c.Stats().Stale != before {
						t.Errorf("step %d: stale counter moved without a stale answer", i)
					}
					continue
				}
				if c.Stats().Stale != before+1 {
					t.Errorf("step %d: stale counter %d, want %d", i, c.Stats().Stale, before+1)
				}
				for _, section := range [][]dns.RR{got.Answer, got.Ns, got.Extra} {
					for _, r := range section {
						if r.Header().Ttl != s.staleTTL {
							t.Errorf("step %d: stale record %v, want TTL %d", i, r, s.staleTTL)
						}
					}
				}
				if len(got.Answer)+len(got.Ns) == 0 {
					t.Errorf("step %d: stale answer without records", i)
				}
			}
		})
	}
}

// TestFailoverAnswers covers the window of a replica failover: the Watch
// stream follows replica s1, s1 dies, Lookups reach s2 before the stream
// does. Answers of s2 must never be kept exact against s1's revisions, and
// nothing cached before the new stream's resync is served by Get after it.
func TestFailoverAnswers(t *testing.T) {
	const (
		old    = "old.ns.svc.cluster.local."
		early  = "early.ns.svc.cluster.local."
		window = "window.ns.svc.cluster.local."
		after  = "after.ns.svc.cluster.local."
	)
	k := func(name string) Key { return NewKey(name, dns.TypeA, dns.ClassINET, false) }
	for _, maxStale := range []time.Duration{0, time.Hour} {
		t.Run("max stale "+maxStale.String(), func(t *testing.T) {
			c, clk := newTestCache(t, Config{MaxStale: maxStale})
			c.Resync("s1", 5)
			// Exact answer of the followed replica.
			if !c.Set(k(old), c.Begin(), clusterResp(t, old, "s1", 10, "svc/ns/old")) {
				t.Fatal("Set of s1's answer refused")
			}
			// s1 died; a Lookup already reached s2 (revision 900, far
			// beyond s1's) while the stream still follows s1: kept for its
			// record TTL only.
			if !c.Set(k(early), c.Begin(), clusterResp(t, early, "s2", 900, "svc/ns/early")) {
				t.Fatal("Set of s2's early answer refused")
			}
			// A lookup begun before the stream broke is refused.
			inFlight := c.Begin()
			c.Disconnected()
			if c.Set(k(after), inFlight, clusterResp(t, after, "s2", 901, "svc/ns/after")) {
				t.Error("answer begun before the stream broke was stored")
			}
			// Between the break and the new stream: record TTL only.
			if !c.Set(k(window), c.Begin(), clusterResp(t, window, "s2", 901, "svc/ns/window")) {
				t.Fatal("Set of s2's answer while disconnected refused")
			}
			c.Wait()
			clk.advance(10 * time.Second)
			for _, name := range []string{old, early, window} {
				got, ok := c.Get(k(name))
				if !ok {
					t.Fatalf("%s: not served within its record TTL", name)
				}
				// Not exact: the TTL shows the time left.
				if ttl := got.Answer[0].Header().Ttl; ttl != 20 {
					t.Errorf("%s: TTL %d, want 20 (record TTL, decremented)", name, ttl)
				}
			}
			// The stream reopens on s2: nothing from before is served.
			c.Resync("s2", 1000)
			c.Wait()
			for _, name := range []string{old, early, window} {
				if _, ok := c.Get(k(name)); ok {
					t.Errorf("%s: served after the resync to s2", name)
				}
			}
			// s2's answers from now on are exact.
			if !c.Set(k(after), c.Begin(), clusterResp(t, after, "s2", 1000, "svc/ns/after")) {
				t.Fatal("Set after the resync refused")
			}
			c.Wait()
			clk.advance(time.Minute)
			if got, ok := c.Get(k(after)); !ok || got.Answer[0].Header().Ttl != 30 {
				t.Errorf("answer of the followed replica not exact after a minute: %v %v", got, ok)
			}
		})
	}
}

// TestStaleReplaced: with serve-stale on, entries stay in ristretto past their
// life, and a fresh Set replaces a stale entry.
func TestStaleReplaced(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxStale: time.Hour})
	c.Resync("s1", 5)
	const name = "a.ns.svc.cluster.local."
	key := NewKey(name, dns.TypeA, dns.ClassINET, false)
	c.Set(key, c.Begin(), clusterResp(t, name, "s9", 10, "svc/ns/a"))
	c.Wait()
	clk.advance(time.Minute)
	if _, ok := c.GetStale(key); !ok {
		t.Fatal("no stale entry")
	}
	fresh := clusterResp(t, name, "s9", 11, "svc/ns/a")
	fresh.Answer = []dns.RR{rr(t, name+" 30 IN A 10.0.0.2")}
	if !c.Set(key, c.Begin(), fresh) {
		t.Fatal("fresh Set refused")
	}
	c.Wait()
	got, ok := c.Get(key)
	if !ok || got.Answer[0].(*dns.A).A.String() != "10.0.0.2" {
		t.Fatalf("fresh answer not served: %v %v", got, ok)
	}
	if s := c.Stats(); s.Entries != 1 {
		t.Errorf("%d entries, want 1", s.Entries)
	}
}
