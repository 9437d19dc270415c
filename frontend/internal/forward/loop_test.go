package forward

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestLoopProbeName(t *testing.T) {
	cfg := Config{Upstreams: []string{"10.0.0.1"}}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := a.LoopProbeName()
	if !strings.HasSuffix(name, "."+loopProbeZone) {
		t.Errorf("probe name %q is not under %s", name, loopProbeZone)
	}
	if _, ok := dns.IsDomainName(name); !ok {
		t.Errorf("probe name %q is not a domain name", name)
	}
	if name == b.LoopProbeName() {
		t.Errorf("two forwarders chose the same probe name %q", name)
	}
}

func TestLoopDetectorSeen(t *testing.T) {
	const probe = "abc123.clusterdns-loop-check."
	tests := []struct {
		name     string
		detector *LoopDetector
		queries  []string
		want     []bool
	}{
		{"other names never count", NewLoopDetector(probe), []string{"a.example.", "clusterdns-loop-check.", "xabc123.clusterdns-loop-check."}, []bool{false, false, false}},
		{"second sighting is a loop", NewLoopDetector(probe), []string{probe, "a.example.", probe, probe}, []bool{false, false, true, true}},
		{"case-insensitive", NewLoopDetector(probe), []string{"ABC123.ClusterDNS-Loop-Check.", probe}, []bool{false, true}},
		{"probe name without final dot", NewLoopDetector(strings.TrimSuffix(probe, ".")), []string{probe, probe}, []bool{false, true}},
		{"zero value detects nothing", &LoopDetector{}, []string{"", ".", probe, probe}, []bool{false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, q := range tt.queries {
				if got := tt.detector.Seen(q); got != tt.want[i] {
					t.Errorf("query %d Seen(%q) = %v, want %v", i, q, got, tt.want[i])
				}
			}
		})
	}
}

// TestCheckLoopSendsProbes checks that CheckLoop queries every default upstream for the probe name.
func TestCheckLoopSendsProbes(t *testing.T) {
	a := startUpstream(t, answerRcode(dns.RcodeNameError))
	b := startUpstream(t, nil)
	b.silent.Store(true)
	f, err := New(Config{Upstreams: []string{a.addr, b.addr}, Timeout: 100 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckLoop(context.Background()); err != nil {
		t.Fatalf("CheckLoop: %v", err)
	}
	for _, u := range []*testUpstream{a, b} {
		qs := u.received()
		if len(qs) != loopProbeRounds {
			t.Errorf("upstream %s got %d probes, want %d", u.addr, len(qs), loopProbeRounds)
		}
		for _, q := range qs {
			if q.name != f.LoopProbeName() || q.qtype != dns.TypeHINFO {
				t.Errorf("upstream %s got %s %s, want %s HINFO", u.addr, q.name, dns.TypeToString[q.qtype], f.LoopProbeName())
			}
		}
	}
	if upstreamDown(f, b.addr) {
		t.Error("loop probes changed upstream health")
	}
}

// TestCheckLoopDetectsLoop wires a real loop: our listener forwards to an upstream that sends every query
// back to our listener. The listener's LoopDetector must fire on the probe name.
func TestCheckLoopDetectsLoop(t *testing.T) {
	var (
		mu       sync.Mutex
		listener string // our own address, known once the listener started
	)
	relay := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		to := listener
		mu.Unlock()
		c := &dns.Client{Timeout: 2 * time.Second}
		resp, _, err := c.Exchange(r, to)
		if err != nil {
			return
		}
		_ = w.WriteMsg(resp)
	})
	f, err := New(Config{Upstreams: []string{relay.addr}, Timeout: 300 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	detector := NewLoopDetector(f.LoopProbeName())
	detected := make(chan struct{})
	var once sync.Once
	own := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if detector.Seen(r.Question[0].Name) {
			once.Do(func() { close(detected) })
			answerRcode(dns.RcodeServerFailure)(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := f.Forward(ctx, r)
		if err != nil {
			answerRcode(dns.RcodeServerFailure)(w, r)
			return
		}
		_ = w.WriteMsg(resp)
	})
	mu.Lock()
	listener = own.addr
	mu.Unlock()

	if err := f.CheckLoop(context.Background()); err != nil {
		t.Fatalf("CheckLoop: %v", err)
	}
	select {
	case <-detected:
	case <-time.After(10 * time.Second):
		t.Fatalf("loop not detected: probe seen %d times", detector.Count())
	}
	if n := detector.Count(); n < LoopThreshold {
		t.Errorf("probe seen %d times, want >= %d", n, LoopThreshold)
	}
}

func TestCheckLoopContextEnds(t *testing.T) {
	up := startUpstream(t, nil)
	up.silent.Store(true)
	f, err := New(Config{Upstreams: []string{up.addr}, Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.CheckLoop(ctx); err == nil {
		t.Error("CheckLoop returned nil after its context ended")
	}
}
