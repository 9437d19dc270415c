package dnsserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// forwardSetup is a harness whose forwarder sends names outside the
// cluster zone to def, corp.example. to the stub upstream corp, and
// down.example. to a stub upstream nothing listens on.
type forwardSetup struct {
	*harness
	def, corp *testUpstream
}

func startForwarding(t *testing.T, opts harnessOptions) forwardSetup {
	t.Helper()
	def := startUpstream(t, upstreamZone("default"))
	corp := startUpstream(t, upstreamZone("corp"))
	opts.forward.Upstreams = []string{def.addr}
	opts.forward.StubDomains = map[string][]string{
		"corp.example.": {corp.addr},
		"down.example.": {deadAddr(t)},
	}
	return forwardSetup{harness: startHarness(t, opts), def: def, corp: corp}
}

const exampleSOA = "example.org. IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 60"

// TestForwarding sends questions through the real path (client -> frontend
// -> record service and upstream DNS servers on loopback) over UDP and TCP,
// twice each (the second answer may come from the cache).
func TestForwarding(t *testing.T) {
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		aa     bool
		tc     bool
		answer []string
		ns     []string
		by     string // upstream that answered ("" none)
	}{
		{"external name", "www.example.org.", dns.TypeA, dns.RcodeSuccess, false, false,
			[]string{"www.example.org. IN A 192.0.2.10"}, nil, "default"},
		{"external name keeps the query's case", "WWW.Example.ORG.", dns.TypeA, dns.RcodeSuccess, false, false,
			[]string{"WWW.Example.ORG. IN A 192.0.2.10"}, nil, "default"},
		{"external nxdomain with the upstream's SOA", "nope.example.org.", dns.TypeA, dns.RcodeNameError, false, false,
			nil, []string{exampleSOA}, "default"},
		{"stub domain", "www.corp.example.", dns.TypeA, dns.RcodeSuccess, false, false,
			[]string{"www.corp.example. IN A 10.10.0.1"}, nil, "corp"},
		{"stub domain upstream down is servfail", "www.down.example.", dns.TypeA, dns.RcodeServerFailure, false, false,
			nil, nil, ""},
		{"upstream servfail passed on", "servfail.example.org.", dns.TypeA, dns.RcodeServerFailure, false, false,
			nil, nil, "default"},
		{"upstream refused passed on", "refused.example.org.", dns.TypeA, dns.RcodeRefused, false, false,
			nil, nil, "default"},
		{"unknown reverse name falls through", "9.9.9.9.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, false, false,
			[]string{"9.9.9.9.in-addr.arpa. IN PTR dns9.example.net."}, nil, "default"},
		{"known reverse name stays with the record service", "5.0.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, true, false,
			[]string{"5.0.96.10.in-addr.arpa. IN PTR web.default.svc.cluster.local."}, nil, ""},
		{"cluster name stays with the record service", "web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true, false,
			[]string{"web.default.svc.cluster.local. IN A 10.96.0.5"}, nil, ""},
		{"cluster nxdomain is not forwarded", "unknown.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, true, false,
			nil, []string{soaText}, ""},
		{"ExternalName chased upstream", "ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true, false,
			[]string{"ext.default.svc.cluster.local. IN CNAME www.example.org.", "www.example.org. IN A 192.0.2.10"}, nil, "default"},
		{"ExternalName chased upstream, AAAA", "Ext.Default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, true, false,
			[]string{"Ext.Default.svc.cluster.local. IN CNAME www.example.org.", "www.example.org. IN AAAA 2001:db8::10"}, nil, "default"},
		{"ExternalName CNAME question not chased", "ext.default.svc.cluster.local.", dns.TypeCNAME, dns.RcodeSuccess, true, false,
			[]string{"ext.default.svc.cluster.local. IN CNAME www.example.org."}, nil, ""},
		{"ExternalName target nxdomain", "extnx.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, true, false,
			[]string{"extnx.default.svc.cluster.local. IN CNAME gone.example.org."}, []string{exampleSOA}, "default"},
		{"ExternalName target servfail", "extfail.default.svc.cluster.local.", dns.TypeA, dns.RcodeServerFailure, false, false,
			nil, nil, ""},
		{"ExternalName target upstream down", "extdown.default.svc.cluster.local.", dns.TypeA, dns.RcodeServerFailure, false, false,
			nil, nil, ""},
		{"ExternalName target truncated upstream: TC propagated", "exttc.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true, true,
			[]string{"exttc.default.svc.cluster.local. IN CNAME tc.example.org."}, nil, "default"},
		{"ExternalName target in the zone: chased by the record service", "extin.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true, false,
			[]string{"extin.default.svc.cluster.local. IN CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. IN A 10.96.0.5"}, nil, ""},
	}
	for _, network := range transports() {
		t.Run(network, func(t *testing.T) {
			s := startForwarding(t, harnessOptions{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					for round := range 2 {
						q := new(dns.Msg).SetQuestion(tt.qname, tt.qtype)
						resp := s.query(t, network, q)
						if resp.Rcode != tt.rcode {
							t.Fatalf("round %d: rcode %s, want %s\n%v", round, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode], resp)
						}
						if resp.Authoritative != tt.aa || resp.Truncated != tt.tc || !resp.RecursionAvailable || !resp.Response {
							t.Errorf("round %d: AA %v TC %v RA %v QR %v, want AA %v TC %v RA QR", round,
								resp.Authoritative, resp.Truncated, resp.RecursionAvailable, resp.Response, tt.aa, tt.tc)
						}
						if len(resp.Question) != 1 || resp.Question[0] != q.Question[0] {
							t.Errorf("round %d: question %v, want %v", round, resp.Question, q.Question)
						}
						if got := sectionText(resp.Answer); !slices.Equal(got, tt.answer) {
							t.Errorf("round %d: answer %q, want %q", round, got, tt.answer)
						}
						if got := sectionText(resp.Ns); !slices.Equal(got, tt.ns) {
							t.Errorf("round %d: authority %q, want %q", round, got, tt.ns)
						}
						if got := answeredBy(resp); got != tt.by {
							t.Errorf("round %d: answered by %q, want %q", round, got, tt.by)
						}
						s.cache.Wait()
					}
				})
			}
			if n := s.def.count("web.default.svc.cluster.local.") + s.def.count("unknown.svc.cluster.local.") +
				s.def.count("5.0.96.10.in-addr.arpa."); n != 0 {
				t.Errorf("the upstream was asked %d cluster questions", n)
			}
			if n := s.def.count("www.corp.example."); n != 0 {
				t.Errorf("the default upstream was asked %d stub domain questions", n)
			}
		})
	}
}

