package dnscache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestCache(t *testing.T, cfg Config) (*Cache, *clock) {
	t.Helper()
	clk := newClock()
	cfg.Now = clk.Now
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c, clk
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

const soaText = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 5"

func TestNewKey(t *testing.T) {
	base := NewKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	tests := []struct {
		name string
		key  Key
		same bool
	}{
		{"same", NewKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), true},
		{"other case", NewKey("WEB.Default.svc.CLUSTER.local.", dns.TypeA, dns.ClassINET, false), true},
		{"no trailing dot", NewKey("web.default.svc.cluster.local", dns.TypeA, dns.ClassINET, false), true},
		{"other type", NewKey("web.default.svc.cluster.local.", dns.TypeAAAA, dns.ClassINET, false), false},
		{"other class", NewKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassCHAOS, false), false},
		{"DO bit", NewKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, true), false},
		{"other name", NewKey("db.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"type in name", NewKey("web.default.svc.cluster.local.\x00\x01", dns.TypeA, dns.ClassINET, false), false},
		{"forward key", NewForwardKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"forward key with DO", NewForwardKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, true), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.id == base.id; got != tt.same {
				t.Errorf("same key = %v, want %v", got, tt.same)
			}
		})
	}
	if got := NewKey("Web.Default.svc.cluster.local", dns.TypeA, dns.ClassINET, false).Name(); got != "Web.Default.svc.cluster.local." {
		t.Errorf("Name() = %q, want the name as asked, fully qualified", got)
	}
}

