package corednsmetrics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// source holds real collectors named and labelled as the frontend's.
type source struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	hits, misses prometheus.Counter
	entries      prometheus.Gauge
	fwdDuration  *prometheus.HistogramVec
	fwdErrors    *prometheus.CounterVec
	fwdHealthy   *prometheus.GaugeVec
}

func newSource(t *testing.T, withCache, withForward bool) *source {
	t.Helper()
	s := &source{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: srcRequests, Help: "h"},
			[]string{"qtype", "transport", "rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: srcDuration, Help: "h",
			Buckets: []float64{0.001, 0.01}}, []string{"qtype", "transport"}),
		hits:    prometheus.NewCounter(prometheus.CounterOpts{Name: srcCacheHits, Help: "h"}),
		misses:  prometheus.NewCounter(prometheus.CounterOpts{Name: srcCacheMisses, Help: "h"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: srcCacheEntries, Help: "h"}),
		fwdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: srcForwardDuration, Help: "h",
			Buckets: []float64{0.001, 0.01}}, []string{"upstream", "rcode"}),
		fwdErrors:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: srcForwardErrors, Help: "h"}, []string{"upstream", "reason"}),
		fwdHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: srcForwardHealthy, Help: "h"}, []string{"upstream"}),
	}
	s.reg.MustRegister(s.requests, s.duration)
	if withCache {
		s.reg.MustRegister(s.hits, s.misses, s.entries)
	}
	if withForward {
		s.reg.MustRegister(s.fwdDuration, s.fwdErrors, s.fwdHealthy)
	}
	return s
}

// scrape gathers c and returns its samples as `name{label="value",...}`
// (labels sorted; histograms by their _count and _sum) to value.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(pairs)
			labels := "{" + strings.Join(pairs, ",") + "}"
			switch {
			case m.GetHistogram() != nil:
				out[f.GetName()+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			case m.GetCounter() != nil:
				out[f.GetName()+labels] = m.GetCounter().GetValue()
			default:
				out[f.GetName()+labels] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	const srv = `server="dns://:53"`
	tests := []struct {
		name                   string
		withCache, withForward bool
		fill                   func(s *source)
		want                   map[string]float64
		absent                 []string
	}{
		{
			name: "requests by proto and type, responses by rcode, duration by type",
			fill: func(s *source) {
				s.requests.WithLabelValues("A", "udp", "NOERROR").Add(5)
				s.requests.WithLabelValues("A", "udp", "NXDOMAIN").Add(2)
				s.requests.WithLabelValues("A", "tcp", "NOERROR").Add(1)
				s.requests.WithLabelValues("SRV", "udp", "SERVFAIL").Add(3)
				// Types CoreDNS does not name are summed as "other".
				s.requests.WithLabelValues("CAA", "udp", "NOERROR").Add(1)
				s.requests.WithLabelValues("other", "udp", "NOERROR").Add(1)
				s.duration.WithLabelValues("A", "udp").Observe(0.0005)
				s.duration.WithLabelValues("A", "tcp").Observe(0.002)
				s.duration.WithLabelValues("CAA", "udp").Observe(0.0005)
			},
			want: map[string]float64{
				`coredns_dns_requests_total{family="1",proto="udp",` + srv + `,type="A",view="",zone="."}`:     7,
				`coredns_dns_requests_total{family="1",proto="tcp",` + srv + `,type="A",view="",zone="."}`:     1,
				`coredns_dns_requests_total{family="1",proto="udp",` + srv + `,type="SRV",view="",zone="."}`:   3,
				`coredns_dns_requests_total{family="1",proto="udp",` + srv + `,type="other",view="",zone="."}`: 2,
				`coredns_dns_responses_total{plugin="",rcode="NOERROR",` + srv + `,view="",zone="."}`:          8,
				`coredns_dns_responses_total{plugin="",rcode="NXDOMAIN",` + srv + `,view="",zone="."}`:         2,
				`coredns_dns_responses_total{plugin="",rcode="SERVFAIL",` + srv + `,view="",zone="."}`:         3,
				`coredns_dns_request_duration_seconds_count{` + srv + `,type="A",view="",zone="."}`:            2,
				`coredns_dns_request_duration_seconds_sum{` + srv + `,type="A",view="",zone="."}`:              0.0025,
				`coredns_dns_request_duration_seconds_count{` + srv + `,type="other",view="",zone="."}`:        1,
				`coredns_panics_total{}`: 0,
			},
			absent: []string{"coredns_cache_hits_total", "coredns_forward_requests_total"},
		},
		{
			name:      "cache",
			withCache: true,
			fill: func(s *source) {
				s.hits.Add(40)
				s.misses.Add(10)
				s.entries.Set(7)
			},
			want: map[string]float64{
				`coredns_cache_hits_total{` + srv + `,type="all",view="",zones="."}`: 40,
				`coredns_cache_misses_total{` + srv + `,view="",zones="."}`:          10,
				`coredns_cache_requests_total{` + srv + `,view="",zones="."}`:        50,
				`coredns_cache_entries{` + srv + `,type="all",view="",zones="."}`:    7,
			},
		},
		{
			name:        "forward: requests are replies plus attempts without one",
			withForward: true,
			fill: func(s *source) {
				s.fwdHealthy.WithLabelValues("127.0.0.1:5300").Set(1)
				s.fwdHealthy.WithLabelValues("127.0.0.2:53").Set(1) // no traffic yet: present at 0
				s.fwdDuration.WithLabelValues("127.0.0.1:5300", "NOERROR").Observe(0.002)
				s.fwdDuration.WithLabelValues("127.0.0.1:5300", "NOERROR").Observe(0.002)
				s.fwdDuration.WithLabelValues("127.0.0.1:5300", "SERVFAIL").Observe(0.02)
				s.fwdErrors.WithLabelValues("127.0.0.1:5300", "timeout").Add(2)
				s.fwdErrors.WithLabelValues("127.0.0.1:5300", "network").Add(1)
				s.fwdErrors.WithLabelValues("127.0.0.1:5300", "tcp").Add(1)
				// Counted by rcode already, or no attempt at all.
				s.fwdErrors.WithLabelValues("127.0.0.1:5300", "servfail").Add(1)
				s.fwdErrors.WithLabelValues("127.0.0.1:5300", "mismatch").Add(9)
				s.fwdErrors.WithLabelValues("127.0.0.1:5300", "malformed").Add(9)
			},
			want: map[string]float64{
				`coredns_forward_requests_total{to="127.0.0.1:5300"}`:                                  7,
				`coredns_forward_requests_total{to="127.0.0.2:53"}`:                                    0,
				`coredns_forward_responses_total{rcode="NOERROR",to="127.0.0.1:5300"}`:                 2,
				`coredns_forward_responses_total{rcode="SERVFAIL",to="127.0.0.1:5300"}`:                1,
				`coredns_forward_request_duration_seconds_count{rcode="NOERROR",to="127.0.0.1:5300"}`:  2,
				`coredns_forward_request_duration_seconds_count{rcode="SERVFAIL",to="127.0.0.1:5300"}`: 1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, tt.withCache, tt.withForward)
			tt.fill(s)
			got := scrape(t, New(s.reg, "0.0.0.0:53"))
			for sample, want := range tt.want {
				v, ok := got[sample]
				if !ok {
					t.Errorf("%s missing; got %v", sample, slices.Sorted(maps.Keys(got)))
					continue
				}
				if v != want {
					t.Errorf("%s = %v, want %v", sample, v, want)
				}
			}
			for _, name := range tt.absent {
				for sample := range got {
					if strings.HasPrefix(sample, name+"{") {
						t.Errorf("%s exposed without its source: %s", name, sample)
					}
				}
			}
		})
	}
}

