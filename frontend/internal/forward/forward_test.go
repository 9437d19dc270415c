package forward

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestForward(t *testing.T) {
	type behaviour func(w dns.ResponseWriter, r *dns.Msg)
	silent := behaviour(nil)
	tests := []struct {
		name      string
		upstreams []behaviour // nil: a silent upstream
		closed    bool        // prepend an address nothing listens on
		markDown  bool        // mark every upstream down before the query
		edns      *dns.OPT    // client OPT record
		wantErr   bool
		wantRcode int
		wantIPs   []string
		check     func(t *testing.T, reply *dns.Msg, ups []*testUpstream)
	}{
		{
			name:      "answer from the upstream",
			upstreams: []behaviour{answerA("192.0.2.1")},
			wantIPs:   []string{"192.0.2.1"},
		},
		{
			name:      "truncated UDP reply retried over TCP",
			upstreams: []behaviour{truncating},
			wantIPs:   sequentialIPs(40),
			check: func(t *testing.T, reply *dns.Msg, ups []*testUpstream) {
				if reply.Truncated {
					t.Error("reply still truncated")
				}
				var networks []string
				for _, q := range ups[0].received() {
					networks = append(networks, q.network)
				}
				if !slices.Equal(networks, []string{"udp", "tcp"}) {
					t.Errorf("upstream saw %v, want [udp tcp]", networks)
				}
			},
		},
		{
			name:      "malformed and mismatched replies ignored",
			upstreams: []behaviour{spoofedFirst},
			wantIPs:   []string{"192.0.2.7"},
		},
		{
			name:      "silent upstream falls over to the next",
			upstreams: []behaviour{silent, answerA("192.0.2.2")},
			wantIPs:   []string{"192.0.2.2"},
		},
		{
			name:      "closed port falls over to the next",
			closed:    true,
			upstreams: []behaviour{answerA("192.0.2.3")},
			wantIPs:   []string{"192.0.2.3"},
		},
		{
			name:      "SERVFAIL retried on the next upstream",
			upstreams: []behaviour{answerRcode(dns.RcodeServerFailure), answerA("192.0.2.4")},
			wantIPs:   []string{"192.0.2.4"},
		},
		{
			name:      "REFUSED retried on the next upstream",
			upstreams: []behaviour{answerRcode(dns.RcodeRefused), answerA("192.0.2.5")},
			wantIPs:   []string{"192.0.2.5"},
		},
		{
			name:      "NXDOMAIN is an answer, not retried",
			upstreams: []behaviour{answerRcode(dns.RcodeNameError), answerA("192.0.2.6")},
			wantRcode: dns.RcodeNameError,
		},
		{
			name:      "every upstream SERVFAIL returns their SERVFAIL",
			upstreams: []behaviour{answerRcode(dns.RcodeServerFailure), answerRcode(dns.RcodeServerFailure)},
			wantRcode: dns.RcodeServerFailure,
		},
		{
			name:      "all upstreams down is an error, never a made-up answer",
			closed:    true,
			upstreams: []behaviour{silent, silent},
			wantErr:   true,
		},
		{
			name:      "upstreams marked down are tried anyway when all are down",
			upstreams: []behaviour{answerA("192.0.2.8")},
			markDown:  true,
			wantIPs:   []string{"192.0.2.8"},
		},
		{
			name:      "OPT 1232 added upstream and removed from the reply",
			upstreams: []behaviour{answerA("192.0.2.9")},
			wantIPs:   []string{"192.0.2.9"},
			check: func(t *testing.T, reply *dns.Msg, ups []*testUpstream) {
				opt := ups[0].received()[0].opt
				if opt == nil || opt.UDPSize() != DefaultUDPSize || opt.Do() {
					t.Errorf("upstream OPT = %v, want size %d without DO", opt, DefaultUDPSize)
				}
				if reply.IsEdns0() != nil {
					t.Error("reply to a client without EDNS0 carries an OPT record")
				}
			},
		},
		{
			name:      "client OPT and DO bit kept",
			upstreams: []behaviour{answerA("192.0.2.10")},
			edns:      func() *dns.OPT { m := new(dns.Msg); m.SetEdns0(4096, true); return m.IsEdns0() }(),
			wantIPs:   []string{"192.0.2.10"},
			check: func(t *testing.T, reply *dns.Msg, ups []*testUpstream) {
				opt := ups[0].received()[0].opt
				if opt == nil || opt.UDPSize() != 4096 || !opt.Do() {
					t.Errorf("upstream OPT = %v, want size 4096 with DO", opt)
				}
				if o := reply.IsEdns0(); o == nil || !o.Do() {
					t.Errorf("reply OPT = %v, want the upstream's with DO", o)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				ups   []*testUpstream
				addrs []string
			)
			if tt.closed {
				addrs = append(addrs, closedAddr(t))
			}
			for _, b := range tt.upstreams {
				u := startUpstream(t, b)
				if b == nil {
					u.silent.Store(true)
				}
				ups = append(ups, u)
				addrs = append(addrs, u.addr)
			}
			f, err := New(Config{Upstreams: addrs, Policy: PolicySequential, Timeout: testTimeout}, testLogger(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tt.markDown {
				for _, u := range f.routes.Load().all {
					u.down.Store(true)
				}
			}
			req := query("WwW.Example.COM.", dns.TypeA, 4242)
			if tt.edns != nil {
				req.Extra = append(req.Extra, tt.edns)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := f.Forward(ctx, req)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Forward = %v, want an error", got)
				}
				if got != nil {
					t.Errorf("Forward returned a message with its error: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Forward: %v", err)
			}
			if got.Id != req.Id {
				t.Errorf("reply ID %d, want the client's %d", got.Id, req.Id)
			}
			if len(got.Question) != 1 || got.Question[0] != req.Question[0] {
				t.Errorf("reply question %v, want the client's %v", got.Question, req.Question)
			}
			if got.Rcode != tt.wantRcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[got.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			if ips := answerIPs(got); !slices.Equal(ips, tt.wantIPs) {
				t.Errorf("answers %v, want %v", ips, tt.wantIPs)
			}
			if tt.check != nil {
				tt.check(t, got, ups)
			}
		})
	}
}

// sequentialIPs returns 192.0.2.1 to 192.0.2.n, what truncating answers over TCP.
func sequentialIPs(n int) []string {
	var ips []string
	for i := range n {
		ips = append(ips, fmt.Sprintf("192.0.2.%d", i+1))
	}
	return ips
}

// TestForwardRandomizesIDAndSourcePort checks that queries with the same client ID leave with new random
// IDs, and that a source port serves at most maxUDPUses queries in a row before a new one takes over, so
// that many queries leave from many ports.
func TestForwardRandomizesIDAndSourcePort(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: testTimeout}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const (
		clientID = 777
		queries  = 20 * maxUDPUses
	)
	for range queries {
		if _, err := f.Forward(context.Background(), query("a.example.", dns.TypeA, clientID)); err != nil {
			t.Fatalf("Forward: %v", err)
		}
	}
	ports := make(map[string]int)
	ids := make(map[uint16]bool)
	sameID := 0
	for _, q := range up.received() {
		ports[q.remote]++
		ids[q.id] = true
		if q.id == clientID {
			sameID++
		}
	}
	if len(ports) < queries/maxUDPUses {
		t.Errorf("%d queries came from %d source ports, want at least %d", queries, len(ports), queries/maxUDPUses)
	}
	for port, n := range ports {
		if n > maxUDPUses {
			t.Errorf("source %s sent %d queries, more than %d", port, n, maxUDPUses)
		}
	}
	// Random IDs collide now and then (and equal the client's once in 65536): allow a few, not a copied ID.
	if len(ids) < queries-8 || sameID > 1 {
		t.Errorf("upstream saw %d distinct IDs in %d queries (%d equal to the client's), want new random IDs", len(ids), queries, sameID)
	}
}

func TestForwardOverload(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		arrived <- struct{}{}
		<-release
		answerA("192.0.2.1")(w, r)
	})
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	f, err := New(Config{Upstreams: []string{up.addr}, MaxConcurrent: 1, Timeout: 5 * time.Second, Metrics: metrics}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := f.Forward(context.Background(), query("slow.example.", dns.TypeA, 1))
		first <- err
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("first query did not reach the upstream")
	}
	_, err = f.Forward(context.Background(), query("second.example.", dns.TypeA, 2))
	close(release)
	if !errors.Is(err, ErrOverloaded) {
		t.Errorf("second Forward error = %v, want ErrOverloaded", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first Forward: %v", err)
	}
	if v, _ := metricValue(t, reg, "clusterdns_forward_overload_refusals_total", nil); v != 1 {
		t.Errorf("overload refusals = %v, want 1", v)
	}
	if _, err := f.Forward(context.Background(), query("third.example.", dns.TypeA, 3)); err != nil {
		t.Errorf("Forward after the slot was released: %v", err)
	}
}

func TestForwardContextEnds(t *testing.T) {
	up := startUpstream(t, nil)
	up.silent.Store(true)
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: time.Minute}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Forward(ctx, query("a.example.", dns.TypeA, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Forward error = %v, want the context's deadline", err)
	}
	if upstreamDown(f, up.addr) || f.routes.Load().all[0].fails.Load() != 0 {
		t.Error("an attempt cut short by the caller's context counted against the upstream")
	}
}

func TestForwardPolicies(t *testing.T) {
	tests := []struct {
		policy string
		want   func(counts []int) bool
	}{
		{PolicySequential, func(c []int) bool { return c[0] == 6 && c[1] == 0 && c[2] == 0 }},
		{PolicyRoundRobin, func(c []int) bool { return c[0] == 2 && c[1] == 2 && c[2] == 2 }},
		{PolicyRandom, func(c []int) bool { return c[0]+c[1]+c[2] == 6 }},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			var ups []*testUpstream
			var addrs []string
			for range 3 {
				u := startUpstream(t, answerA("192.0.2.1"))
				ups = append(ups, u)
				addrs = append(addrs, u.addr)
			}
			f, err := New(Config{Upstreams: addrs, Policy: tt.policy, Timeout: testTimeout}, testLogger(t))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for i := range 6 {
				if _, err := f.Forward(context.Background(), query("a.example.", dns.TypeA, uint16(i))); err != nil {
					t.Fatalf("Forward: %v", err)
				}
			}
			counts := make([]int, len(ups))
			for i, u := range ups {
				counts[i] = len(u.received())
			}
			if !tt.want(counts) {
				t.Errorf("queries per upstream %v do not fit policy %s", counts, tt.policy)
			}
		})
	}
}

func TestForwardRejectsQuestionCount(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1"))
	f, err := New(Config{Upstreams: []string{up.addr}}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, n := range []int{0, 2} {
		req := new(dns.Msg)
		for range n {
			req.Question = append(req.Question, dns.Question{Name: "a.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		}
		if _, err := f.Forward(context.Background(), req); err == nil {
			t.Errorf("Forward with %d questions succeeded", n)
		}
	}
	if n := len(up.received()); n != 0 {
		t.Errorf("upstream got %d queries", n)
	}
}