func TestMinTTL(t *testing.T) {
	tests := []struct {
		name              string
		rcode             int
		answer, ns, extra []string
		want              uint32
	}{
		{"single", dns.RcodeSuccess, []string{"a.cluster.local. 30 IN A 10.0.0.1"}, nil, nil, 30},
		{"smallest of sections", dns.RcodeSuccess,
			[]string{"a.cluster.local. 30 IN A 10.0.0.1", "a.cluster.local. 20 IN A 10.0.0.2"},
			nil, []string{"b.cluster.local. 10 IN A 10.0.0.3"}, 10},
		{"zero ttl", dns.RcodeSuccess, []string{"a.cluster.local. 0 IN A 10.0.0.1"}, nil, nil, 0},
		{"nxdomain soa minimum", dns.RcodeNameError, nil, []string{soaText}, nil, 5},
		{"nxdomain soa ttl smaller", dns.RcodeNameError, nil,
			[]string{"cluster.local. 3 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 60"}, nil, 3},
		{"nodata soa", dns.RcodeSuccess, nil, []string{soaText}, nil, 5},
		{"nxdomain without soa", dns.RcodeNameError, nil, nil, nil, 0},
		{"nodata without soa", dns.RcodeSuccess, nil, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := func(ss []string) []dns.RR {
				var out []dns.RR
				for _, s := range ss {
					out = append(out, rr(t, s))
				}
				return out
			}
			extra := conv(tt.extra)
			extra = append(extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Ttl: 0}})
			if got := MinTTL(tt.rcode, conv(tt.answer), conv(tt.ns), extra); got != tt.want {
				t.Errorf("MinTTL = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPlainEntries covers responses not kept exact by a Watch stream: TTL
// decrement, expiry, case, and what is never cached.
func TestPlainEntries(t *testing.T) {
	type step struct {
		advance time.Duration
		query   string // name to ask, case as asked
		hit     bool
		ttl     uint32 // expected TTL of the first answer (or authority) record on a hit
		owner   string // expected owner of the first answer record on a hit
	}
	tests := []struct {
		name    string
		asked   string
		resp    Response
		wantSet bool
		steps   []step
	}{
		{
			name:    "ttl decrements then expires",
			asked:   "web.default.svc.cluster.local.",
			resp:    Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, "web.default.svc.cluster.local. 30 IN A 10.0.0.1")}},
			wantSet: true,
			steps: []step{
				{0, "web.default.svc.cluster.local.", true, 30, "web.default.svc.cluster.local."},
				{10 * time.Second, "web.default.svc.cluster.local.", true, 20, "web.default.svc.cluster.local."},
				{19*time.Second + 500*time.Millisecond, "web.default.svc.cluster.local.", true, 1, "web.default.svc.cluster.local."},
				{time.Second, "web.default.svc.cluster.local.", false, 0, ""},
			},
		},
		{
			name:  "query case on hit",
			asked: "Web.Default.svc.cluster.local.",
			resp: Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{
				rr(t, "Web.Default.svc.cluster.local. 30 IN CNAME db.default.svc.cluster.local."),
				rr(t, "db.default.svc.cluster.local. 30 IN A 10.0.0.2"),
			}},
			wantSet: true,
			steps: []step{
				{0, "WEB.default.SVC.cluster.local.", true, 30, "WEB.default.SVC.cluster.local."},
				{0, "Web.Default.svc.cluster.local.", true, 30, "Web.Default.svc.cluster.local."},
			},
		},
		{
			name:    "ttl capped by response ttl",
			asked:   "web.default.svc.cluster.local.",
			resp:    Response{Rcode: dns.RcodeSuccess, TTL: 5, Answer: []dns.RR{rr(t, "web.default.svc.cluster.local. 30 IN A 10.0.0.1")}},
			wantSet: true,
			steps: []step{
				// Records of an answer not from the record service carry
				// the answer's lifetime.
				{4 * time.Second, "web.default.svc.cluster.local.", true, 1, "web.default.svc.cluster.local."},
				{time.Second, "web.default.svc.cluster.local.", false, 0, ""},
			},
		},
		{
			name:    "nxdomain cached for soa minimum",
			asked:   "nope.default.svc.cluster.local.",
			resp:    Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{rr(t, soaText)}},
			wantSet: true,
			steps: []step{
				// The SOA shows min(SOA TTL, SOA minimum) - age (RFC 2308).
				{2 * time.Second, "nope.default.svc.cluster.local.", true, 3, ""},
				{3 * time.Second, "nope.default.svc.cluster.local.", false, 0, ""},
			},
		},
		{
			name:    "servfail never cached",
			asked:   "web.default.svc.cluster.local.",
			resp:    Response{Rcode: dns.RcodeServerFailure, Answer: []dns.RR{rr(t, "web.default.svc.cluster.local. 30 IN A 10.0.0.1")}},
			wantSet: false,
			steps:   []step{{0, "web.default.svc.cluster.local.", false, 0, ""}},
		},
		{
			name:    "ttl zero not cached",
			asked:   "web.default.svc.cluster.local.",
			resp:    Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, "web.default.svc.cluster.local. 0 IN A 10.0.0.1")}},
			wantSet: false,
			steps:   []step{{0, "web.default.svc.cluster.local.", false, 0, ""}},
		},
		{
			name:    "negative without soa not cached",
			asked:   "nope.default.svc.cluster.local.",
			resp:    Response{Rcode: dns.RcodeNameError},
			wantSet: false,
			steps:   []step{{0, "nope.default.svc.cluster.local.", false, 0, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Config{})
			key := NewKey(tt.asked, dns.TypeA, dns.ClassINET, false)
			if got := c.Set(key, c.Begin(), tt.resp); got != tt.wantSet {
				t.Fatalf("Set = %v, want %v", got, tt.wantSet)
			}
			c.Wait()
			for i, s := range tt.steps {
				clk.advance(s.advance)
				got, ok := c.Get(NewKey(s.query, dns.TypeA, dns.ClassINET, false))
				if ok != s.hit {
					t.Fatalf("step %d: hit = %v, want %v", i, ok, s.hit)
				}
				if !ok {
					continue
				}
				first := append(append([]dns.RR{}, got.Answer...), got.Ns...)[0]
				if first.Header().Ttl != s.ttl {
					t.Errorf("step %d: ttl = %d, want %d", i, first.Header().Ttl, s.ttl)
				}
				if s.owner != "" && first.Header().Name != s.owner {
					t.Errorf("step %d: owner = %q, want %q", i, first.Header().Name, s.owner)
				}
				if got.Rcode != tt.resp.Rcode {
					t.Errorf("step %d: rcode = %d, want %d", i, got.Rcode, tt.resp.Rcode)
				}
			}
		})
	}
}

