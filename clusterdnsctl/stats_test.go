package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const sampleMetrics = `# HELP clusterdns_frontend_cache_hits_total Responses served from the cache.
# TYPE clusterdns_frontend_cache_hits_total counter
clusterdns_frontend_cache_hits_total 30
clusterdns_frontend_cache_misses_total 10
clusterdns_frontend_cache_entries 7
clusterdns_frontend_cache_evictions_total 2
clusterdns_frontend_cache_invalidated_total 4
clusterdns_frontend_cache_invalidations_total 3
clusterdns_frontend_cache_refused_total 1
clusterdns_frontend_stale_answers_total{source="cluster"} 5
clusterdns_frontend_stale_answers_total{source="upstream"} 6
clusterdns_frontend_requests_total{qtype="A",rcode="NOERROR",transport="udp"} 40
odd_metric{label="a } b \" c",other="x"} 1.5e+00 1700000000000
`

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		metricHits: 30, metricStale: 11, "odd_metric": 1.5, "clusterdns_frontend_requests_total": 40,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	for _, bad := range []string{"metric", `metric{a="b" 1`, "metric one"} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestStatsFrom(t *testing.T) {
	t.Parallel()
	m, err := parseMetrics(strings.NewReader(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	st, err := statsFrom("fe:9153", m)
	if err != nil {
		t.Fatal(err)
	}
	want := cacheStats{Frontend: "fe:9153", Hits: 30, Misses: 10, HitRatio: 0.75, Entries: 7, Evictions: 2,
		Invalidations: 3, Invalidated: 4, Refused: 1, StaleAnswers: 11}
	if st != want {
		t.Errorf("got %+v\nwant %+v", st, want)
	}
	if st, err := statsFrom("fe", map[string]float64{metricHits: 0}); err != nil || st.HitRatio != 0 {
		t.Errorf("no lookups yet: %+v %v", st, err)
	}
	if _, err := statsFrom("fe", map[string]float64{"go_goroutines": 5}); err == nil || !strings.Contains(err.Error(), "--cache-size 0") {
		t.Errorf("no cache metrics: %v", err)
	}
}

// TestStatsCommand runs stats against an HTTP server on loopback that
// serves /metrics as a frontend does, in both output formats, and against
// failing and unreachable ones.
func TestStatsCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			fmt.Fprint(w, sampleMetrics)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	code, stdout, stderr := runCtl(t, "stats", "--frontend-metrics", addr)
	if code != exitOK || !hasRow(stdout, "HITS", "30") || !hasRow(stdout, "HIT", "RATIO", "75.0%") ||
		!hasRow(stdout, "INVALIDATIONS", "3", "messages,", "4", "entries", "dropped") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCtl(t, "stats", "--frontend-metrics", addr, "-o", "json")
	var st cacheStats
	if code != exitOK || json.Unmarshal([]byte(stdout), &st) != nil || st.Hits != 30 || st.HitRatio != 0.75 || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	if code, _, stderr := runCtl(t, "stats", "--frontend-metrics", strings.TrimPrefix(broken.URL, "http://")); code != exitOther || !strings.Contains(stderr, "500") {
		t.Errorf("HTTP 500: exit %d %s", code, stderr)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()
	if code, _, stderr := runCtl(t, "stats", "--frontend-metrics", closedAddr); code != exitUnreachable {
		t.Errorf("nothing listening: exit %d %s", code, stderr)
	}
}
