package dnsserver_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// TestServeStaleCluster: while the record service fails (timeout,
// NOT_READY, an unusable answer) cached cluster answers are served past
// their life with TTL 30 and counted; uncached names get SERVFAIL; with
// serve-stale off every failing name gets SERVFAIL; once the record service
// answers again the fresh answer replaces the stale one.
func TestServeStaleCluster(t *testing.T) {
	const (
		web     = "web.default.svc.cluster.local."
		unknown = "unknown.svc.cluster.local."
		db      = "db.default.svc.cluster.local."
	)
	failures := []struct {
		name string
		fail answerFunc
	}{
		{"lookup timeout", func(string, uint64) *clusterdnsv1.LookupResponse { return nil }},
		{"not ready", result(clusterdnsv1.Result_RESULT_NOT_READY)},
		{"unusable answer", func(name string, _ uint64) *clusterdnsv1.LookupResponse {
			return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS,
				Answer: []*clusterdnsv1.ResourceRecord{{Name: name, Ttl: 30}}}
		}},
	}
	for _, fl := range failures {
		for _, maxStale := range []time.Duration{time.Hour, 0} {
			t.Run(fmt.Sprintf("%s, serve-stale %v", fl.name, maxStale), func(t *testing.T) {
				clk := newClock()
				h := startHarness(t, harnessOptions{cache: dnscache.Config{MaxStale: maxStale, Now: clk.Now}})
				// Cache a positive and a negative answer; db stays uncached.
				for _, network := range transports() {
					if r := h.ask(t, network, web, dns.TypeA); r.Rcode != dns.RcodeSuccess {
						t.Fatalf("%s: %v", web, r)
					}
					if r := h.ask(t, network, unknown, dns.TypeA); r.Rcode != dns.RcodeNameError {
						t.Fatalf("%s: %v", unknown, r)
					}
					h.cache.Wait()
				}
				// Beyond every life the cache gives them (record TTL and the
				// 5m an exact entry is held).
				clk.advance(10 * time.Minute)
				for _, name := range []string{web, unknown, db} {
					h.fake.set(name, dns.TypeA, fl.fail)
				}
				webCalls := h.fake.callCount(web, dns.TypeA)
				asked := []struct {
					name  string
					rcode int // with serve-stale on
				}{
					{web, dns.RcodeSuccess},
					{unknown, dns.RcodeNameError},
					{db, dns.RcodeServerFailure},
				}
				stale := 0.0
				for _, network := range transports() {
					for _, q := range asked {
						resp := h.ask(t, network, q.name, dns.TypeA)
						want := q.rcode
						if maxStale == 0 {
							want = dns.RcodeServerFailure
						}
						if resp.Rcode != want {
							t.Errorf("%s %s: %s, want %s", network, q.name, dns.RcodeToString[resp.Rcode], dns.RcodeToString[want])
							continue
						}
						if want == dns.RcodeServerFailure {
							if len(resp.Answer)+len(resp.Ns) != 0 {
								t.Errorf("%s %s: SERVFAIL with records %v", network, q.name, resp)
							}
							continue
						}
						stale++
						if !resp.Authoritative {
							t.Errorf("%s %s: stale answer without AA", network, q.name)
						}
						for _, rr := range append(append([]dns.RR{}, resp.Answer...), resp.Ns...) {
							if rr.Header().Ttl != 30 {
								t.Errorf("%s %s: stale record %v, want TTL 30", network, q.name, rr)
							}
						}
						if q.name == web && (len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.96.0.5") {
							t.Errorf("%s %s: stale answer %v, want the cached 10.96.0.5", network, q.name, resp.Answer)
						}
						if q.name == unknown && len(resp.Ns) != 1 {
							t.Errorf("%s %s: stale NXDOMAIN without its SOA: %v", network, q.name, resp)
						}
					}
				}
				if got := h.fake.callCount(web, dns.TypeA); got != webCalls+2 {
					t.Errorf("record service asked %d times for %s while failing, want %d (asked first, every time)", got-webCalls, web, 2)
				}
				if got := counterValue(t, h.reg, "clusterdns_frontend_stale_answers_total", map[string]string{"source": "cluster"}); got != stale {
					t.Errorf("stale answers metric %v, want %v", got, stale)
				}

				// The record service is back, with new data.
				h.fake.set(web, dns.TypeA, aAnswer([]string{"svc/default/web", "ns/default"}, "10.96.0.55"))
				h.fake.set(db, dns.TypeA, aAnswer([]string{"svc/default/db"}, "10.96.0.6"))
				for _, network := range transports() {
					resp := h.ask(t, network, web, dns.TypeA)
					if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.96.0.55" {
						t.Errorf("%s %s after recovery: %v, want the fresh 10.96.0.55", network, web, resp)
					}
					h.cache.Wait()
					if resp := h.ask(t, network, db, dns.TypeA); resp.Rcode != dns.RcodeSuccess {
						t.Errorf("%s %s after recovery: %v", network, db, resp)
					}
				}
				if got := counterValue(t, h.reg, "clusterdns_frontend_stale_answers_total", map[string]string{"source": "cluster"}); got != stale {
					t.Errorf("stale answers metric moved to %v after recovery, want %v", got, stale)
				}
			})
		}
	}
}

