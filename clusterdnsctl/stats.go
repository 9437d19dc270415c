package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// The frontend's cache metrics (frontend/internal/dnsserver/metrics.go).
const (
	metricHits          = "clusterdns_frontend_cache_hits_total"
	metricMisses        = "clusterdns_frontend_cache_misses_total"
	metricEntries       = "clusterdns_frontend_cache_entries"
	metricEvictions     = "clusterdns_frontend_cache_evictions_total"
	metricInvalidated   = "clusterdns_frontend_cache_invalidated_total"
	metricInvalidations = "clusterdns_frontend_cache_invalidations_total"
	metricRefused       = "clusterdns_frontend_cache_refused_total"
	metricStale         = "clusterdns_frontend_stale_answers_total"
	// maxMetricsBytes bounds what is read of /metrics: a frontend's is a
	// few hundred kilobytes.
	maxMetricsBytes = 64 << 20
)

// cacheStats is what stats prints; the JSON names are stable for scripts.
type cacheStats struct {
	Frontend string `json:"frontend"`
	Hits     uint64 `json:"hits"`
	Misses   uint64 `json:"misses"`
	// HitRatio is hits / (hits + misses), 0 before any lookup.
	HitRatio float64 `json:"hitRatio"`
	// Entries is the number of answers cached.
	Entries uint64 `json:"entries"`
	// Evictions are entries dropped for room or expiry.
	Evictions uint64 `json:"evictions"`
	// Invalidations are invalidation and resync messages applied;
	// Invalidated the entries they dropped.
	Invalidations uint64 `json:"invalidations"`
	Invalidated   uint64 `json:"invalidated"`
	// Refused are answers not cached because an invalidation raced them.
	Refused uint64 `json:"refused"`
	// StaleAnswers are answers served past their life (RFC 8767).
	StaleAnswers uint64 `json:"staleAnswers"`
}

func statsCommand() command {
	return command{
		path:    []string{"stats"},
		summary: "a frontend's cache statistics, from its /metrics",
		help: `Reads the Prometheus /metrics of a frontend (its --metrics-listen address) and prints its
cache statistics: hits, misses, hit ratio, entries, evictions, invalidations (messages
applied and entries dropped), refused fills and stale answers (-o json: one object).
The record service flags are not used. A frontend without a cache (--cache-size 0)
exports none of these and is an error.

  clusterdnsctl stats --frontend-metrics 127.0.0.1:9153`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			addr := fs.String("frontend-metrics", "", "the frontend's metrics address, HOST:PORT (its --metrics-listen)")
			return func(ctx context.Context, e *env, args []string) error { return runStats(ctx, e, args, *addr) }
		},
	}
}

func runStats(ctx context.Context, e *env, args []string, addr string) error {
	if err := wantArgs(args, 0, 0, "no argument"); err != nil {
		return err
	}
	if addr == "" {
		return usageError{errors.New("--frontend-metrics: missing (the frontend's --metrics-listen HOST:PORT)")}
	}
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
		return usageError{fmt.Errorf("--frontend-metrics %q: want HOST:PORT", addr)}
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	samples, err := scrape(ctx, addr)
	if err != nil {
		return err
	}
	st, err := statsFrom(addr, samples)
	if err != nil {
		return err
	}
	if e.opts.Output == formatJSON {
		return writeJSON(e.stdout, st)
	}
	return writeStats(e.stdout, st)
}

// scrape reads http://addr/metrics and sums each metric over its labels.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	url := "http://" + addr + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, usageError{fmt.Errorf("--frontend-metrics %q: %w", addr, err)}
	}
	// Plain text: the protobuf and OpenMetrics formats are not needed.
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %s", url, resp.Status)
	}
	samples, err := parseMetrics(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return samples, nil
}

// parseMetrics reads the Prometheus text format and returns, for each
// metric name, the sum of its samples over all label sets: the cache
// metrics have no labels but stale answers count by source.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	sums := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			// Label values may hold spaces and braces, but not an unescaped
			// quote: skip to the brace that closes the set.
			end := labelsEnd(rest)
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated labels: %q", n, line)
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("line %d: no value: %q", n, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value %q: %w", n, fields[0], err)
		}
		sums[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return sums, nil
}

// labelsEnd is the index of the "}" closing the label set s starts with,
// or -1.
func labelsEnd(s string) int {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch {
		case inQuote && s[i] == '\\':
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case !inQuote && s[i] == '}':
			return i
		}
	}
	return -1
}

// statsFrom picks the cache statistics out of a scrape.
func statsFrom(addr string, m map[string]float64) (cacheStats, error) {
	if _, ok := m[metricHits]; !ok {
		return cacheStats{}, fmt.Errorf("%s has no %s: not a clusterdns frontend, or its cache is off (--cache-size 0)",
			addr, metricHits)
	}
	st := cacheStats{
		Frontend:      addr,
		Hits:          uint64(m[metricHits]),
		Misses:        uint64(m[metricMisses]),
		Entries:       uint64(m[metricEntries]),
		Evictions:     uint64(m[metricEvictions]),
		Invalidations: uint64(m[metricInvalidations]),
		Invalidated:   uint64(m[metricInvalidated]),
		Refused:       uint64(m[metricRefused]),
		StaleAnswers:  uint64(m[metricStale]),
	}
	if total := st.Hits + st.Misses; total > 0 {
		st.HitRatio = float64(st.Hits) / float64(total)
	}
	return st, nil
}

// writeStats prints the statistics as aligned "name value" lines.
func writeStats(w io.Writer, st cacheStats) error {
	t := newTable(w)
	for _, r := range [][2]string{
		{"FRONTEND", st.Frontend},
		{"HITS", strconv.FormatUint(st.Hits, 10)},
		{"MISSES", strconv.FormatUint(st.Misses, 10)},
		{"HIT RATIO", fmt.Sprintf("%.1f%%", 100*st.HitRatio)},
		{"ENTRIES", strconv.FormatUint(st.Entries, 10)},
		{"EVICTIONS", strconv.FormatUint(st.Evictions, 10)},
		{"INVALIDATIONS", fmt.Sprintf("%d messages, %d entries dropped", st.Invalidations, st.Invalidated)},
		{"REFUSED FILLS", strconv.FormatUint(st.Refused, 10)},
		{"STALE ANSWERS", strconv.FormatUint(st.StaleAnswers, 10)},
	} {
		t.row(r[0], r[1])
	}
	return t.flush()
}
