package dnsserver_test

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// transports are the networks every wire test runs over.
func transports() []string { return []string{"udp", "tcp"} }

// rrText is a record in presentation form without its TTL.
func rrText(rr dns.RR) string {
	f := strings.Split(rr.String(), "\t")
	return strings.Join(slices.Delete(f, 1, 2), " ")
}

func sectionText(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rrText(rr))
		}
	}
	return out
}

const soaText = "cluster.local. IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"

func TestAnswers(t *testing.T) {
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		qclass uint16
		rcode  int
		aa     bool
		answer []string
		ns     []string
	}{
		{"cluster A", "web.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeSuccess, true,
			[]string{"web.default.svc.cluster.local. IN A 10.96.0.5"}, nil},
		{"case preserved", "WEB.Default.Svc.Cluster.Local.", dns.TypeA, dns.ClassINET, dns.RcodeSuccess, true,
			[]string{"WEB.Default.Svc.Cluster.Local. IN A 10.96.0.5"}, nil},
		{"no data", "web.default.svc.cluster.local.", dns.TypeAAAA, dns.ClassINET, dns.RcodeSuccess, true,
			nil, []string{soaText}},
		{"nxdomain with soa", "unknown.svc.cluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeNameError, true,
			nil, []string{soaText}},
		{"default nxdomain", "nothing.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeNameError, true,
			nil, []string{soaText}},
		{"not ready is servfail", "notready.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeServerFailure, false, nil, nil},
		{"timeout is servfail", "slow.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeServerFailure, false, nil, nil},
		{"bad record is servfail", "bad.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeServerFailure, false, nil, nil},
		{"reverse v4", "5.0.96.10.in-addr.arpa.", dns.TypePTR, dns.ClassINET, dns.RcodeSuccess, true,
			[]string{"5.0.96.10.in-addr.arpa. IN PTR web.default.svc.cluster.local."}, nil},
		{"not authoritative is refused", "9.9.9.9.in-addr.arpa.", dns.TypePTR, dns.ClassINET, dns.RcodeRefused, false, nil, nil},
		{"outside the zone is refused", "example.org.", dns.TypeA, dns.ClassINET, dns.RcodeRefused, false, nil, nil},
		{"zone lookalike is refused", "web.default.svc.notcluster.local.", dns.TypeA, dns.ClassINET, dns.RcodeRefused, false, nil, nil},
		{"class CH is refused", "web.default.svc.cluster.local.", dns.TypeA, dns.ClassCHAOS, dns.RcodeRefused, false, nil, nil},
		{"AXFR is refused", "cluster.local.", dns.TypeAXFR, dns.ClassINET, dns.RcodeRefused, false, nil, nil},
		{"IXFR is refused", "cluster.local.", dns.TypeIXFR, dns.ClassINET, dns.RcodeRefused, false, nil, nil},
	}
	for _, network := range transports() {
		t.Run(network, func(t *testing.T) {
			h := startHarness(t, harnessOptions{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					q := new(dns.Msg).SetQuestion(tt.qname, tt.qtype)
					q.Question[0].Qclass = tt.qclass
					for round := range 2 { // the second answer may come from the cache
						resp := h.query(t, network, q)
						if resp.Rcode != tt.rcode {
							t.Fatalf("round %d: rcode %s, want %s", round, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
						}
						if resp.Authoritative != tt.aa {
							t.Errorf("round %d: AA = %v, want %v", round, resp.Authoritative, tt.aa)
						}
						if !resp.Response || !resp.RecursionDesired || resp.Truncated {
							t.Errorf("round %d: flags QR %v RD %v TC %v", round, resp.Response, resp.RecursionDesired, resp.Truncated)
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
						if h.cache != nil {
							h.cache.Wait()
						}
					}
				})
			}
		})
	}
}

// TestCache: positive and negative answers come from the cache on the
// second query (whatever the transport and letter case); failures do not.
func TestCache(t *testing.T) {
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantCalls int // record service calls after three queries
	}{
		{"positive", "web.default.svc.cluster.local.", dns.TypeA, 1},
		{"nodata", "web.default.svc.cluster.local.", dns.TypeAAAA, 1},
		{"nxdomain", "unknown.svc.cluster.local.", dns.TypeA, 1},
		{"reverse", "5.0.96.10.in-addr.arpa.", dns.TypePTR, 1},
		{"not ready never cached", "notready.default.svc.cluster.local.", dns.TypeA, 3},
		{"bad answer never cached", "bad.default.svc.cluster.local.", dns.TypeA, 3},
		{"not authoritative verdict cached", "9.9.9.9.in-addr.arpa.", dns.TypePTR, 1},
		{"autopath answer never cached", "ap.default.svc.cluster.local.", dns.TypeA, 3},
	}
	h := startHarness(t, harnessOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *dns.Msg
			for i, ask := range []struct{ network, name string }{
				{"udp", tt.qname},
				{"tcp", tt.qname},
				{"udp", strings.ToUpper(tt.qname)},
			} {
				resp := h.ask(t, ask.network, ask.name, tt.qtype)
				h.cache.Wait()
				if first == nil {
					first = resp
					continue
				}
				if resp.Rcode != first.Rcode || len(resp.Answer) != len(first.Answer) || len(resp.Ns) != len(first.Ns) {
					t.Errorf("query %d: %v differs from the first answer %v", i, resp, first)
				}
				for _, rr := range resp.Answer {
					if rr.Header().Name != ask.name {
						t.Errorf("query %d: owner %q, want the query's %q", i, rr.Header().Name, ask.name)
					}
				}
			}
			if got := h.fake.callCount(tt.qname, tt.qtype); got != tt.wantCalls {
				t.Errorf("record service called %d times, want %d", got, tt.wantCalls)
			}
		})
	}
	if s := h.cache.Stats(); s.Hits < 8 || s.Misses < 7 {
		t.Errorf("cache stats %+v: want at least 8 hits and 7 misses", s)
	}
	if got := counterValue(t, h.reg, "clusterdns_frontend_cache_hits_total", nil); got < 8 {
		t.Errorf("cache hits metric %v, want at least 8", got)
	}
	if got := counterValue(t, h.reg, "clusterdns_frontend_requests_total",
		map[string]string{"qtype": "A", "transport": "udp", "rcode": "NOERROR"}); got < 2 {
		t.Errorf("requests metric for A/udp/NOERROR = %v, want at least 2", got)
	}
	if got := counterValue(t, h.reg, "clusterdns_frontend_recordsvc_lookup_duration_seconds",
		map[string]string{"result": "not_ready"}); got != 3 {
		t.Errorf("lookup histogram count for not_ready = %v, want 3", got)
	}
}

