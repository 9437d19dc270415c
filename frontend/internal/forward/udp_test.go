package forward

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// TestUDPSocketReuse follows the source ports of two queries in a row: a socket whose query went cleanly
// serves the next one, while one that saw a stray datagram or timed out is closed and the next query
// leaves from a new socket; the second query always gets its answer.
func TestUDPSocketReuse(t *testing.T) {
	tests := []struct {
		name string
		// first is how the upstream treats the first query.
		first    func(w dns.ResponseWriter, r *dns.Msg)
		wantErr  bool // the first query fails
		samePort bool // the second query leaves from the first one's port
	}{
		{"clean reply: socket reused", answerA("192.0.2.1"), false, true},
		{"mismatched datagrams before the reply: socket closed", spoofedFirst, false, false},
		{"no reply: socket closed", func(dns.ResponseWriter, *dns.Msg) {}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
				if n.Add(1) == 1 {
					tt.first(w, r)
					return
				}
				answerA("192.0.2.2")(w, r)
			})
			f, err := New(Config{Upstreams: []string{up.addr}, Timeout: 300 * time.Millisecond}, testLogger(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if _, err := f.Forward(context.Background(), query("a.example.", dns.TypeA, 1)); (err != nil) != tt.wantErr {
				t.Fatalf("first Forward: %v, want error %v", err, tt.wantErr)
			}
			got, err := f.Forward(context.Background(), query("b.example.", dns.TypeA, 2))
			if err != nil {
				t.Fatalf("second Forward: %v", err)
			}
			if ips := answerIPs(got); !slices.Equal(ips, []string{"192.0.2.2"}) {
				t.Errorf("second answer %v, want 192.0.2.2", ips)
			}
			q := up.received()
			if len(q) != 2 {
				t.Fatalf("upstream got %d queries, want 2", len(q))
			}
			if same := q[0].remote == q[1].remote; same != tt.samePort {
				t.Errorf("queries from %s then %s: same socket %v, want %v", q[0].remote, q[1].remote, same, tt.samePort)
			}
		})
	}
}

// TestUDPForgedReplyFromOtherSource has a third party send a reply with the right ID and question to the
// forwarder's source port before the upstream answers: it comes from another address than the socket is
// connected to, so it never reaches the forwarder, which returns the upstream's answer.
func TestUDPForgedReplyFromOtherSource(t *testing.T) {
	forger, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	defer forger.Close()
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		forged := reply(r)
		forged.Answer = append(forged.Answer, aRecord(r.Question[0].Name, "6.6.6.6"))
		wire, err := forged.Pack()
		if err != nil {
			t.Errorf("pack forged reply: %v", err)
			return
		}
		if _, err := forger.WriteTo(wire, w.RemoteAddr()); err != nil {
			t.Errorf("send forged reply: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the forged reply arrives first
		answerA("192.0.2.1")(w, r)
	})
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: testTimeout}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for i := range 3 {
		got, err := f.Forward(context.Background(), query("a.example.", dns.TypeA, uint16(i)))
		if err != nil {
			t.Fatalf("Forward: %v", err)
		}
		if ips := answerIPs(got); !slices.Equal(ips, []string{"192.0.2.1"}) {
			t.Fatalf("answer %v, want the upstream's 192.0.2.1", ips)
		}
	}
}

// TestUDPOnlyMismatchedReplies has the upstream answer with a wrong ID only: the forwarder keeps reading
// until the attempt times out, counts the mismatches and the timeout, and returns an error.
func TestUDPOnlyMismatchedReplies(t *testing.T) {
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := reply(r)
		m.Id ^= 0x5a5a
		m.Answer = append(m.Answer, aRecord(r.Question[0].Name, "6.6.6.6"))
		_ = w.WriteMsg(m)
	})
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	const timeout = 200 * time.Millisecond
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: timeout, Metrics: metrics}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	start := time.Now()
	got, err := f.Forward(context.Background(), query("a.example.", dns.TypeA, 1))
	if err == nil {
		t.Fatalf("Forward = %v, want an error", got)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Forward error = %v, want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("Forward gave up after %v, before the %v timeout", elapsed, timeout)
	}
	for reason, min := range map[string]float64{reasonMismatch: 1, reasonTimeout: 1} {
		if v, _ := metricValue(t, reg, "clusterdns_forward_upstream_errors_total", map[string]string{"reason": reason}); v < min {
			t.Errorf("errors{reason=%s} = %v, want at least %v", reason, v, min)
		}
	}
}

// TestUDPConcurrentQueriesOwnSockets holds the replies until 8 queries have arrived: queries in flight
// together never share a socket, so they come from 8 ports, and each gets its own answer.
func TestUDPConcurrentQueriesOwnSockets(t *testing.T) {
	const n = 8
	var (
		mu      sync.Mutex
		waiting []func()
	)
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := reply(r)
		m.Answer = append(m.Answer, aRecord(r.Question[0].Name, "192.0.2.1"))
		mu.Lock()
		defer mu.Unlock()
		waiting = append(waiting, func() { _ = w.WriteMsg(m) })
		if len(waiting) == n {
			for _, send := range waiting {
				send()
			}
		}
	})
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: 5 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var wg sync.WaitGroup
	names := []string{"a.", "b.", "c.", "d.", "e.", "f.", "g.", "h."}
	for _, name := range names {
		wg.Go(func() {
			got, err := f.Forward(context.Background(), query(name+"example.", dns.TypeA, 1))
			if err != nil {
				t.Errorf("Forward %s: %v", name, err)
				return
			}
			if got.Question[0].Name != name+"example." || len(got.Answer) != 1 || got.Answer[0].Header().Name != name+"example." {
				t.Errorf("Forward %s got %v", name, got)
			}
		})
	}
	wg.Wait()
	ports := make(map[string]bool)
	for _, q := range up.received() {
		ports[q.remote] = true
	}
	if len(ports) != n {
		t.Errorf("%d concurrent queries came from %d source ports, want %d", n, len(ports), n)
	}
}

// TestTruncatedRetriesShareTCP sends two queries whose UDP replies are truncated: both are retried over
// TCP, the second on the connection the first one opened.
func TestTruncatedRetriesShareTCP(t *testing.T) {
	up := startUpstream(t, truncating)
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: testTimeout}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, name := range []string{"a.example.", "b.example."} {
		got, err := f.Forward(context.Background(), query(name, dns.TypeA, 1))
		if err != nil {
			t.Fatalf("Forward %s: %v", name, err)
		}
		if got.Truncated || len(got.Answer) != 40 {
			t.Errorf("Forward %s: TC %v with %d answers, want the 40 of the TCP reply", name, got.Truncated, len(got.Answer))
		}
	}
	var tcp []string
	for _, q := range up.received() {
		if q.network == "tcp" {
			tcp = append(tcp, q.remote)
		}
	}
	if len(tcp) != 2 || tcp[0] != tcp[1] {
		t.Errorf("TCP retries came from %v, want two from one connection", tcp)
	}
}
