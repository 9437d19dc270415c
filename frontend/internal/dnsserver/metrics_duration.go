package dnsserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/frontend/internal/seriessum"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// durationByTransport exposes clusterdns_frontend_request_duration_seconds
// {transport}: the histogram by query type and transport summed over the
// types when scraped, so that a request is observed once, by type.
type durationByTransport struct {
	vec    *prometheus.HistogramVec
	bounds []float64
	desc   *prometheus.Desc
}

func newDurationByTransport(vec *prometheus.HistogramVec, bounds []float64) durationByTransport {
	return durationByTransport{vec: vec, bounds: bounds, desc: prometheus.NewDesc("clusterdns_frontend_request_duration_seconds",
		"Time from receiving a DNS request to having its response ready to write, by transport.",
		[]string{"transport"}, nil)}
}

func (d durationByTransport) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d durationByTransport) Collect(ch chan<- prometheus.Metric) {
	metrics, err := seriessum.Collect(d.vec)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(d.desc, err)
		return
	}
	var sums seriessum.Sums
	// Both transports from the start, so that rate() sees the first
	// request of each.
	for _, t := range []clusterdnsv1.Transport{clusterdnsv1.Transport_TRANSPORT_UDP, clusterdnsv1.Transport_TRANSPORT_TCP} {
		sums.Touch(d.bounds, transportLabel(t))
	}
	for _, m := range metrics {
		sums.Add(m, seriessum.Label(m, "transport"))
	}
	sums.EmitHistograms(ch, d.desc)
}