// TestCacheTTLShown: a cache hit carries the record TTLs (exact entries
// are as fresh as a lookup).
func TestCacheTTLShown(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	for range 2 {
		resp := h.ask(t, "udp", "web.default.svc.cluster.local.", dns.TypeA)
		h.cache.Wait()
		if len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 30 {
			t.Fatalf("answer %v, want one record with TTL 30", resp.Answer)
		}
	}
}

func TestRecordServiceDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	h := startHarness(t, harnessOptions{recordsTarget: dead})
	for _, network := range transports() {
		for _, name := range []string{"web.default.svc.cluster.local.", "unknown.svc.cluster.local."} {
			resp := h.ask(t, network, name, dns.TypeA)
			if resp.Rcode != dns.RcodeServerFailure {
				t.Errorf("%s %s: rcode %s, want SERVFAIL", network, name, dns.RcodeToString[resp.Rcode])
			}
		}
	}
	if got := counterValue(t, h.reg, "clusterdns_frontend_recordsvc_lookup_errors_total", nil); got != 4 {
		t.Errorf("lookup errors metric %v, want 4", got)
	}
	if h.client.Ready() {
		t.Error("client Ready with the record service down")
	}
}

// TestInvalidationOverWatch: an invalidation drops exactly the entries that
// depend on its keys, including a cached NXDOMAIN for a Service that now
// exists; a resync drops everything.
func TestInvalidationOverWatch(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	const (
		web    = "web.default.svc.cluster.local."
		db     = "db.default.svc.cluster.local."
		newSvc = "new.default.svc.cluster.local."
	)
	h.fake.set(newSvc, dns.TypeA, result(clusterdnsv1.Result_RESULT_NAME_ERROR, "svc/default/new", "ns/default"))
	names := []string{web, db, newSvc}
	for _, n := range names {
		h.ask(t, "udp", n, dns.TypeA)
	}
	h.cache.Wait()
	for _, n := range names {
		h.ask(t, "udp", n, dns.TypeA)
	}
	calls := func() []int {
		out := make([]int, len(names))
		for i, n := range names {
			out[i] = h.fake.callCount(n, dns.TypeA)
		}
		return out
	}
	if got := calls(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("calls %v before invalidation, want all cached", got)
	}

	steps := []struct {
		name      string
		act       func()
		applied   uint64 // watch messages applied by the cache after act
		wantCalls []int  // after asking every name once more
	}{
		{"service web changed", func() { h.fake.invalidate("svc/default/web") }, 2, []int{2, 1, 1}},
		{"service new created", func() {
			h.fake.set(newSvc, dns.TypeA, aAnswer([]string{"svc/default/new", "ns/default"}, "10.96.0.9"))
			h.fake.invalidate("svc/default/new")
		}, 3, []int{2, 1, 2}},
		{"unrelated key", func() { h.fake.invalidate("svc/other/web") }, 4, []int{2, 1, 2}},
		{"namespace key", func() { h.fake.invalidate("ns/default") }, 5, []int{3, 2, 3}},
		{"resync from a restarted record service", func() { h.fake.resync("s2") }, 6, []int{4, 3, 4}},
	}
	for _, s := range steps {
		s.act()
		h.waitInvalidations(t, s.applied)
		for _, n := range names {
			h.ask(t, "udp", n, dns.TypeA)
		}
		h.cache.Wait()
		for _, n := range names { // and these come from the cache again
			h.ask(t, "tcp", n, dns.TypeA)
		}
		if got := calls(); !slices.Equal(got, s.wantCalls) {
			t.Errorf("%s: calls %v, want %v", s.name, got, s.wantCalls)
		}
	}
	resp := h.ask(t, "udp", newSvc, dns.TypeA)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("new service after its creation: %v", resp)
	}
}

