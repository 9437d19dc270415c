package stack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Metrics are the samples of one Prometheus text-format scrape, keyed by the
// sample as written before its value: `name` or `name{label="v",...}`.
type Metrics map[string]float64

// Scrape fetches http://addr/metrics and parses it.
func Scrape(ctx context.Context, addr string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: status %d: %s", addr, resp.StatusCode, body)
	}
	return ParseMetrics(resp.Body)
}

// ScrapeMetrics is Scrape for the test's goroutine: it fails t on error.
func ScrapeMetrics(t testing.TB, addr string) Metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := Scrape(ctx, addr)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	return m
}

// ParseMetrics reads the Prometheus text exposition format. Comment lines
// are skipped; an optional timestamp after the value is ignored.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sample, rest, err := splitSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, fmt.Errorf("metrics line %d: want a value (and optional timestamp) after %q", n, sample)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		m[sample] = v
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return m, nil
}

// splitSample splits a sample line into `name{labels}` and the rest, minding
// quoted label values that contain spaces or braces.
func splitSample(line string) (string, string, error) {
	brace := strings.IndexByte(line, '{')
	space := strings.IndexAny(line, " \t")
	if brace < 0 || (space >= 0 && space < brace) {
		if space < 0 {
			return "", "", fmt.Errorf("no value in %q", line)
		}
		return line[:space], line[space:], nil
	}
	inQuote, escaped := false, false
	for i := brace + 1; i < len(line); i++ {
		switch c := line[i]; {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == '}' && !inQuote:
			return line[:i+1], line[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("unterminated labels in %q", line)
}

// metricName returns the metric name of a sample key.
func metricName(sample string) string {
	name, _, _ := strings.Cut(sample, "{")
	return name
}

// Sum adds the values of every sample of the metric name, whatever their
// labels (0 when there are none).
func (m Metrics) Sum(name string) float64 {
	var total float64
	for sample, v := range m {
		if metricName(sample) == name {
			total += v
		}
	}
	return total
}

// SumWhere adds the values of the samples of metric name whose labels include
// every label="value" pair given.
func (m Metrics) SumWhere(name string, labels map[string]string) float64 {
	var total float64
	for sample, v := range m {
		if metricName(sample) != name {
			continue
		}
		match := true
		for k, val := range labels {
			pair := k + "=" + strconv.Quote(val)
			if !strings.Contains(sample, "{"+pair) && !strings.Contains(sample, ","+pair) {
				match = false
				break
			}
		}
		if match {
			total += v
		}
	}
	return total
}

// Names returns the sorted metric names present.
func (m Metrics) Names() []string {
	seen := map[string]bool{}
	for sample := range m {
		seen[metricName(sample)] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