// TestForwardNoUpstream: without a forwarder, names outside the zone are
// REFUSED, unknown reverse names too, and an ExternalName answer is the
// CNAME alone.
func TestForwardNoUpstream(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	tests := []struct {
		qname  string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"www.example.org.", dns.TypeA, dns.RcodeRefused, nil},
		{"9.9.9.9.in-addr.arpa.", dns.TypePTR, dns.RcodeRefused, nil},
		{"ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"ext.default.svc.cluster.local. IN CNAME www.example.org."}},
	}
	for _, tt := range tests {
		for _, network := range transports() {
			resp := h.ask(t, network, tt.qname, tt.qtype)
			if resp.Rcode != tt.rcode || !slices.Equal(sectionText(resp.Answer), tt.answer) || resp.RecursionAvailable {
				t.Errorf("%s %s: %v, want rcode %s answer %q and RA unset", network, tt.qname, resp, dns.RcodeToString[tt.rcode], tt.answer)
			}
		}
	}
}

// TestUpstreamTruncation: an answer over 1232 bytes is truncated by the
// upstream over UDP, fetched again over TCP by the forwarder, cached whole,
// served truncated (TC) to a UDP client and whole over TCP.
func TestUpstreamTruncation(t *testing.T) {
	s := startForwarding(t, harnessOptions{})
	const name = "many.example.org."
	for i, step := range []struct {
		network string
		edns    uint16
		tc      bool
		records int
		max     int
	}{
		{"udp", 0, true, -1, 512},
		{"udp", 1232, true, -1, 1232},
		{"tcp", 0, false, 100, dns.MaxMsgSize},
		{"udp", 4096, false, 100, 4096},
	} {
		q := new(dns.Msg).SetQuestion(name, dns.TypeA)
		if step.edns != 0 {
			q.SetEdns0(step.edns, false)
		}
		packed, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		raw := s.raw(t, step.network, packed, 5*time.Second)
		if raw == nil {
			t.Fatalf("step %d: no reply", i)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(raw); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if len(raw) > step.max || resp.Truncated != step.tc || (step.records >= 0 && len(resp.Answer) != step.records) {
			t.Errorf("step %d (%s, edns %d): %d bytes, TC %v, %d records; want at most %d bytes, TC %v, %d records",
				i, step.network, step.edns, len(raw), resp.Truncated, len(resp.Answer), step.max, step.tc, step.records)
		}
		s.cache.Wait()
	}
	var networks []string
	for _, q := range s.def.received(name) {
		networks = append(networks, q.network)
	}
	if !slices.Equal(networks, []string{"udp", "tcp"}) {
		t.Errorf("upstream saw %v, want one UDP query retried over TCP, then cache hits", networks)
	}
}

// TestUpstreamDown: when no upstream answers, the client gets SERVFAIL,
// never NXDOMAIN, for every kind of forwarded question.
func TestUpstreamDown(t *testing.T) {
	silent := startUpstream(t, func(dns.ResponseWriter, *dns.Msg) {})
	tests := []struct {
		name      string
		upstreams []string
	}{
		{"port closed", []string{deadAddr(t)}},
		{"silent upstream", []string{silent.addr}},
		{"both", []string{deadAddr(t), silent.addr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHarness(t, harnessOptions{forward: forward.Config{Upstreams: tt.upstreams, Timeout: 200 * time.Millisecond}})
			for _, network := range transports() {
				for _, q := range []struct {
					name  string
					qtype uint16
				}{
					{"www.example.org.", dns.TypeA},
					{"nope.example.org.", dns.TypeAAAA},
					{"9.9.9.9.in-addr.arpa.", dns.TypePTR},
					{"ext.default.svc.cluster.local.", dns.TypeA},
				} {
					resp := h.ask(t, network, q.name, q.qtype)
					if resp.Rcode != dns.RcodeServerFailure || len(resp.Answer) != 0 {
						t.Errorf("%s %s: %v, want SERVFAIL without records", network, q.name, resp)
					}
				}
			}
			if got := counterValue(t, h.reg, "clusterdns_forward_upstream_errors_total", nil); got == 0 {
				t.Error("no upstream error counted")
			}
		})
	}
}

// TestMismatchedRepliesIgnored: datagrams that do not unpack, or whose ID
// or question differ from the query, are skipped; the real reply is used.
func TestMismatchedRepliesIgnored(t *testing.T) {
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		_, _ = w.Write([]byte{0xde, 0xad, 0x81})
		send := func(mutate func(m *dns.Msg)) {
			m := new(dns.Msg).SetReply(r)
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: []byte{6, 6, 6, 6}})
			mutate(m)
			_ = w.WriteMsg(m)
		}
		send(func(m *dns.Msg) { m.Id ^= 0x5a5a })
		send(func(m *dns.Msg) { m.Question[0].Name = "evil.example." })
		send(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA })
		send(func(m *dns.Msg) { m.Response = false })
		send(func(m *dns.Msg) { m.Answer[0].(*dns.A).A = []byte{192, 0, 2, 7} })
	})
	h := startHarness(t, harnessOptions{forward: forward.Config{Upstreams: []string{up.addr}}})
	resp := h.ask(t, "udp", "spoof.example.org.", dns.TypeA)
	if got := sectionText(resp.Answer); !slices.Equal(got, []string{"spoof.example.org. IN A 192.0.2.7"}) {
		t.Fatalf("answer %q, want the matching reply's 192.0.2.7", got)
	}
	if got := counterValue(t, h.reg, "clusterdns_forward_upstream_errors_total", map[string]string{"reason": "mismatch"}); got != 4 {
		t.Errorf("mismatched replies counted %v, want 4", got)
	}
	if got := counterValue(t, h.reg, "clusterdns_forward_upstream_errors_total", map[string]string{"reason": "malformed"}); got != 1 {
		t.Errorf("malformed replies counted %v, want 1", got)
	}
}