// TestGetReturnsCopies checks that a caller modifying a hit does not change
// the cache, and that Set copies what it is given.
func TestGetReturnsCopies(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	key := NewKey("web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	a := rr(t, "web.default.svc.cluster.local. 30 IN A 10.0.0.1")
	c.Set(key, c.Begin(), Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a}})
	c.Wait()
	a.Header().Ttl = 1
	got, ok := c.Get(key)
	if !ok {
		t.Fatal("miss")
	}
	got.Answer[0].Header().Ttl = 2
	got.Answer[0].(*dns.A).A[0] = 99
	again, ok := c.Get(key)
	if !ok {
		t.Fatal("miss")
	}
	if s := again.Answer[0].String(); s != "web.default.svc.cluster.local.\t30\tIN\tA\t10.0.0.1" {
		t.Errorf("cached record changed: %s", s)
	}
}

// clusterResp is a record-service answer for tests.
func clusterResp(t *testing.T, name string, server string, rev uint64, keys ...string) Response {
	return Response{
		Rcode:    dns.RcodeSuccess,
		Answer:   []dns.RR{rr(t, name+" 30 IN A 10.0.0.1")},
		Cluster:  true,
		Revision: rev,
		ServerID: server,
		Keys:     keys,
	}
}

// TestInvalidation: an invalidation drops exactly the entries that depend on
// its keys and are older than its revision.
func TestInvalidation(t *testing.T) {
	type stored struct {
		name string
		rev  uint64
		keys []string
	}
	tests := []struct {
		name      string
		entries   []stored
		invServer string
		invRev    uint64
		invKeys   []string
		wantHit   map[string]bool
	}{
		{
			name: "only dependents dropped",
			entries: []stored{
				{"a.ns.svc.cluster.local.", 10, []string{"svc/ns/a"}},
				{"b.ns.svc.cluster.local.", 10, []string{"svc/ns/b"}},
				{"c.ns.svc.cluster.local.", 10, []string{"svc/ns/a", "ns/ns"}},
			},
			invServer: "s1", invRev: 11, invKeys: []string{"svc/ns/a"},
			wantHit: map[string]bool{"a.ns.svc.cluster.local.": false, "b.ns.svc.cluster.local.": true, "c.ns.svc.cluster.local.": false},
		},
		{
			name: "several keys",
			entries: []stored{
				{"a.ns.svc.cluster.local.", 10, []string{"svc/ns/a"}},
				{"b.ns.svc.cluster.local.", 10, []string{"svc/ns/b"}},
				{"c.ns.svc.cluster.local.", 10, []string{"svc/ns/c"}},
			},
			invServer: "s1", invRev: 11, invKeys: []string{"svc/ns/a", "svc/ns/c"},
			wantHit: map[string]bool{"a.ns.svc.cluster.local.": false, "b.ns.svc.cluster.local.": true, "c.ns.svc.cluster.local.": false},
		},
		{
			name: "entries computed at or after the revision stay",
			entries: []stored{
				{"a.ns.svc.cluster.local.", 11, []string{"svc/ns/a"}},
				{"b.ns.svc.cluster.local.", 12, []string{"svc/ns/a"}},
				{"c.ns.svc.cluster.local.", 10, []string{"svc/ns/a"}},
			},
			invServer: "s1", invRev: 11, invKeys: []string{"svc/ns/a"},
			wantHit: map[string]bool{"a.ns.svc.cluster.local.": true, "b.ns.svc.cluster.local.": true, "c.ns.svc.cluster.local.": false},
		},
		{
			name: "message from another server drops every cluster entry",
			entries: []stored{
				{"a.ns.svc.cluster.local.", 10, []string{"svc/ns/a"}},
				{"b.ns.svc.cluster.local.", 10, []string{"svc/ns/b"}},
			},
			invServer: "s2", invRev: 3, invKeys: []string{"svc/ns/zzz"},
			wantHit: map[string]bool{"a.ns.svc.cluster.local.": false, "b.ns.svc.cluster.local.": false},
		},
		{
			name: "unknown key drops nothing",
			entries: []stored{
				{"a.ns.svc.cluster.local.", 10, []string{"svc/ns/a"}},
			},
			invServer: "s1", invRev: 11, invKeys: []string{"svc/other/a"},
			wantHit: map[string]bool{"a.ns.svc.cluster.local.": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{})
			c.Resync("s1", 5)
			for _, e := range tt.entries {
				if !c.Set(NewKey(e.name, dns.TypeA, dns.ClassINET, false), c.Begin(), clusterResp(t, e.name, "s1", e.rev, e.keys...)) {
					t.Fatalf("Set %s refused", e.name)
				}
			}
			c.Wait()
			c.Invalidate(tt.invServer, tt.invRev, tt.invKeys)
			c.Wait()
			for name, want := range tt.wantHit {
				if _, got := c.Get(NewKey(name, dns.TypeA, dns.ClassINET, false)); got != want {
					t.Errorf("%s: hit = %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestInvalidationRacesFill provokes the race of DESIGN.md section 4: an
// answer computed before a change reaches Set after the change's
// invalidation. It must not be stored; an answer computed at the new
// revision must be.
func TestInvalidationRacesFill(t *testing.T) {
	tests := []struct {
		name      string
		server    string // server the answer comes from
		answerRev uint64
		between   func(c *Cache) // what happens between Begin and Set
		wantSet   bool
	}{
		{"invalidation of a key wins", "s1", 10, func(c *Cache) { c.Invalidate("s1", 11, []string{"svc/ns/a"}) }, false},
		{"answer at the invalidated revision is kept", "s1", 11, func(c *Cache) { c.Invalidate("s1", 11, []string{"svc/ns/a"}) }, true},
		{"invalidation of another key is harmless", "s1", 10, func(c *Cache) { c.Invalidate("s1", 11, []string{"svc/ns/b"}) }, true},
		{"resync wins", "s1", 10, func(c *Cache) { c.Resync("s1", 10) }, false},
		{"broken stream wins", "s1", 10, func(c *Cache) { c.Disconnected() }, false},
		{"other server: any invalidation of the key wins", "s9", 500, func(c *Cache) { c.Invalidate("s1", 11, []string{"svc/ns/a"}) }, false},
		{"other server: other keys harmless", "s9", 500, func(c *Cache) { c.Invalidate("s1", 11, []string{"svc/ns/b"}) }, true},
		{"nothing happens", "s1", 10, func(*Cache) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{})
			c.Resync("s1", 5)
			const name = "a.ns.svc.cluster.local."
			key := NewKey(name, dns.TypeA, dns.ClassINET, false)
			fill := c.Begin()
			tt.between(c)
			if got := c.Set(key, fill, clusterResp(t, name, tt.server, tt.answerRev, "svc/ns/a")); got != tt.wantSet {
				t.Fatalf("Set = %v, want %v", got, tt.wantSet)
			}
			c.Wait()
			if _, hit := c.Get(key); hit != tt.wantSet {
				t.Errorf("hit = %v, want %v", hit, tt.wantSet)
			}
			if !tt.wantSet && c.Stats().Refused != 1 {
				t.Errorf("Refused = %d, want 1", c.Stats().Refused)
			}
		})
	}
}

// TestRefusedAfterInvalidationBeforeBegin: the same server may answer from
// an older revision than an invalidation already seen only through a bug or
// a lagging replica; the per-key revision refuses it too.
func TestRefusedOlderThanSeenInvalidation(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 5)
	c.Invalidate("s1", 11, []string{"svc/ns/a"})
	key := NewKey("a.ns.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	if c.Set(key, c.Begin(), clusterResp(t, "a.ns.svc.cluster.local.", "s1", 10, "svc/ns/a")) {
		t.Error("answer at revision 10 stored after an invalidation at 11")
	}
	if c.Set(key, c.Begin(), clusterResp(t, "a.ns.svc.cluster.local.", "s1", 4, "svc/ns/b")) {
		t.Error("answer older than the resync revision stored")
	}
	if !c.Set(key, c.Begin(), clusterResp(t, "a.ns.svc.cluster.local.", "s1", 12, "svc/ns/a")) {
		t.Error("answer at revision 12 refused")
	}
}

// TestExactLifetime: exact entries outlive their record TTL up to
// ClusterTTL while the stream stays open, showing the record TTL; a broken
// stream brings them back to the record TTL; a resync drops them.
func TestExactLifetime(t *testing.T) {
	const name = "a.ns.svc.cluster.local."
	key := NewKey(name, dns.TypeA, dns.ClassINET, false)
	type step struct {
		advance time.Duration
		event   func(c *Cache)
		hit     bool
		ttl     uint32
	}
	tests := []struct {
		name       string
		clusterTTL time.Duration
		server     string
		keys       []string
		steps      []step
	}{
		{
			name: "held up to cluster ttl", server: "s1", keys: []string{"svc/ns/a"},
			steps: []step{
				{10 * time.Second, nil, true, 30},
				{50 * time.Second, nil, true, 30},
				{230 * time.Second, nil, true, 30},
				{10 * time.Second, nil, false, 0},
			},
		},
		{
			name: "extension disabled", clusterTTL: -1, server: "s1", keys: []string{"svc/ns/a"},
			steps: []step{
				{10 * time.Second, nil, true, 30},
				{21 * time.Second, nil, false, 0},
			},
		},
		{
			name: "broken stream falls back to record ttl", server: "s1", keys: []string{"svc/ns/a"},
			steps: []step{
				{10 * time.Second, (*Cache).Disconnected, true, 20},
				{15 * time.Second, nil, true, 5},
				{6 * time.Second, nil, false, 0},
			},
		},
		{
			name: "resync drops", server: "s1", keys: []string{"svc/ns/a"},
			steps: []step{
				{10 * time.Second, nil, true, 30},
				{0, func(c *Cache) { c.Resync("s1", 20) }, false, 0},
			},
		},
		{
			name: "other server is not exact", server: "s2", keys: []string{"svc/ns/a"},
			steps: []step{
				{10 * time.Second, nil, true, 20},
				{21 * time.Second, nil, false, 0},
			},
		},
		{
			name: "no keys is not exact", server: "s1",
			steps: []step{
				{10 * time.Second, nil, true, 20},
				{21 * time.Second, nil, false, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Config{ClusterTTL: tt.clusterTTL})
			c.Resync("s1", 5)
			if !c.Set(key, c.Begin(), clusterResp(t, name, tt.server, 10, tt.keys...)) {
				t.Fatal("Set refused")
			}
			c.Wait()
			for i, s := range tt.steps {
				clk.advance(s.advance)
				if s.event != nil {
					s.event(c)
					c.Wait()
				}
				got, ok := c.Get(key)
				if ok != s.hit {
					t.Fatalf("step %d: hit = %v, want %v", i, ok, s.hit)
				}
				if ok && got.Answer[0].Header().Ttl != s.ttl {
					t.Errorf("step %d: ttl = %d, want %d", i, got.Answer[0].Header().Ttl, s.ttl)
				}
			}
		})
	}
}

// TestResyncKeepsOtherEntries: a resync drops cluster entries only.
func TestResyncKeepsOtherEntries(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 5)
	cluster := NewKey("a.ns.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	other := NewKey("example.org.", dns.TypeA, dns.ClassINET, false)
	c.Set(cluster, c.Begin(), clusterResp(t, "a.ns.svc.cluster.local.", "s1", 10, "svc/ns/a"))
	c.Set(other, c.Begin(), Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, "example.org. 300 IN A 192.0.2.1")}})
	c.Wait()
	c.Resync("s2", 1)
	c.Wait()
	if _, ok := c.Get(cluster); ok {
		t.Error("cluster entry survived a resync")
	}
	if _, ok := c.Get(other); !ok {
		t.Error("non-cluster entry dropped by a resync")
	}
	if s := c.Stats(); s.Invalidated != 1 || s.Invalidations != 2 {
		t.Errorf("stats = %+v, want 1 invalidated, 2 invalidations", s)
	}
}

