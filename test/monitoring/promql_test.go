package monitoring

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The parts of a PromQL expression that hold no metric name, removed
// before the names are read: strings (label values, Grafana variables in
// them), label matchers, range and subquery brackets, the label lists of
// by, without, on, ignoring and group_left/right, and Grafana variables.
var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`(?i)\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlVariables = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promqlTokens    = regexp.MustCompile(`[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
)

// promqlKeyword reports whether a word of PromQL is a keyword, no metric name.
func promqlKeyword(word string) bool {
	switch strings.ToLower(word) {
	case "and", "or", "unless", "bool", "offset", "inf", "nan",
		"by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

// metricNames returns the metric names a PromQL expression selects, sorted
// and without repeats: every identifier that is not a function call, a
// keyword, a label name or a number. It is no parser, but it reads the
// expressions of alerts.yaml and dashboard.json, and its test pins what it
// reads.
func metricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlVariables.ReplaceAllString(s, " ")
	var names []string
	for _, tok := range promqlTokens.FindAllString(s, -1) {
		if tok[0] >= '0' && tok[0] <= '9' || strings.HasSuffix(tok, "(") {
			continue // a number or duration, or a function or aggregation
		}
		tok = strings.TrimSpace(tok)
		if promqlKeyword(tok) {
			continue
		}
		names = append(names, tok)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`absent(up{job="kube-dns"} == 1)`, []string{"up"}},
		{
			`sum(rate(a_total{job="x",rcode="SERVFAIL"}[5m])) / sum(rate(a_total{job="x"}[5m])) > 0.03`,
			[]string{"a_total"},
		},
		{
			`histogram_quantile(0.99, sum by (le, server) (rate(b_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`,
			[]string{"b_seconds_bucket"},
		},
		{
			`sum(rate(h[15m])) / (sum(rate(h[15m])) + sum(rate(m[15m]))) < 0.5 and sum without (pod) (rate(r[15m])) > 1`,
			[]string{"h", "m", "r"},
		},
		{`count by (version, revision) (x_info{job=~"$a|$b"})`, []string{"x_info"}},
		{`rate(c[5m] offset 1h) * on (instance) group_left (version) d_info`, []string{"c", "d_info"}},
		{`sum (rate (f [5m]))`, []string{"f"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