// TestUpstreamCache: upstream answers are cached, positive for their TTL
// and negative for min(SOA TTL, SOA minimum), within the TTL bounds, with
// TTLs decremented on hits; SERVFAIL, REFUSED, truncated replies and
// checking-disabled queries are never cached; the DO bit is in the key.
func TestUpstreamCache(t *testing.T) {
	clk := newClock()
	s := startForwarding(t, harnessOptions{cache: dnscache.Config{
		MaxTTL: time.Hour, MinTTL: 10 * time.Second, MaxNegativeTTL: 30 * time.Minute, Now: clk.Now,
	}})
	type step struct {
		advance  time.Duration
		do, cd   bool
		ttl      uint32 // TTL of the first answer (or authority) record
		upstream int    // queries the upstream has seen for the name after the step
	}
	tests := []struct {
		name  string
		qname string
		rcode int
		steps []step
	}{
		{"positive: TTL decrements, then expires", "www.example.org.", dns.RcodeSuccess, []step{
			{0, false, false, 300, 1},
			{100 * time.Second, false, false, 200, 1},
			{199 * time.Second, false, false, 1, 1},
			{time.Second, false, false, 300, 2},
		}},
		{"negative: TTL from the SOA minimum", "nope.example.org.", dns.RcodeNameError, []step{
			{0, false, false, 60, 1},
			{30 * time.Second, false, false, 30, 1},
			{30 * time.Second, false, false, 60, 2},
		}},
		{"TTL capped at --cache-max-ttl", "long.example.org.", dns.RcodeSuccess, []step{
			{0, false, false, 3600, 1},
			{time.Hour - time.Second, false, false, 1, 1},
			{time.Second, false, false, 3600, 2},
		}},
		{"TTL floored at --cache-min-ttl", "short.example.org.", dns.RcodeSuccess, []step{
			{0, false, false, 10, 1},
			{5 * time.Second, false, false, 5, 1},
		}},
		{"DO bit in the key", "www.example.org.", dns.RcodeSuccess, []step{
			{time.Hour, false, false, 300, 3},
			{0, true, false, 300, 4},
			{0, true, false, 300, 4},
			{0, false, false, 300, 4},
		}},
		{"checking disabled never cached", "www.example.org.", dns.RcodeSuccess, []step{
			{0, false, true, 300, 5},
			{0, false, true, 300, 6},
		}},
		{"SERVFAIL never cached", "servfail.example.org.", dns.RcodeServerFailure, []step{
			{0, false, false, 0, 1},
			{0, false, false, 0, 2},
		}},
		{"REFUSED never cached", "refused.example.org.", dns.RcodeRefused, []step{
			{0, false, false, 0, 1},
			{0, false, false, 0, 2},
		}},
		// Over UDP TC, then the TCP retry fails: the truncated reply is
		// passed on (TC set) and not cached (2 upstream queries each).
		{"truncated never cached", "tc.example.org.", dns.RcodeSuccess, []step{
			{0, false, false, 0, 2},
			{0, false, false, 0, 4},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, st := range tt.steps {
				clk.advance(st.advance)
				q := new(dns.Msg).SetQuestion(tt.qname, dns.TypeA)
				q.CheckingDisabled = st.cd
				q.SetEdns0(1232, st.do)
				resp := s.query(t, "udp", q)
				s.cache.Wait()
				if resp.Rcode != tt.rcode {
					t.Fatalf("step %d: rcode %s, want %s", i, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				if o := resp.IsEdns0(); o == nil || o.Do() != st.do {
					t.Errorf("step %d: OPT %v, want DO %v", i, o, st.do)
				}
				if rrs := append(resp.Answer, resp.Ns...); st.ttl != 0 {
					if len(rrs) == 0 || rrs[0].Header().Ttl != st.ttl {
						t.Errorf("step %d: records %v, want the first with TTL %d", i, rrs, st.ttl)
					}
				}
				if got := s.def.count(tt.qname); got != st.upstream {
					t.Errorf("step %d: upstream asked %d times, want %d", i, got, st.upstream)
				}
			}
		})
	}
	var dos []bool
	for _, q := range s.def.received("www.example.org.") {
		dos = append(dos, q.do)
	}
	if !slices.Contains(dos, true) || !slices.Contains(dos, false) {
		t.Errorf("upstream saw DO bits %v, want the client's", dos)
	}
}

// TestReverseFallthroughCache: an unknown reverse name is answered from the
// upstream cache, and the record service's verdict is cached with its
// invalidation key, so that a Service that takes the address answers as
// soon as its invalidation comes.
func TestReverseFallthroughCache(t *testing.T) {
	s := startForwarding(t, harnessOptions{})
	const name = "9.9.9.9.in-addr.arpa."
	for range 3 {
		resp := s.ask(t, "udp", name, dns.TypePTR)
		s.cache.Wait()
		if got := sectionText(resp.Answer); !slices.Equal(got, []string{name + " IN PTR dns9.example.net."}) || resp.Authoritative {
			t.Fatalf("answer %q AA %v, want the upstream's PTR", got, resp.Authoritative)
		}
	}
	if up, rs := s.def.count(name), s.fake.callCount(name, dns.TypePTR); up != 1 || rs != 1 {
		t.Errorf("upstream asked %d times (want 1, then cached), record service %d times (want 1, then cached)", up, rs)
	}
	s.fake.set(name, dns.TypePTR, ptrAnswer("nine.default.svc.cluster.local."))
	s.fake.invalidate("addr/9.9.9.9")
	s.waitInvalidations(t, 2)
	resp := s.ask(t, "udp", name, dns.TypePTR)
	if got := sectionText(resp.Answer); !slices.Equal(got, []string{name + " IN PTR nine.default.svc.cluster.local."}) || !resp.Authoritative {
		t.Errorf("after the record service learnt the address: answer %q AA %v", got, resp.Authoritative)
	}
}

// TestUpstreamOverload: beyond --max-concurrent-upstream queries in flight,
// a forwarded question gets REFUSED and the refusal is counted.
func TestUpstreamOverload(t *testing.T) {
	up := startUpstream(t, upstreamZone("default"))
	up.delay.Store(int64(2 * time.Second))
	h := startHarness(t, harnessOptions{forward: forward.Config{Upstreams: []string{up.addr}, MaxConcurrent: 1, Timeout: 5 * time.Second}})
	first := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Timeout: 5 * time.Second}
		resp, _, err := c.Exchange(new(dns.Msg).SetQuestion("www.example.org.", dns.TypeA), h.udp)
		if err != nil {
			t.Errorf("first query: %v", err)
		}
		first <- resp
	}()
	deadline := time.Now().Add(5 * time.Second)
	for up.count("www.example.org.") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("first query never reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp := h.ask(t, "udp", "other.example.org.", dns.TypeA); resp.Rcode != dns.RcodeRefused {
		t.Errorf("second query while the first is in flight: %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
	if resp := <-first; resp == nil || resp.Rcode != dns.RcodeSuccess {
		t.Errorf("first query: %v", resp)
	}
	if got := counterValue(t, h.reg, "clusterdns_forward_overload_refusals_total", nil); got != 1 {
		t.Errorf("overload refusals %v, want 1", got)
	}
	if up.count("other.example.org.") != 0 {
		t.Error("the refused query reached the upstream")
	}
}

// TestUpstreamRotation: a multi-address upstream answer served from the
// cache rotates too.
func TestUpstreamRotation(t *testing.T) {
	s := startForwarding(t, harnessOptions{})
	firsts := map[string]bool{}
	for range 6 {
		resp := s.ask(t, "udp", "multi.example.org.", dns.TypeA)
		s.cache.Wait()
		if len(resp.Answer) != 3 {
			t.Fatalf("answer %v", resp.Answer)
		}
		firsts[resp.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) != 3 || s.def.count("multi.example.org.") != 1 {
		t.Errorf("first addresses %v over %d upstream queries, want all three from one", firsts, s.def.count("multi.example.org."))
	}
}

// recordingLoop is a LoopDetector that reports a loop from the second
// query for its name on.
type recordingLoop struct {
	mu    sync.Mutex
	name  string
	seen  int
	fired []string
}

func (l *recordingLoop) Seen(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !strings.EqualFold(name, l.name) {
		return false
	}
	l.seen++
	return l.seen >= 2
}

func (l *recordingLoop) onLoop(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fired = append(l.fired, name)
}

// TestLoopProbe: the handler shows every query name to the LoopDetector;
// once it reports a loop the probe is answered SERVFAIL (not forwarded
// again) and OnLoop fires once.
func TestLoopProbe(t *testing.T) {
	loop := &recordingLoop{name: "abc.clusterdns-loop-check."}
	s := startForwarding(t, harnessOptions{configure: func(c *dnsserver.Config) {
		c.LoopDetector = loop
		c.OnLoop = loop.onLoop
	}})
	wantRcodes := []int{dns.RcodeNameError, dns.RcodeServerFailure, dns.RcodeServerFailure}
	for i, want := range wantRcodes {
		if resp := s.ask(t, "udp", "ABC.clusterdns-loop-check.", dns.TypeHINFO); resp.Rcode != want {
			t.Errorf("probe %d: %s, want %s", i, dns.RcodeToString[resp.Rcode], dns.RcodeToString[want])
		}
	}
	if n := s.def.count("abc.clusterdns-loop-check."); n != 1 {
		t.Errorf("probe forwarded %d times, want 1 (before the loop was seen)", n)
	}
	loop.mu.Lock()
	defer loop.mu.Unlock()
	if !slices.Equal(loop.fired, []string{"ABC.clusterdns-loop-check."}) {
		t.Errorf("OnLoop calls %q, want one", loop.fired)
	}
}

// TestForwardEDNS: the client's DO bit reaches the upstream; the reply
// carries our OPT (1232 bytes), not the upstream's.
func TestForwardEDNS(t *testing.T) {
	s := startForwarding(t, harnessOptions{noCache: true})
	for _, network := range transports() {
		q := new(dns.Msg).SetQuestion("www.example.org.", dns.TypeA)
		q.SetEdns0(4096, true)
		resp := s.query(t, network, q)
		o := resp.IsEdns0()
		if o == nil || o.UDPSize() != 1232 || !o.Do() || len(resp.Answer) != 1 {
			t.Errorf("%s: OPT %v answer %v", network, o, resp.Answer)
		}
		nopt := 0
		for _, rr := range resp.Extra {
			if rr.Header().Rrtype == dns.TypeOPT {
				nopt++
			}
		}
		if nopt != 1 {
			t.Errorf("%s: %d OPT records", network, nopt)
		}
	}
	for _, q := range s.def.received("www.example.org.") {
		if !q.do {
			t.Errorf("upstream query %+v without the client's DO bit", q)
		}
	}
}

// TestQueryLog: --query-log writes one line per query with its name, type,
// client, rcode, duration, cache hit and source.
func TestQueryLog(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	s := startForwarding(t, harnessOptions{configure: func(c *dnsserver.Config) {
		c.QueryLog = true
		c.Logger = log
	}})
	asks := []struct {
		network, name string
		qtype         uint16
	}{
		{"udp", "web.default.svc.cluster.local.", dns.TypeA},
		{"tcp", "web.default.svc.cluster.local.", dns.TypeA},
		{"udp", "www.example.org.", dns.TypeA},
		{"udp", "ext.default.svc.cluster.local.", dns.TypeA},
		{"udp", "notready.default.svc.cluster.local.", dns.TypeA},
	}
	for _, a := range asks {
		s.ask(t, a.network, a.name, a.qtype)
		s.cache.Wait()
	}
	type line struct {
		Msg       string  `json:"msg"`
		Name      string  `json:"name"`
		Type      string  `json:"type"`
		Client    string  `json:"client"`
		Transport string  `json:"transport"`
		Rcode     string  `json:"rcode"`
		Duration  float64 `json:"duration"`
		CacheHit  bool    `json:"cache_hit"`
		Source    string  `json:"source"`
	}
	var got []line
	for _, raw := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if l.Msg == "query" {
			l.Duration = 0
			if !strings.HasPrefix(l.Client, "127.0.0.1:") {
				t.Errorf("client %q", l.Client)
			}
			l.Client = ""
			got = append(got, l)
		}
	}
	want := []line{
		{"query", "web.default.svc.cluster.local.", "A", "", "udp", "NOERROR", 0, false, "cluster"},
		{"query", "web.default.svc.cluster.local.", "A", "", "tcp", "NOERROR", 0, true, "cluster"},
		{"query", "www.example.org.", "A", "", "udp", "NOERROR", 0, false, "upstream"},
		{"query", "ext.default.svc.cluster.local.", "A", "", "udp", "NOERROR", 0, false, "cluster+upstream"},
		{"query", "notready.default.svc.cluster.local.", "A", "", "udp", "SERVFAIL", 0, false, "cluster"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("query log\n got %+v\nwant %+v", got, want)
	}
}

// lockedBuffer is a goroutine-safe bytes.Buffer.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Compile-time checks that the real types fit the handler's interfaces.
var (
	_ dnsserver.Forwarder    = (*forward.Forwarder)(nil)
	_ dnsserver.LoopDetector = (*forward.LoopDetector)(nil)
)

// benchNoRecords is a record service for benchmarks that ask only names
// outside the cluster zone, which never reach it.
type benchNoRecords struct{}

func (benchNoRecords) Lookup(context.Context, string, uint16, string, clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	return nil, errors.New("benchmark: no record service")
}

// startBenchUpstream starts a miekg/dns UDP server on 127.0.0.1 answering
// every A question with one record of TTL 300.
func startBenchUpstream(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.RecursionAvailable = true
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(198, 18, 0, 1)})
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	b.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// BenchmarkServeUDPForward is a real UDP round trip to a started server on
// 127.0.0.1 for names outside the cluster zone, through a forwarder to a
// loopback upstream, one client per P (8 per CPU): "cached" asks one name
// (answered from the cache), "zipf" names drawn as the side-by-side
// benchmark's external workload draws them (Zipf s=1.1 over 10,000 names,
// mostly cache hits), "uncached" distinct names without a cache (every
// query forwarded).
func BenchmarkServeUDPForward(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache bool
		names func(rng *rand.Rand) func() string
	}{
		{"cached", true, func(*rand.Rand) func() string { return func() string { return "host-00001.example.com." } }},
		{"zipf", true, func(rng *rand.Rand) func() string {
			z := rand.NewZipf(rng, 1.1, 1, 9999)
			return func() string { return fmt.Sprintf("host-%05d.example.com.", z.Uint64()) }
		}},
		{"uncached", false, func(rng *rand.Rand) func() string {
			return func() string { return fmt.Sprintf("host-%08d.example.com.", rng.Uint32()) }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fwd, err := forward.New(forward.Config{Upstreams: []string{startBenchUpstream(b)}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			cfg := dnsserver.Config{Listen: "127.0.0.1:0", Records: benchNoRecords{}, Forwarder: fwd}
			if tc.cache {
				if cfg.Cache, err = dnscache.New(dnscache.Config{}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(cfg.Cache.Close)
			}
			if cfg.Metrics, err = dnsserver.NewMetrics(prometheus.NewRegistry(), cfg.Cache); err != nil {
				b.Fatal(err)
			}
			addr := startBenchServer(b, cfg)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				s := seed.Add(1)
				next := tc.names(rand.New(rand.NewPCG(s, s)))
				conn, err := net.Dial("udp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				buf := make([]byte, dns.MaxMsgSize)
				req := new(dns.Msg)
				for pb.Next() {
					req.SetQuestion(next(), dns.TypeA)
					query, err := req.Pack()
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := askUDP(conn, query, buf); err != nil || buf[3]&0xf != dns.RcodeSuccess {
						b.Errorf("%v (rcode %d)", err, buf[3]&0xf)
						return
					}
				}
			})
		})
	}
}
