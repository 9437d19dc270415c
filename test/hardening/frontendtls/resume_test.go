package frontendtls

import (
	"net/http"
	"testing"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestWatchResumesAfterRestart: the record service restarts on the same
// address with the same cluster objects (a new process, so a new server
// id); the frontend's Watch resumes from the state digest instead of
// resyncing, and a name cached before the restart is still a cache hit
// after it: nothing was flushed.
func TestWatchResumesAfterRestart(t *testing.T) {
	bins := stack.Installed(t)
	rs := stack.StartRecordService(t, bins, "--source", "file:"+clusterFile(t), "--lameduck", "0s")
	fe := stack.StartFrontend(t, bins, rs.Addr, "--lookup-timeout", "1s")
	connected := func() float64 { return metric(t, fe, "clusterdns_frontend_recordsvc_watch_connected", nil) }
	waitFor(t, waitLong, "the Watch stream open", func() bool { return connected() == 1 })
	if r := ask(t, fe.Addr, clusterName, false); !answersIP(r, clusterIP) {
		t.Fatalf("%s: %v", clusterName, r)
	}
	// Cached now: the next asks are hits.
	hits := metric(t, fe, "clusterdns_frontend_cache_hits_total", nil)
	if r := ask(t, fe.Addr, clusterName, false); !answersIP(r, clusterIP) {
		t.Fatalf("%s again: %v", clusterName, r)
	}
	if metric(t, fe, "clusterdns_frontend_cache_hits_total", nil) <= hits {
		t.Fatalf("%s asked twice is not a cache hit", clusterName)
	}
	applied := func(kind string) float64 {
		return metric(t, fe, "clusterdns_frontend_watch_messages_applied_total", map[string]string{"kind": kind})
	}
	resyncs, resumes := applied("resync"), applied("resumed")

	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitLong, "the frontend sees the stream broken", func() bool { return connected() == 0 })
	rs.Restart(t)
	waitFor(t, waitLong, "the Watch stream open again", func() bool { return connected() == 1 })
	if got := applied("resync") - resyncs; got != 0 {
		t.Fatalf("the frontend resynced (%v) instead of resuming; record service log:\n%s", got, rs.LogTail(20))
	}
	if got := applied("resumed") - resumes; got != 1 {
		t.Fatalf("resumed streams: %v, want 1", got)
	}
	waitFor(t, waitLong, "/ready 200 after the resume", func() bool { return readyStatus(t, fe) == http.StatusOK })

	hits = metric(t, fe, "clusterdns_frontend_cache_hits_total", nil)
	misses := metric(t, fe, "clusterdns_frontend_cache_misses_total", nil)
	for _, tcp := range []bool{false, true} {
		if r := ask(t, fe.Addr, clusterName, tcp); !answersIP(r, clusterIP) {
			t.Errorf("%s %s after the resume: %v", stack.Transport(tcp), clusterName, r)
		}
	}
	if got := metric(t, fe, "clusterdns_frontend_cache_hits_total", nil) - hits; got != 2 {
		t.Errorf("cache hits after the resume moved by %v, want 2 (the cache was flushed?)", got)
	}
	if got := metric(t, fe, "clusterdns_frontend_cache_misses_total", nil) - misses; got != 0 {
		t.Errorf("cache misses after the resume moved by %v, want 0", got)
	}
}