// TestInvalidationRacesLookup provokes the race of DESIGN.md section 4: the
// record service computes an answer, the change and its invalidation reach
// the frontend, and only then does the stale answer arrive. It must be
// served to the client that asked but never cached.
func TestInvalidationRacesLookup(t *testing.T) {
	const name = "race.default.svc.cluster.local."
	tests := []struct {
		name       string
		invalidate bool
		wantCalls  int
	}{
		{"invalidation while the lookup is in flight", true, 2},
		{"no invalidation", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHarness(t, harnessOptions{lookupTimeout: 10 * time.Second})
			h.fake.set(name, dns.TypeA, aAnswer([]string{"svc/default/race"}, "10.96.0.7"))
			entered := make(chan uint64)
			release := make(chan struct{})
			h.fake.mu.Lock()
			h.fake.block[answerKey(name, dns.TypeA)] = func() uint64 {
				h.fake.mu.Lock()
				rev := h.fake.revision // the answer is computed now...
				delete(h.fake.block, answerKey(name, dns.TypeA))
				h.fake.mu.Unlock()
				entered <- rev
				<-release // ...and sent after the test's invalidation
				return rev
			}
			h.fake.mu.Unlock()

			done := make(chan *dns.Msg)
			go func() {
				c := &dns.Client{Net: "udp", Timeout: 15 * time.Second}
				resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), h.udp)
				if err != nil {
					t.Errorf("query: %v", err)
				}
				done <- resp
			}()
			answerRev := <-entered
			if tt.invalidate {
				if rev := h.fake.invalidate("svc/default/race"); rev <= answerRev {
					t.Fatalf("invalidation revision %d not after answer revision %d", rev, answerRev)
				}
				h.waitInvalidations(t, 2)
			}
			close(release)
			if resp := <-done; resp == nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
				t.Fatalf("in-flight query answered %v", resp)
			}
			h.cache.Wait()
			h.ask(t, "udp", name, dns.TypeA)
			if got := h.fake.callCount(name, dns.TypeA); got != tt.wantCalls {
				t.Errorf("record service called %d times, want %d", got, tt.wantCalls)
			}
			if tt.invalidate && h.cache.Stats().Refused != 1 {
				t.Errorf("cache refused %d answers, want 1", h.cache.Stats().Refused)
			}
		})
	}
}

