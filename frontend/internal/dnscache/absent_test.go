package dnscache

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const absentApex = "ns1.svc.cluster.local."

// absentKey is what a directory of ns1 depends on besides its answer.
const absentKey = "svcs/ns1"

// nxResp is the record service's NXDOMAIN for a missing Service of ns1.
func nxResp(t *testing.T, rev uint64, missing string) Response {
	return Response{
		Rcode:    dns.RcodeNameError,
		Ns:       []dns.RR{rr(t, soaText)},
		TTL:      5,
		Cluster:  true,
		Revision: rev,
		ServerID: "s1",
		Keys:     []string{"svc/ns1/" + missing, "ns/ns1"},
	}
}

// TestAbsent: a stored directory answers NXDOMAIN for exactly the names
// below its apex whose label right below it is not listed, for questions
// of the record service of class IN.
func TestAbsent(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 5)
	if !c.SetAbsent(c.Begin(), "missing.ns1.svc.cluster.local.", absentApex, []string{"api", "web"}, []string{absentKey}, nxResp(t, 10, "missing")) {
		t.Fatal("SetAbsent refused")
	}
	c.Wait()
	tests := []struct {
		name string
		key  Key
		want bool
	}{
		{"unlisted label", NewKey("other.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), true},
		{"the name asked", NewKey("missing.ns1.svc.cluster.local.", dns.TypeAAAA, dns.ClassINET, false), true},
		{"upper case", NewKey("OTHER.Ns1.svc.cluster.local.", dns.TypeSRV, dns.ClassINET, true), true},
		{"below an unlisted label", NewKey("_http._tcp.other.ns1.svc.cluster.local.", dns.TypeSRV, dns.ClassINET, false), true},
		{"listed label", NewKey("web.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"below a listed label", NewKey("pod-0.web.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"the apex", NewKey(absentApex, dns.TypeA, dns.ClassINET, false), false},
		{"another namespace", NewKey("other.ns2.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"another zone", NewKey("other.ns1.svc.example.org.", dns.TypeA, dns.ClassINET, false), false},
		{"pod zone", NewKey("other.ns1.pod.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"class CH", NewKey("other.ns1.svc.cluster.local.", dns.TypeTXT, dns.ClassCHAOS, false), false},
		{"upstream key", NewForwardKey("other.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), false},
		{"escaped label", NewKey(`a\.b.ns1.svc.cluster.local.`, dns.TypeA, dns.ClassINET, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := c.Get(tt.key)
			if ok != tt.want {
				t.Fatalf("hit = %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			if r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
				t.Fatalf("got rcode %d answer %v ns %v, want NXDOMAIN with the SOA", r.Rcode, r.Answer, r.Ns)
			}
			if ttl := r.Ns[0].Header().Ttl; ttl != 30 {
				t.Errorf("SOA TTL %d, want 30, as the record service gave it", ttl)
			}
		})
	}

	// A Service created in the namespace announces its services key: the
	// directory goes, and the names it proved absent miss again, but the
	// NXDOMAIN cached for a name of its own, which does not depend on that
	// key, stays.
	missing := NewKey("missing.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	if !c.Set(missing, c.Begin(), nxResp(t, 10, "missing")) {
		t.Fatal("Set refused")
	}
	c.Wait()
	c.Invalidate("s1", 11, []string{absentKey})
	c.Wait()
	if _, ok := c.Get(NewKey("other.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)); ok {
		t.Error("directory still answers after its services key was announced")
	}
	if _, ok := c.Get(missing); !ok {
		t.Error("the NXDOMAIN of missing went with the directory")
	}
}

// TestSetAbsentRefuses: a directory that does not prove what it claims is
// not stored.
func TestSetAbsentRefuses(t *testing.T) {
	tests := []struct {
		name, qname, apex string
		labels            []string
		resp              func(t *testing.T) Response
	}{
		{"asked label listed", "web.ns1.svc.cluster.local.", absentApex, []string{"web"}, func(t *testing.T) Response { return nxResp(t, 10, "web") }},
		{"labels unsorted", "x.ns1.svc.cluster.local.", absentApex, []string{"web", "api"}, func(t *testing.T) Response { return nxResp(t, 10, "x") }},
		{"name not below apex", "x.ns2.svc.cluster.local.", absentApex, nil, func(t *testing.T) Response { return nxResp(t, 10, "x") }},
		{"name is the apex", absentApex, absentApex, nil, func(t *testing.T) Response { return nxResp(t, 10, "x") }},
		{"apex upper case", "x.ns1.svc.cluster.local.", "NS1.svc.cluster.local.", nil, func(t *testing.T) Response { return nxResp(t, 10, "x") }},
		{"apex too short", "x.local.", "local.", nil, func(t *testing.T) Response { return nxResp(t, 10, "x") }},
		{"not NXDOMAIN", "x.ns1.svc.cluster.local.", absentApex, nil, func(t *testing.T) Response {
			r := nxResp(t, 10, "x")
			r.Rcode = dns.RcodeSuccess
			return r
		}},
		{"no SOA", "x.ns1.svc.cluster.local.", absentApex, nil, func(t *testing.T) Response {
			r := nxResp(t, 10, "x")
			r.Ns = nil
			return r
		}},
		{"upstream answer", "x.ns1.svc.cluster.local.", absentApex, nil, func(t *testing.T) Response {
			r := nxResp(t, 10, "x")
			r.Cluster = false
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{})
			c.Resync("s1", 5)
			if c.SetAbsent(c.Begin(), tt.qname, tt.apex, tt.labels, []string{absentKey}, tt.resp(t)) {
				t.Fatal("SetAbsent stored it")
			}
			c.Wait()
			if _, ok := c.Get(NewKey("zzz.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)); ok {
				t.Fatal("a refused directory answers")
			}
		})
	}
}

// TestAbsentRefusedAfterInvalidation: a directory computed before a
// Service was created, stored after the creation was announced, is
// refused, as any cluster answer is.
func TestAbsentRefusedAfterInvalidation(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 5)
	fill := c.Begin()
	c.Invalidate("s1", 12, []string{absentKey})
	if c.SetAbsent(fill, "x.ns1.svc.cluster.local.", absentApex, nil, []string{absentKey}, nxResp(t, 11, "x")) {
		t.Fatal("a directory older than its key's invalidation was stored")
	}
}

// TestAbsentOnlyWhileFollowed: a directory answers only while the Watch
// stream covers it: from another server's answer, or once the stream is
// down, names it would prove absent are misses.
func TestAbsentOnlyWhileFollowed(t *testing.T) {
	other := NewKey("other.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	tests := []struct {
		name   string
		server string
		// before is whether the directory answers before after runs.
		before bool
		after  func(c *Cache)
	}{
		{"stream down", "s1", true, func(c *Cache) { c.Disconnected() }},
		{"another server's directory", "s2", false, func(*Cache) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{})
			c.Resync("s1", 5)
			r := nxResp(t, 10, "missing")
			r.ServerID = tt.server
			if !c.SetAbsent(c.Begin(), "missing.ns1.svc.cluster.local.", absentApex, nil, []string{absentKey}, r) {
				t.Fatal("SetAbsent refused")
			}
			c.Wait()
			if _, ok := c.Get(other); ok != tt.before {
				t.Fatalf("before: hit = %v, want %v", ok, tt.before)
			}
			tt.after(c)
			if _, ok := c.Get(other); ok {
				t.Fatal("the directory answered")
			}
		})
	}
}

// TestAbsentKeptUnderOwnKey: a name a directory proved absent twice is
// kept under its own key, with the directory's keys: asked a third time it
// is an ordinary hit, and a Service created in the namespace drops it as
// it drops the directory.
func TestAbsentKeptUnderOwnKey(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 5)
	if !c.SetAbsent(c.Begin(), "missing.ns1.svc.cluster.local.", absentApex, nil, []string{absentKey}, nxResp(t, 10, "missing")) {
		t.Fatal("SetAbsent refused")
	}
	c.Wait()
	k := NewKey("again.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	for i, wantAbsent := range []uint64{1, 2, 2} {
		if r, ok := c.Get(k); !ok || r.Rcode != dns.RcodeNameError {
			t.Fatalf("ask %d: hit %v rcode %d, want an NXDOMAIN hit", i+1, ok, r.Rcode)
		}
		c.Wait()
		if got := c.Stats().Absent; got != wantAbsent {
			t.Errorf("ask %d: %d answers from the directory, want %d", i+1, got, wantAbsent)
		}
	}
	c.Invalidate("s1", 11, []string{absentKey})
	c.Wait()
	if _, ok := c.Get(k); ok {
		t.Error("the name's own entry outlived its directory's services key")
	}
}

// TestPeekAbsent: PeekAbsent finds the directory exactly where Get answers
// from it, for names not answered from a directory before; Served counts
// the answer and records the name, which Get then keeps under its own key.
func TestPeekAbsent(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	c.Resync("s1", 5)
	if !c.SetAbsent(c.Begin(), "missing.ns1.svc.cluster.local.", absentApex, []string{"api", "web"}, []string{absentKey}, nxResp(t, 10, "missing")) {
		t.Fatal("SetAbsent refused")
	}
	c.Wait()
	id := func(name string, qtype uint16, do bool) []byte {
		return AppendKeyID(nil, []byte(name), qtype, dns.ClassINET, do)
	}
	tests := []struct {
		name string
		id   []byte
		want bool
	}{
		{"unlisted label", id("other.ns1.svc.cluster.local.", dns.TypeA, false), true},
		{"below an unlisted label, DO", id("_http._tcp.other.ns1.svc.cluster.local.", dns.TypeSRV, true), true},
		{"listed label", id("web.ns1.svc.cluster.local.", dns.TypeA, false), false},
		{"the apex", id(absentApex, dns.TypeA, false), false},
		{"another namespace", id("other.ns2.svc.cluster.local.", dns.TypeA, false), false},
		{"upstream key", AppendForwardKeyID(nil, []byte("other.ns1.svc.cluster.local."), dns.TypeA, dns.ClassINET, false), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hit, ok := c.PeekAbsent(tt.id, time.Time{})
			if ok != tt.want {
				t.Fatalf("PeekAbsent = %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			if hit.AbsentApex() != absentApex || hit.Rcode() != dns.RcodeNameError || hit.Age() != 0 {
				t.Errorf("hit: apex %q rcode %d age %d, want %q NXDOMAIN exact", hit.AbsentApex(), hit.Rcode(), hit.Age(), absentApex)
			}
		})
	}

	k := NewKey("fresh.ns1.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
	fresh := id("fresh.ns1.svc.cluster.local.", dns.TypeA, false)
	hit, ok := c.PeekAbsent(fresh, time.Time{})
	if !ok {
		t.Fatal("PeekAbsent found no directory for a fresh name")
	}
	before := c.Stats()
	hit.Served()
	if after := c.Stats(); after.Hits != before.Hits+1 || after.Absent != before.Absent+1 {
		t.Errorf("Served counted hits %d->%d absent %d->%d, want one of each", before.Hits, after.Hits, before.Absent, after.Absent)
	}
	if _, ok := c.PeekAbsent(fresh, time.Time{}); ok {
		t.Error("PeekAbsent answers a name a directory answered before")
	}
	// Get answers it and keeps it under its own key: Peek then finds it.
	if r, ok := c.Get(k); !ok || r.Rcode != dns.RcodeNameError {
		t.Fatalf("Get: hit %v rcode %d, want NXDOMAIN", ok, r.Rcode)
	}
	c.Wait()
	if _, ok := c.Peek(fresh, time.Time{}); !ok {
		t.Error("the name is not kept under its own key after its second answer")
	}

	c.Disconnected()
	if _, ok := c.PeekAbsent(id("another.ns1.svc.cluster.local.", dns.TypeA, false), time.Time{}); ok {
		t.Error("PeekAbsent answers while the Watch stream is down")
	}
}

// TestAskedBefore: a recorded question is always known again, and of the
// questions never recorded, few pass for asked while the filter fills up to
// the point where it is cleared.
func TestAskedBefore(t *testing.T) {
	a := newAskedBefore()
	const n = askedBits/8 - 1 // the last one recorded before a clear
	for i := range n {
		if id := fmt.Sprintf("asked-%d", i); a.seen(id) && !a.has(id) {
			t.Fatalf("%s seen before but has reports it absent", id)
		}
	}
	for i := range n {
		if id := fmt.Sprintf("asked-%d", i); !a.has(id) {
			t.Fatalf("%s was recorded, has reports it absent", id)
		}
	}
	var falsePositives int
	for i := range n {
		if a.has(fmt.Sprintf("never-%d", i)) {
			falsePositives++
		}
	}
	t.Logf("%d of %d questions never asked pass for asked", falsePositives, n)
	// Two bits per key at an eighth of the bits: (1-e^(-1/4))^2, 4.9%.
	if rate := float64(falsePositives) / n; rate > 0.06 {
		t.Errorf("%d of %d questions never asked pass for asked (%.1f%%), want at most 6%%", falsePositives, n, 100*rate)
	}
}