// TestCollectorHistogramBuckets: the CoreDNS histograms keep the source's
// buckets, summed over the merged series.
func TestCollectorHistogramBuckets(t *testing.T) {
	s := newSource(t, false, false)
	s.duration.WithLabelValues("A", "udp").Observe(0.0005)
	s.duration.WithLabelValues("A", "tcp").Observe(0.005)
	s.duration.WithLabelValues("A", "tcp").Observe(1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(s.reg, "127.0.0.1:1053"))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "coredns_dns_request_duration_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		var got []uint64
		for _, b := range h.GetBucket() {
			got = append(got, b.GetCumulativeCount())
		}
		if want := []uint64{1, 2}; !slices.Equal(got, want) || h.GetSampleCount() != 3 {
			t.Errorf("buckets %v count %d, want %v count 3", got, h.GetSampleCount(), want)
		}
		return
	}
	t.Fatal("coredns_dns_request_duration_seconds not exposed")
}

func TestServerLabels(t *testing.T) {
	tests := []struct {
		listen, server, family string
	}{
		{"0.0.0.0:53", "dns://:53", "1"},
		{":53", "dns://:53", "1"},
		{"[::]:53", "dns://:53", "1"},
		{"127.0.0.1:1053", "dns://127.0.0.1:1053", "1"},
		{"[::1]:53", "dns://[::1]:53", "2"},
		{"[::ffff:10.0.0.1]:53", "dns://[::ffff:10.0.0.1]:53", "1"},
	}
	for _, tt := range tests {
		server, family := ServerLabels(tt.listen)
		if server != tt.server || family != tt.family {
			t.Errorf("ServerLabels(%q) = %q, %q; want %q, %q", tt.listen, server, family, tt.server, tt.family)
		}
	}
}

// failing is a Gatherer that fails.
type failing struct{}

func (failing) Gather() ([]*dto.MetricFamily, error) { return nil, errors.New("broken source") }

// TestCollectorSourceFails: a source that fails makes the scrape fail
// rather than show CoreDNS series at zero.
func TestCollectorSourceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(failing{}, "0.0.0.0:53"))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "broken source") {
		t.Errorf("Gather error = %v, want the source's", err)
	}
}