// header builds a 12-byte DNS header.
func header(id uint16, flags uint16, qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	for i, v := range []uint16{id, flags, qd, an, ns, ar} {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// question is the wire form of a question for "web.default.svc.cluster.local. A IN".
func question() []byte {
	b := make([]byte, 0, 40)
	for _, l := range []string{"web", "default", "svc", "cluster", "local"} {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

func TestMalformedAndUnsupported(t *testing.T) {
	const id = 0x1234
	q := question()
	opt := []byte{0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0} // OPT, size 4096, EDNS version 1
	tests := []struct {
		name      string
		msg       []byte
		wantReply bool
		rcode     int
	}{
		{"no question", header(id, 0x0100, 0, 0, 0, 0), true, dns.RcodeFormatError},
		{"two questions", append(append(header(id, 0x0100, 2, 0, 0, 0), q...), q...), true, dns.RcodeFormatError},
		{"opcode status", append(header(id, 2<<11, 1, 0, 0, 0), q...), true, dns.RcodeNotImplemented},
		{"opcode notify", append(header(id, 4<<11, 1, 0, 0, 0), q...), true, dns.RcodeNotImplemented},
		{"opcode update", append(header(id, 5<<11, 1, 0, 0, 0), q...), true, dns.RcodeNotImplemented},
		{"edns version 1", append(append(header(id, 0x0100, 1, 0, 0, 1), q...), opt...), true, dns.RcodeBadVers},
		{"question cut short", append(header(id, 0x0100, 1, 0, 0, 0), q[:10]...), true, dns.RcodeFormatError},
		{"compression loop", append(header(id, 0x0100, 1, 0, 0, 0), 0xC0, 12, 0, 1, 0, 1), true, dns.RcodeFormatError},
		{"label over 63", append(append(header(id, 0x0100, 1, 0, 0, 0), 64), append(make([]byte, 64), 0, 0, 1, 0, 1)...), true, dns.RcodeFormatError},
		{"a response", append(header(id, 0x8100, 1, 0, 0, 0), q...), false, 0},
		{"short header", []byte{0x12, 0x34, 0x01}, false, 0},
		{"empty", []byte{}, false, 0},
	}
	h := startHarness(t, harnessOptions{})
	for _, network := range transports() {
		for _, tt := range tests {
			if network == "udp" && len(tt.msg) == 0 {
				continue // an empty datagram is not something to wait on
			}
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				wait := 3 * time.Second
				if !tt.wantReply {
					wait = 300 * time.Millisecond
				}
				reply := h.raw(t, network, tt.msg, wait)
				if !tt.wantReply {
					if reply != nil {
						t.Fatalf("got a reply %x, want none", reply)
					}
					return
				}
				if reply == nil {
					t.Fatal("no reply")
				}
				m := new(dns.Msg)
				if err := m.Unpack(reply); err != nil {
					t.Fatalf("reply does not unpack: %v", err)
				}
				if m.Id != id || !m.Response || m.Rcode != tt.rcode {
					t.Errorf("reply id %x QR %v rcode %s, want id %x QR rcode %s",
						m.Id, m.Response, dns.RcodeToString[m.Rcode], id, dns.RcodeToString[tt.rcode])
				}
				if tt.rcode == dns.RcodeBadVers {
					if o := m.IsEdns0(); o == nil || o.Version() != 0 {
						t.Errorf("BADVERS reply OPT %v, want version 0", o)
					}
				}
			})
		}
	}
	// The server still answers.
	for _, network := range transports() {
		if resp := h.ask(t, network, "web.default.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeSuccess {
			t.Errorf("%s after malformed input: %v", network, resp)
		}
	}
}

func TestTruncation(t *testing.T) {
	const name = "many.default.svc.cluster.local." // 300 A records
	tests := []struct {
		name     string
		network  string
		edns     uint16 // 0: no OPT
		wantTC   bool
		maxBytes int
	}{
		{"udp without edns", "udp", 0, true, 512},
		{"udp edns 1232", "udp", 1232, true, 1232},
		{"udp edns below 512 counts as 512", "udp", 100, true, 512},
		{"udp edns 8192 capped at 4096", "udp", 8192, true, 4096},
		{"tcp", "tcp", 0, false, dns.MaxMsgSize},
		{"tcp with edns", "tcp", 1232, false, dns.MaxMsgSize},
	}
	h := startHarness(t, harnessOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 { // miss, then hit
				q := new(dns.Msg).SetQuestion(name, dns.TypeA)
				if tt.edns != 0 {
					q.SetEdns0(tt.edns, false)
				}
				packed, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				reply := h.raw(t, tt.network, packed, 5*time.Second)
				if reply == nil {
					t.Fatal("no reply")
				}
				if len(reply) > tt.maxBytes {
					t.Errorf("round %d: reply of %d bytes, over %d", round, len(reply), tt.maxBytes)
				}
				m := new(dns.Msg)
				if err := m.Unpack(reply); err != nil {
					t.Fatalf("unpack: %v", err)
				}
				if m.Truncated != tt.wantTC {
					t.Errorf("round %d: TC = %v, want %v", round, m.Truncated, tt.wantTC)
				}
				if !tt.wantTC && len(m.Answer) != 300 {
					t.Errorf("round %d: %d answers, want all 300", round, len(m.Answer))
				}
				if tt.wantTC && len(m.Answer) >= 300 {
					t.Errorf("round %d: truncated reply carries all answers", round)
				}
				if (m.IsEdns0() != nil) != (tt.edns != 0) {
					t.Errorf("round %d: OPT in reply = %v, want %v", round, m.IsEdns0() != nil, tt.edns != 0)
				}
				h.cache.Wait()
			}
		})
	}
}