// TestForgetOldMarks: beyond MaxTrackedKeys the oldest marks go, and
// answers older than them are refused instead of trusted.
func TestForgetOldMarks(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxTrackedKeys: 4})
	c.Resync("s1", 1)
	for i := range 10 {
		c.Invalidate("s1", uint64(10+i), []string{fmt.Sprintf("svc/ns/k%d", i)})
	}
	c.mu.Lock()
	marks, floor := len(c.marks), c.floorRev
	c.mu.Unlock()
	if marks > 4 {
		t.Errorf("%d marks kept, want at most 4", marks)
	}
	if floor < 15 {
		t.Errorf("floor revision %d, want at least 15", floor)
	}
	tests := []struct {
		rev  uint64
		key  string
		want bool
	}{
		{10, "svc/ns/k0", false},    // forgotten key, older than the floor
		{12, "svc/ns/other", false}, // never invalidated, but older than the floor
		{18, "svc/ns/k9", false},    // remembered key invalidated at 19
		{19, "svc/ns/k9", true},
		{30, "svc/ns/k0", true},
	}
	for _, tt := range tests {
		key := NewKey(fmt.Sprintf("r%d.ns.svc.cluster.local.", tt.rev), dns.TypeA, dns.ClassINET, false)
		if got := c.Set(key, c.Begin(), clusterResp(t, key.Name(), "s1", tt.rev, tt.key)); got != tt.want {
			t.Errorf("Set at revision %d with %s = %v, want %v", tt.rev, tt.key, got, tt.want)
		}
	}
}

