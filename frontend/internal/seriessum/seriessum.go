// Package seriessum adds up Prometheus samples into groups named by label
// values, for collectors that expose at scrape time a coarser or renamed
// view of series the process already keeps: the hot path then counts once,
// and the other views cost only the scrape.
package seriessum

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Sums accumulates samples by group. The zero value is empty and ready;
// a Sums is not safe for concurrent use (a collector makes one per scrape).
type Sums struct {
	groups map[string]*group
}

type group struct {
	labels  []string
	value   float64
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

// Touch makes the group exist with nothing added, so that it is emitted
// at zero: a series present from the start lets rate() see its first
// increase. bounds are the upper bounds of a histogram's buckets (nil for
// other kinds), emitted at zero too.
func (s *Sums) Touch(bounds []float64, labels ...string) {
	g := s.group(labels)
	if len(bounds) > 0 && g.buckets == nil {
		g.buckets = make(map[float64]uint64, len(bounds))
	}
	for _, b := range bounds {
		g.buckets[b] += 0
	}
}

// Add adds m's value to the group named by labels: the value of a counter,
// gauge or untyped sample, or the count, sum and cumulative buckets of a
// histogram.
func (s *Sums) Add(m *dto.Metric, labels ...string) {
	g := s.group(labels)
	switch {
	case m.GetHistogram() != nil:
		h := m.GetHistogram()
		g.count += h.GetSampleCount()
		g.sum += h.GetSampleSum()
		if g.buckets == nil {
			g.buckets = make(map[float64]uint64, len(h.GetBucket()))
		}
		for _, b := range h.GetBucket() {
			g.buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	case m.GetCounter() != nil:
		g.value += m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		g.value += m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		g.value += m.GetUntyped().GetValue()
	}
}

// AddValue adds v to the group named by labels.
func (s *Sums) AddValue(v float64, labels ...string) {
	s.group(labels).value += v
}

// Emit sends each group as a constant sample of desc, whose variable
// labels are the group's label values in order.
func (s *Sums) Emit(ch chan<- prometheus.Metric, desc *prometheus.Desc, vt prometheus.ValueType) {
	for _, g := range s.groups {
		ch <- prometheus.MustNewConstMetric(desc, vt, g.value, g.labels...)
	}
}

// EmitHistograms sends each group as a constant histogram of desc. Groups
// merged from histograms with different bucket bounds would be
// meaningless; the callers merge children of one vector only.
func (s *Sums) EmitHistograms(ch chan<- prometheus.Metric, desc *prometheus.Desc) {
	for _, g := range s.groups {
		ch <- prometheus.MustNewConstHistogram(desc, g.count, g.sum, g.buckets, g.labels...)
	}
}

// Len is the number of groups.
func (s *Sums) Len() int { return len(s.groups) }

func (s *Sums) group(labels []string) *group {
	if s.groups == nil {
		s.groups = make(map[string]*group)
	}
	key := strings.Join(labels, "\xff")
	g, ok := s.groups[key]
	if !ok {
		g = &group{labels: labels}
		s.groups[key] = g
	}
	return g
}

// Label returns the value of the label name in m, or "" when m has none.
func Label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Collect gathers what c collects, for a collector that reads another one
// while it is itself being collected.
func Collect(c prometheus.Collector) ([]*dto.Metric, error) {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []*dto.Metric
	var firstErr error
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, &d)
	}
	return out, firstErr
}