func TestEDNS(t *testing.T) {
	tests := []struct {
		name    string
		edns    bool
		do      bool
		wantOPT bool
	}{
		{"no opt", false, false, false},
		{"opt", true, false, true},
		{"opt with DO", true, true, true},
	}
	h := startHarness(t, harnessOptions{})
	for _, network := range transports() {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				for round := range 2 {
					q := new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
					if tt.edns {
						q.SetEdns0(1400, tt.do)
					}
					resp := h.query(t, network, q)
					o := resp.IsEdns0()
					if (o != nil) != tt.wantOPT {
						t.Fatalf("round %d: OPT present = %v, want %v", round, o != nil, tt.wantOPT)
					}
					if o != nil {
						if o.UDPSize() != 1232 || o.Do() != tt.do || o.Version() != 0 {
							t.Errorf("round %d: OPT size %d DO %v version %d, want 1232, %v, 0", round, o.UDPSize(), o.Do(), o.Version(), tt.do)
						}
					}
					if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
						t.Errorf("round %d: %v", round, resp)
					}
					h.cache.Wait()
				}
			})
		}
	}
}

// TestClientAddressPassed: the record service learns the client's address
// and transport.
func TestClientAddressPassed(t *testing.T) {
	h := startHarness(t, harnessOptions{noCache: true})
	want := map[string]clusterdnsv1.Transport{"udp": clusterdnsv1.Transport_TRANSPORT_UDP, "tcp": clusterdnsv1.Transport_TRANSPORT_TCP}
	for _, network := range transports() {
		h.ask(t, network, "Web.default.svc.cluster.local.", dns.TypeA)
		req := h.fake.lastRequest()
		if req.GetClientIp() != "127.0.0.1" || req.GetTransport() != want[network] ||
			req.GetName() != "Web.default.svc.cluster.local." || req.GetQtype() != uint32(dns.TypeA) {
			t.Errorf("%s: request %v", network, req)
		}
	}
}

// TestRotation: multi-address answers change order between responses.
func TestRotation(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	firsts := map[string]bool{}
	for range 6 {
		resp := h.ask(t, "udp", "three.default.svc.cluster.local.", dns.TypeA)
		h.cache.Wait()
		if len(resp.Answer) != 3 {
			t.Fatalf("answer %v", resp.Answer)
		}
		firsts[resp.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) != 3 {
		t.Errorf("first addresses seen %v, want all three", firsts)
	}
}

func TestLifecycle(t *testing.T) {
	h := startHarness(t, harnessOptions{noCache: true})
	// A second server on the same address cannot start.
	srv, err := dnsserver.New(dnsserver.Config{Listen: h.udp, Records: h.client})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err == nil {
		_ = srv.Shutdown(t.Context())
		t.Fatal("second server started on a used address")
	}
	// A server that shuts down stops answering.
	srv, err = dnsserver.New(dnsserver.Config{Listen: "127.0.0.1:0", Records: h.client})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	udpAddr, tcpAddr := srv.UDPAddr().String(), srv.TCPAddr().String()
	if _, p1, _ := net.SplitHostPort(udpAddr); !strings.HasSuffix(tcpAddr, ":"+p1) {
		t.Errorf("UDP %s and TCP %s ports differ", udpAddr, tcpAddr)
	}
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA), tcpAddr); err != nil {
		t.Fatalf("query before shutdown: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA), tcpAddr); err == nil {
		t.Error("query answered after shutdown")
	}
	// Bad configurations.
	for _, cfg := range []dnsserver.Config{
		{Listen: "127.0.0.1:0"},
		{Listen: "127.0.0.1:0", Records: h.client, ClusterDomain: "bad..domain"},
		{Listen: "nohostport", Records: h.client},
	} {
		if _, err := dnsserver.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