// TestIndexCleanedOnEviction fills a small cache far beyond its size and
// checks that the key index holds only entries ristretto still has, and
// that replaced entries leave it.
func TestIndexCleanedOnEviction(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxBytes: 20 << 10})
	c.Resync("s1", 1)
	for i := range 2000 {
		name := fmt.Sprintf("s%d.ns.svc.cluster.local.", i%500)
		key := NewKey(name, dns.TypeA, dns.ClassINET, false)
		c.Set(key, c.Begin(), clusterResp(t, name, "s1", uint64(2+i), fmt.Sprintf("svc/ns/s%d", i%500), "ns/ns"))
	}
	c.Wait()
	c.mu.Lock()
	indexed := c.index.all()
	nsSet := len(c.index.dependents("ns/ns"))
	c.mu.Unlock()
	if len(indexed) == 0 || len(indexed) >= 500 {
		t.Fatalf("%d indexed entries, want some but fewer than 500 in a 20 KiB cache", len(indexed))
	}
	if nsSet != len(indexed) {
		t.Errorf("ns/ns indexes %d entries, cluster set has %d", nsSet, len(indexed))
	}
	for _, e := range indexed {
		v, ok := c.rc.Get(e.id)
		if !ok || v != e {
			t.Errorf("indexed entry %s is not the one ristretto holds", e.name)
		}
	}
	if s := c.Stats(); s.Entries != int64(len(indexed)) || s.Evictions == 0 {
		t.Errorf("stats %+v: want %d entries and some evictions", s, len(indexed))
	}
}