// TestServeStaleNotWhileHealthy: an expired entry is never served stale
// while the record service answers.
func TestServeStaleNotWhileHealthy(t *testing.T) {
	const web = "web.default.svc.cluster.local."
	clk := newClock()
	h := startHarness(t, harnessOptions{cache: dnscache.Config{MaxStale: time.Hour, Now: clk.Now}})
	h.ask(t, "udp", web, dns.TypeA)
	h.cache.Wait()
	clk.advance(10 * time.Minute)
	h.fake.set(web, dns.TypeA, aAnswer([]string{"svc/default/web"}, "10.96.0.77"))
	resp := h.ask(t, "udp", web, dns.TypeA)
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.96.0.77" {
		t.Errorf("answer %v, want the record service's fresh 10.96.0.77", resp.Answer)
	}
	if got := counterValue(t, h.reg, "clusterdns_frontend_stale_answers_total", nil); got != 0 {
		t.Errorf("stale answers metric %v with a healthy record service", got)
	}
}

// TestServeStaleUpstream: while the upstreams fail (SERVFAIL, REFUSED, no
// answer) a cached upstream answer is served past its life with TTL 30;
// with serve-stale off the failure shows; a recovered upstream's answer
// replaces the stale one.
func TestServeStaleUpstream(t *testing.T) {
	const (
		answer = iota
		servfail
		refused
		silent
	)
	var mode, serial atomic.Int32
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch mode.Load() {
		case silent:
			return
		case servfail:
			m.Rcode = dns.RcodeServerFailure
		case refused:
			m.Rcode = dns.RcodeRefused
		default:
			if q := r.Question[0]; q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN A 192.0.2.%d", q.Name, serial.Load()))
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})
	tests := []struct {
		name      string
		mode      int32
		maxStale  time.Duration
		wantRcode int // without serve-stale
	}{
		{"upstream SERVFAIL", servfail, time.Hour, dns.RcodeServerFailure},
		{"upstream REFUSED", refused, time.Hour, dns.RcodeRefused},
		{"upstream silent", silent, time.Hour, dns.RcodeServerFailure},
		{"upstream SERVFAIL, serve-stale off", servfail, 0, dns.RcodeServerFailure},
		{"upstream REFUSED, serve-stale off", refused, 0, dns.RcodeRefused},
		{"upstream silent, serve-stale off", silent, 0, dns.RcodeServerFailure},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode.Store(answer)
			serial.Store(int32(10 + i))
			clk := newClock()
			h := startHarness(t, harnessOptions{
				cache:   dnscache.Config{MaxStale: tt.maxStale, Now: clk.Now},
				forward: forward.Config{Upstreams: []string{up.addr}, Timeout: 200 * time.Millisecond},
			})
			name := fmt.Sprintf("host%d.example.org.", i)
			first := h.ask(t, "udp", name, dns.TypeA)
			if first.Rcode != dns.RcodeSuccess || len(first.Answer) != 1 {
				t.Fatalf("first answer %v", first)
			}
			cached := first.Answer[0].(*dns.A).A.String()
			h.cache.Wait()
			clk.advance(2 * time.Minute)
			mode.Store(tt.mode)
			for _, network := range transports() {
				resp := h.ask(t, network, name, dns.TypeA)
				if tt.maxStale == 0 {
					if resp.Rcode != tt.wantRcode || len(resp.Answer) != 0 {
						t.Errorf("%s: %v, want %s without records", network, resp, dns.RcodeToString[tt.wantRcode])
					}
					continue
				}
				if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 ||
					resp.Answer[0].(*dns.A).A.String() != cached || resp.Answer[0].Header().Ttl != 30 {
					t.Errorf("%s: %v, want the cached %s with TTL 30", network, resp, cached)
				}
			}
			wantStale := 2.0
			if tt.maxStale == 0 {
				wantStale = 0
			}
			if got := counterValue(t, h.reg, "clusterdns_frontend_stale_answers_total", map[string]string{"source": "upstream"}); got != wantStale {
				t.Errorf("stale answers metric %v, want %v", got, wantStale)
			}
			serial.Add(100)
			mode.Store(answer)
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp := h.ask(t, "udp", name, dns.TypeA)
				if resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 1 && resp.Answer[0].(*dns.A).A.String() != cached {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no fresh answer after the upstream recovered: %v", resp)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
