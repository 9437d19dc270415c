package dnsserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
)

// blockLookups makes the fake's lookups of names hang until the returned
// function is called.
func blockLookups(h *harness, names ...string) (release func()) {
	ch := make(chan struct{})
	h.fake.mu.Lock()
	for _, name := range names {
		h.fake.block[answerKey(name, dns.TypeA)] = func() uint64 {
			<-ch
			h.fake.mu.Lock()
			defer h.fake.mu.Unlock()
			return h.fake.revision
		}
	}
	h.fake.mu.Unlock()
	return func() { close(ch) }
}

// askAsync asks name in the background; the answer (nil on error) comes
// on the channel.
func askAsync(h *harness, network, name string) <-chan *dns.Msg {
	out := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Net: network, Timeout: 30 * time.Second}
		resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), h.addr(network))
		if err != nil {
			resp = nil
		}
		out <- resp
	}()
	return out
}

// waitGauge polls a metric until it reaches want.
func waitGauge(t *testing.T, h *harness, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for counterValue(t, h.reg, name, nil) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, counterValue(t, h.reg, name, nil), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMissAdmission: with --max-concurrent-misses lookups hanging, another
// miss is refused at once (not after the lookup timeout) and counted,
// while cached names keep answering; once the lookups return, misses are
// admitted again.
func TestMissAdmission(t *testing.T) {
	const slots = 3
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			h := startHarness(t, harnessOptions{
				lookupTimeout: 20 * time.Second,
				configure:     func(c *dnsserver.Config) { c.MaxConcurrentMisses = slots },
			})
			const cached = "web.default.svc.cluster.local."
			if r := h.ask(t, network, cached, dns.TypeA); r.Rcode != dns.RcodeSuccess {
				t.Fatalf("priming %s: rcode %s", cached, dns.RcodeToString[r.Rcode])
			}
			h.cache.Wait()
			var slow []string
			for i := range slots {
				slow = append(slow, fmt.Sprintf("slow-%d.default.svc.cluster.local.", i))
			}
			release := blockLookups(h, slow...)
			var pending []<-chan *dns.Msg
			for _, name := range slow {
				pending = append(pending, askAsync(h, network, name))
			}
			waitGauge(t, h, "clusterdns_frontend_misses_in_flight", slots)

			start := time.Now()
			r := h.ask(t, network, "other.default.svc.cluster.local.", dns.TypeA)
			if r.Rcode != dns.RcodeRefused {
				t.Errorf("miss beyond the bound: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
			}
			// The lookups hang for 20s: an answer within 10s was shed.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("refusal took %v", d)
			}
			if got := counterValue(t, h.reg, "clusterdns_frontend_shed_total", map[string]string{"reason": "max_concurrent_misses"}); got < 1 {
				t.Errorf("shed_total{reason=max_concurrent_misses} = %v, want >= 1", got)
			}
			for range 20 {
				if r := h.ask(t, network, cached, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Fatalf("cache hit while misses are full: rcode %s answer %v", dns.RcodeToString[r.Rcode], r.Answer)
				}
			}

			release()
			for i, ch := range pending {
				if r := <-ch; r == nil || r.Rcode != dns.RcodeNameError {
					t.Errorf("slow lookup %d after release: %v, want NXDOMAIN", i, r)
				}
			}
			waitGauge(t, h, "clusterdns_frontend_misses_in_flight", 0)
			if r := h.ask(t, network, "db.default.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
				t.Errorf("miss after recovery: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
			}
		})
	}
}

// TestSharedLookup: identical questions in flight at once, whatever their
// letter case, share one record service lookup, and every asker gets the
// answer in its own case.
func TestSharedLookup(t *testing.T) {
	tests := []struct {
		name    string
		network string
		askers  int
	}{
		{"udp", "udp", 50},
		{"tcp", "tcp", 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHarness(t, harnessOptions{lookupTimeout: 20 * time.Second})
			const name = "web.default.svc.cluster.local."
			release := blockLookups(h, name)
			var pending []<-chan *dns.Msg
			for i := range tt.askers {
				q := name
				if i%2 == 1 {
					q = "WEB.Default.svc.cluster.local."
				}
				pending = append(pending, askAsync(h, tt.network, q))
			}
			waitGauge(t, h, "clusterdns_frontend_shared_lookup_waiters", float64(tt.askers-1))
			release()
			for i, ch := range pending {
				r := <-ch
				if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Fatalf("asker %d: %v", i, r)
				}
				if got, want := r.Answer[0].Header().Name, r.Question[0].Name; got != want {
					t.Errorf("asker %d: owner %q, want the question's case %q", i, got, want)
				}
			}
			if got := h.fake.callCount(name, dns.TypeA); got != 1 {
				t.Errorf("record service asked %d times, want 1", got)
			}
		})
	}
}

// TestMissesBeyondResidentWorkers: more UDP misses in flight at once than
// a socket's read loop keeps workers for are all answered, each with its
// own question, by the workers and the goroutines started beyond them;
// afterwards the workers serve new misses.
func TestMissesBeyondResidentWorkers(t *testing.T) {
	const misses = 150
	h := startHarness(t, harnessOptions{
		lookupTimeout: 20 * time.Second,
		configure:     func(c *dnsserver.Config) { c.UDPSockets = 1 },
	})
	var names []string
	for i := range misses {
		names = append(names, fmt.Sprintf("busy-%d.default.svc.cluster.local.", i))
	}
	release := blockLookups(h, names...)
	pending := make([]<-chan *dns.Msg, len(names))
	for i, name := range names {
		pending[i] = askAsync(h, "udp", name)
	}
	waitGauge(t, h, "clusterdns_frontend_misses_in_flight", misses)
	release()
	for i, ch := range pending {
		r := <-ch
		if r == nil || r.Rcode != dns.RcodeNameError || len(r.Question) != 1 || r.Question[0].Name != names[i] {
			t.Fatalf("miss %d (%s): %v, want NXDOMAIN for its own question", i, names[i], r)
		}
	}
	waitGauge(t, h, "clusterdns_frontend_misses_in_flight", 0)
	for i := range 20 {
		name := fmt.Sprintf("after-%d.default.svc.cluster.local.", i)
		if r := h.ask(t, "udp", name, dns.TypeA); r.Rcode != dns.RcodeNameError || r.Question[0].Name != name {
			t.Fatalf("%s after the burst: %v", name, r)
		}
	}
}