// TestConcurrentUse runs fills, hits and invalidations together (for the
// race detector) and then checks that no entry older than the last
// invalidation of its key is served.
func TestConcurrentUse(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 1)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		rev uint64 = 1
	)
	current := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return rev
	}
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				name := fmt.Sprintf("s%d.ns.svc.cluster.local.", (i+w)%20)
				key := NewKey(name, dns.TypeA, dns.ClassINET, false)
				if _, ok := c.Get(key); ok {
					continue
				}
				fill := c.Begin()
				r := current()
				c.Set(key, fill, clusterResp(t, name, "s1", r, fmt.Sprintf("svc/ns/s%d", (i+w)%20)))
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			mu.Lock()
			rev++
			r := rev
			mu.Unlock()
			c.Invalidate("s1", r, []string{fmt.Sprintf("svc/ns/s%d", i%20)})
		}
	})
	wg.Wait()
	c.Wait()
	final := current() + 1
	all := make([]string, 20)
	for i := range all {
		all[i] = fmt.Sprintf("svc/ns/s%d", i)
	}
	c.Invalidate("s1", final, all)
	c.Wait()
	for i := range 20 {
		if got, ok := c.Get(NewKey(fmt.Sprintf("s%d.ns.svc.cluster.local.", i), dns.TypeA, dns.ClassINET, false)); ok {
			t.Errorf("entry at revision %d served after invalidation at %d", got.Revision, final)
		}
	}
}
