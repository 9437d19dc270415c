package forward

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// testTimeout is the per-attempt timeout of the tests: long enough for a loaded machine to answer on
// loopback, short enough for silent upstreams to fail quickly.
const testTimeout = 700 * time.Millisecond

// receivedQuery is what a test upstream saw of one query.
type receivedQuery struct {
	network string // "udp" or "tcp"
	remote  string // client address, "ip:port"
	id      uint16
	name    string
	qtype   uint16
	opt     *dns.OPT
}

// testUpstream is a miekg/dns server listening on the same loopback port for UDP and TCP, recording the
// queries it gets and answering with a programmable handler.
type testUpstream struct {
	addr    string
	handler func(w dns.ResponseWriter, r *dns.Msg)
	silent  atomic.Bool // when set, queries are recorded but never answered

	mu      sync.Mutex
	queries []receivedQuery
}

func (s *testUpstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := receivedQuery{network: w.LocalAddr().Network(), remote: w.RemoteAddr().String(), id: r.Id, opt: r.IsEdns0()}
	if len(r.Question) > 0 {
		q.name, q.qtype = r.Question[0].Name, r.Question[0].Qtype
	}
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	if s.silent.Load() {
		return
	}
	s.handler(w, r)
}

// received returns the queries seen so far, without the ". NS" health probes.
func (s *testUpstream) received() []receivedQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []receivedQuery
	for _, q := range s.queries {
		if q.name != "." {
			out = append(out, q)
		}
	}
	return out
}

// startUpstream starts a test upstream on 127.0.0.1, UDP and TCP on one port, stopped at the end of the test.
func startUpstream(t *testing.T, handler func(w dns.ResponseWriter, r *dns.Msg)) *testUpstream {
	t.Helper()
	s := &testUpstream{handler: handler}
	var (
		pc net.PacketConn
		ln net.Listener
	)
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc, ln = nil, nil
	}
	if pc == nil {
		t.Fatal("no loopback port free for both UDP and TCP")
	}
	s.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udp := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	tcp := &dns.Server{Listener: ln, Handler: s, NotifyStartedFunc: notify}
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				t.Logf("test upstream %s: %v", s.addr, err)
			}
		}()
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("test upstream did not start")
		}
	}
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return s
}

// closedAddr returns a loopback UDP address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// reply starts an answer to r, echoing its OPT record the way a resolver does.
func reply(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
	}
	return m
}

func aRecord(name, ip string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)}
}

// answerA answers every query with one A record.
func answerA(ip string) func(w dns.ResponseWriter, r *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := reply(r)
		m.Answer = append(m.Answer, aRecord(r.Question[0].Name, ip))
		_ = w.WriteMsg(m)
	}
}

// answerRcode answers every query with an empty reply carrying rcode.
func answerRcode(rcode int) func(w dns.ResponseWriter, r *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := reply(r)
		m.Rcode = rcode
		_ = w.WriteMsg(m)
	}
}

// truncating answers over UDP with TC set and no records, and with 40 A records over TCP.
func truncating(w dns.ResponseWriter, r *dns.Msg) {
	m := reply(r)
	if w.LocalAddr().Network() == "udp" {
		m.Truncated = true
		_ = w.WriteMsg(m)
		return
	}
	for i := range 40 {
		m.Answer = append(m.Answer, aRecord(r.Question[0].Name, fmt.Sprintf("192.0.2.%d", i+1)))
	}
	_ = w.WriteMsg(m)
}

// spoofedFirst sends, before the real answer (192.0.2.7, question name lower-cased), a malformed datagram
// and replies that must be ignored: a wrong ID, a wrong name, a wrong type, and one without QR.
func spoofedFirst(w dns.ResponseWriter, r *dns.Msg) {
	_, _ = w.Write([]byte{0x12, 0x34, 0x81})
	bad := func(mutate func(m *dns.Msg)) {
		m := reply(r)
		m.Answer = append(m.Answer, aRecord(r.Question[0].Name, "6.6.6.6"))
		mutate(m)
		_ = w.WriteMsg(m)
	}
	bad(func(m *dns.Msg) { m.Id ^= 0x5a5a })
	bad(func(m *dns.Msg) { m.Question[0].Name = "evil.example." })
	bad(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA })
	bad(func(m *dns.Msg) { m.Response = false })
	m := reply(r)
	m.Question[0].Name = strings.ToLower(m.Question[0].Name)
	m.Answer = append(m.Answer, aRecord(m.Question[0].Name, "192.0.2.7"))
	_ = w.WriteMsg(m)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// query builds a client query with the given ID.
func query(name string, qtype uint16, id uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	return m
}

// answerIPs returns the addresses of the A records of m.
func answerIPs(m *dns.Msg) []string {
	var ips []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return ips
}

// eventually polls cond every 10ms until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricValue returns the value of the counter or gauge name with the given labels in reg (or the sample
// count of a histogram), and whether it exists.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := make(map[string]string)
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// upstreamDown reports whether the forwarder has marked addr down.
func upstreamDown(f *Forwarder, addr string) bool {
	for _, u := range f.routes.Load().all {
		if u.addr == addr {
			return u.down.Load()
		}
	}
	return false
}
