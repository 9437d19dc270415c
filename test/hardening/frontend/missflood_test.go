package frontend

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// Bounds of a frontend under a flood of unique cluster names while its
// record service is stopped. deploy/ gives a frontend 170Mi; with the
// default --max-concurrent-misses (1000) at most 2000 goroutines serve UDP
// queries off the read loops, each a few KiB of stack.
const (
	maxFloodRSS        = 120 << 20
	maxFloodGoroutines = 2300
)

// TestMissFloodWithStoppedRecordService: 30k unique cluster names over UDP
// in a few seconds while the record service is stopped (SIGSTOP), which
// once made a frontend start 12.5k goroutines and grow past 143 MB. The
// frontend's goroutines and RSS stay bounded, a cached name keeps
// answering, the flood gets REFUSED or SERVFAIL (never NXDOMAIN), and once
// the record service runs again (SIGCONT) new names resolve.
func TestMissFloodWithStoppedRecordService(t *testing.T) {
	rs, fe := startStack(t, "--lookup-timeout", "2s")
	base := stack.ScrapeMetrics(t, fe.MetricsAddr).Sum("go_goroutines")
	baseRSS, err := rssBytes(fe.PID())
	if err != nil {
		t.Fatal(err)
	}

	thaw := freeze(t, rs)
	peak := samplePeaks(fe)
	hits := probeHits(t, fe.Addr)
	res := floodUDP(t, fe.Addr, uniqueNames(30000, "flood"), 3*time.Second, 10*time.Second)
	asked, answered := hits.finish()
	peak.finish()

	t.Logf("before: %v goroutines, RSS %d MiB; flood: %d queries sent, replies by rcode %v; "+
		"peak %d goroutines, RSS %d MiB (%d samples); cache hits answered %d of %d",
		base, baseRSS>>20, res.sent, rcodeNames(res.replies), peak.goroutines.Load(), peak.rss.Load()>>20,
		peak.samples.Load(), answered, asked)
	if res.sent < 20000 {
		t.Fatalf("only %d flood queries sent", res.sent)
	}
	if g := peak.goroutines.Load(); g > maxFloodGoroutines {
		t.Errorf("peak goroutines %d, want at most %d", g, maxFloodGoroutines)
	}
	if r := peak.rss.Load(); r > maxFloodRSS {
		t.Errorf("peak RSS %d MiB, want at most %d MiB", r>>20, maxFloodRSS>>20)
	}
	if n := res.replies[dns.RcodeNameError]; n != 0 {
		t.Errorf("%d flood queries got NXDOMAIN with the record service stopped", n)
	}
	if res.replies[dns.RcodeRefused] == 0 {
		t.Errorf("no flood query was refused: replies %v", rcodeNames(res.replies))
	}
	if asked < 3 || float64(answered) < 0.66*float64(asked) {
		t.Errorf("cache hits answered %d of %d during the flood, want at least two thirds of 3 or more", answered, asked)
	}
	m := stack.ScrapeMetrics(t, fe.MetricsAddr)
	if shed := m.Sum("clusterdns_frontend_shed_total"); shed == 0 {
		t.Error("clusterdns_frontend_shed_total is 0 after the flood")
	}

	thaw()
	stack.Eventually(t, 30*time.Second, fe.Addr, "after-flood.default.svc.cluster.local.", dns.TypeA, false, func(m *dns.Msg) string {
		if m.Rcode != dns.RcodeNameError {
			return "not recovered: " + dns.RcodeToString[m.Rcode]
		}
		return ""
	})
	// The goroutines of the flood end with their lookups.
	deadline := time.Now().Add(30 * time.Second)
	for {
		g := stack.ScrapeMetrics(t, fe.MetricsAddr).Sum("go_goroutines")
		if g <= base+50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v goroutines 30s after the flood, %v before", g, base)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLookupTimeoutHoldsWhileBackedUp: with the record service stopped and
// its stream backed up by a flood of misses, every new cluster question
// asked over TCP (where nothing is lost) gets an answer, SERVFAIL or
// REFUSED, within three times --lookup-timeout; the stream's sender once
// held a lock across a blocked Send and answers took 4.6s and more.
func TestLookupTimeoutHoldsWhileBackedUp(t *testing.T) {
	const timeout = time.Second
	rs, fe := startStack(t, "--lookup-timeout", timeout.String())
	freeze(t, rs)
	floodDone := make(chan floodResult, 1)
	go func() {
		floodDone <- floodUDP(t, fe.Addr, uniqueNames(30000, "backlog"), 3*time.Second, 10*time.Second)
	}()

	c := &dns.Client{Net: "tcp", Timeout: 10 * timeout}
	var slowest time.Duration
	for i, name := range uniqueNames(20, "timed") {
		start := time.Now()
		r, _, err := c.ExchangeContext(context.Background(), stack.NewQuery(name, dns.TypeA), fe.Addr)
		d := time.Since(start)
		slowest = max(slowest, d)
		if err != nil {
			t.Fatalf("question %d: %v after %v", i, err, d)
		}
		if r.Rcode != dns.RcodeServerFailure && r.Rcode != dns.RcodeRefused {
			t.Errorf("question %d: %s, want SERVFAIL or REFUSED", i, dns.RcodeToString[r.Rcode])
		}
		if d > 3*timeout {
			t.Errorf("question %d answered after %v, want at most %v", i, d, 3*timeout)
		}
	}
	res := <-floodDone
	t.Logf("slowest of 20 answers %v; flood sent %d, replies %v", slowest, res.sent, rcodeNames(res.replies))
}

// TestSharedMissOneLookup: identical questions in flight at once make one
// Lookup at the record service (clusterdns_recordsvc_lookups_total).
func TestSharedMissOneLookup(t *testing.T) {
	rs, fe := startStack(t, "--lookup-timeout", "15s")
	const name = "shared.default.svc.cluster.local."
	const askers = 50
	before := stack.ScrapeMetrics(t, rs.MetricsAddr).Sum("clusterdns_recordsvc_lookups_total")
	thaw := freeze(t, rs)
	replies := make(chan *dns.Msg, askers)
	for range askers {
		go func() {
			c := &dns.Client{Net: "udp", Timeout: 25 * time.Second}
			r, _, err := c.Exchange(stack.NewQuery(name, dns.TypeA), fe.Addr)
			if err != nil {
				r = nil
			}
			replies <- r
		}()
	}
	// Every asker but the first waits for the first one's lookup.
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := stack.ScrapeMetrics(t, fe.MetricsAddr)
		waiting := m.Sum("clusterdns_frontend_shared_lookup_waiters")
		if waiting == askers-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shared_lookup_waiters %v, want %d (misses in flight %v, requests %v, %d replies in)",
				waiting, askers-1, m.Sum("clusterdns_frontend_misses_in_flight"),
				m.Sum("clusterdns_frontend_requests_total"), len(replies))
		}
		time.Sleep(20 * time.Millisecond)
	}
	thaw()
	for i := range askers {
		r := <-replies
		if r == nil || r.Rcode != dns.RcodeNameError {
			t.Errorf("asker %d: %v, want NXDOMAIN", i, r)
		}
	}
	if got := stack.ScrapeMetrics(t, rs.MetricsAddr).Sum("clusterdns_recordsvc_lookups_total") - before; got != 1 {
		t.Errorf("record service made %v lookups for %d identical questions, want 1", got, askers)
	}
}

// rcodeNames gives counts by rcode their names, for logs.
func rcodeNames(by map[int]int64) map[string]int64 {
	out := make(map[string]int64, len(by))
	for rc, n := range by {
		out[dns.RcodeToString[rc]] = n
	}
	return out
}
