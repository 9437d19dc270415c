package dnsserver_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstreamZone is what the test upstreams answer, a recursive resolver's
// view of a few names outside the cluster:
//
//	www.example.org.        A 192.0.2.10 (TTL 300), AAAA 2001:db8::10
//	multi.example.org.      A 192.0.2.1 .. 192.0.2.3 (TTL 300)
//	many.example.org.       A 100 records (more than 1232 bytes)
//	<any>.corp.example.     A 10.10.0.1
//	long.example.org.       A TTL 86400
//	short.example.org.      A TTL 2
//	tc.example.org.         over UDP: TC and no records; over TCP the
//	                        connection is closed without a reply
//	servfail.example.org.   SERVFAIL
//	refused.example.org.    REFUSED
//	9.9.9.9.in-addr.arpa.   PTR dns9.example.net.
//	everything else         NXDOMAIN, SOA example.org. TTL 3600 minimum 60
//
// The answers carry the upstream's name in a TXT record of the additional
// section so that tests see which upstream answered; its TTL of a week never
// sets the answer's lifetime.
func upstreamZone(label string) func(w dns.ResponseWriter, r *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		name := strings.ToLower(q.Name)
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if o := r.IsEdns0(); o != nil {
			m.SetEdns0(1232, o.Do())
		}
		tcp := w.LocalAddr().Network() == "tcp"
		a := func(ip string, ttl uint32) dns.RR {
			return &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)}
		}
		switch {
		case name == "www.example.org." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, a("192.0.2.10", 300))
		case name == "www.example.org." && q.Qtype == dns.TypeAAAA:
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300},
				AAAA: net.ParseIP("2001:db8::10")})
		case name == "multi.example.org." && q.Qtype == dns.TypeA:
			for i := 1; i <= 3; i++ {
				m.Answer = append(m.Answer, a(fmt.Sprintf("192.0.2.%d", i), 300))
			}
		case name == "many.example.org." && q.Qtype == dns.TypeA:
			for i := 1; i <= 100; i++ {
				m.Answer = append(m.Answer, a(fmt.Sprintf("198.51.100.%d", i), 300))
			}
		case strings.HasSuffix(name, ".corp.example.") && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, a("10.10.0.1", 300))
		case name == "long.example.org." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, a("192.0.2.20", 86400))
		case name == "short.example.org." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, a("192.0.2.21", 2))
		case name == "tc.example.org.":
			if tcp {
				_ = w.Close()
				return
			}
			m.Truncated = true
		case name == "servfail.example.org.":
			m.Rcode = dns.RcodeServerFailure
		case name == "refused.example.org.":
			m.Rcode = dns.RcodeRefused
		case name == "9.9.9.9.in-addr.arpa." && q.Qtype == dns.TypePTR:
			m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 300},
				Ptr: "dns9.example.net."})
		default:
			m.Rcode = dns.RcodeNameError
			soa, err := dns.NewRR("example.org. 3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 60")
			if err != nil {
				panic(err)
			}
			m.Ns = append(m.Ns, soa)
		}
		m.Extra = append(m.Extra, &dns.TXT{Hdr: dns.RR_Header{Name: "upstream.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 604800},
			Txt: []string{label}})
		if !tcp {
			size := dns.MinMsgSize
			if o := r.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	}
}

// answeredBy returns the label of the upstream that answered m, from its
// TXT marker in the additional section.
func answeredBy(m *dns.Msg) string {
	for _, rr := range m.Extra {
		if t, ok := rr.(*dns.TXT); ok && t.Hdr.Name == "upstream.test." {
			return strings.Join(t.Txt, "")
		}
	}
	return ""
}

// upstreamQuery is one query a test upstream received.
type upstreamQuery struct {
	network string
	id      uint16
	name    string
	qtype   uint16
	do      bool
	// options are the EDNS option codes of the query.
	options []uint16
}

// testUpstream is a miekg/dns server on one loopback port for UDP and TCP
// that records its queries.
type testUpstream struct {
	addr    string
	handler func(w dns.ResponseWriter, r *dns.Msg)
	// delay, when set, is slept before answering.
	delay atomic.Int64

	mu      sync.Mutex
	queries []upstreamQuery
}

func (s *testUpstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := upstreamQuery{network: w.LocalAddr().Network(), id: r.Id}
	if o := r.IsEdns0(); o != nil {
		q.do = o.Do()
		for _, opt := range o.Option {
			q.options = append(q.options, opt.Option())
		}
	}
	if len(r.Question) > 0 {
		q.name, q.qtype = strings.ToLower(r.Question[0].Name), r.Question[0].Qtype
	}
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	if d := time.Duration(s.delay.Load()); d > 0 && q.name != "." {
		time.Sleep(d)
	}
	s.handler(w, r)
}

// count returns how many queries for name (any case, any type) arrived.
func (s *testUpstream) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queries {
		if q.name == strings.ToLower(name) {
			n++
		}
	}
	return n
}

// received returns the queries for name.
func (s *testUpstream) received(name string) []upstreamQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []upstreamQuery
	for _, q := range s.queries {
		if q.name == strings.ToLower(name) {
			out = append(out, q)
		}
	}
	return out
}

// startUpstream starts a test upstream stopped at the end of the test.
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
		_ = pc.Close()
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
	done := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() {
			defer func() { done <- struct{}{} }()
			_ = srv.ActivateAndServe()
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
		<-done
		<-done
	})
	return s
}

// deadAddr returns a loopback address nothing listens on, UDP or TCP.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// clock is a settable time source for the cache.
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
