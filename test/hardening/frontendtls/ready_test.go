package frontendtls

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestReadinessFollowsRecordService: /ready tells whether the frontend can
// answer names it has not cached. With the record service frozen (SIGSTOP:
// its connections stay open, nothing answers) /ready turns 503 within
// seconds while cached names still answer; /health stays 200; thawed
// (SIGCONT), the frontend is ready again.
func TestReadinessFollowsRecordService(t *testing.T) {
	bins := stack.Installed(t)
	rs := stack.StartRecordService(t, bins, "--source", "file:"+clusterFile(t))
	fe := stack.StartFrontend(t, bins, rs.Addr, "--lookup-timeout", "1s")
	waitFor(t, waitLong, "/ready 200 with the record service up", func() bool { return readyStatus(t, fe) == http.StatusOK })
	for _, tcp := range []bool{false, true} {
		if r := ask(t, fe.Addr, clusterName, tcp); !answersIP(r, clusterIP) {
			t.Fatalf("%s %s: %v", stack.Transport(tcp), clusterName, r)
		}
	}

	if err := rs.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := rs.Signal(syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(thaw) // a frozen process cannot be stopped

	// The probe interval is 1s and the readiness window 3s: 15s is the
	// generous bound of "within seconds" on a loaded machine, far below the
	// ~20s keepalive would take and the hour of the serve-stale window.
	waitFor(t, 15*time.Second, "/ready 503 with the record service frozen", func() bool {
		return readyStatus(t, fe) == http.StatusServiceUnavailable
	})
	hits := metric(t, fe, "clusterdns_frontend_cache_hits_total", nil)
	for _, tcp := range []bool{false, true} {
		if r := ask(t, fe.Addr, clusterName, tcp); !answersIP(r, clusterIP) {
			t.Errorf("%s %s (cached) with the record service frozen: %v", stack.Transport(tcp), clusterName, r)
		}
	}
	if got := metric(t, fe, "clusterdns_frontend_cache_hits_total", nil) - hits; got < 2 {
		t.Errorf("cache hits moved by %v while frozen, want 2", got)
	}
	if r := ask(t, fe.Addr, "never-cached.default.svc.cluster.local.", false); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("uncached name with the record service frozen: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if code := httpStatus(t, fe, "/health"); code != http.StatusOK {
		t.Errorf("/health %d with the record service frozen, want 200 (liveness only)", code)
	}

	thaw()
	waitFor(t, waitLong, "/ready 200 after the record service thawed", func() bool { return readyStatus(t, fe) == http.StatusOK })
	if r := ask(t, fe.Addr, "never-cached.default.svc.cluster.local.", true); r.Rcode != dns.RcodeNameError {
		t.Errorf("uncached absent name after the thaw: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
}
