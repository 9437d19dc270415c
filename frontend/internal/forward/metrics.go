package forward

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of the upstream error counter.
const (
	reasonTimeout   = "timeout"   // an attempt got no matching reply in time
	reasonNetwork   = "network"   // dial, write or read failed (e.g. ICMP port unreachable)
	reasonMismatch  = "mismatch"  // a reply whose ID or question differs from the query was ignored
	reasonMalformed = "malformed" // a datagram that does not unpack as a DNS message was ignored
	reasonTCP       = "tcp"       // the TCP retry after a truncated UDP reply failed
	reasonServfail  = "servfail"  // a SERVFAIL reply made the query move to another upstream
	reasonRefused   = "refused"   // a REFUSED reply made the query move to another upstream
)

// Metrics holds the forwarder's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	overload prometheus.Counter
	healthy  *prometheus.GaugeVec
}

// NewMetrics creates the forwarder's collectors and registers them on reg (pass the frontend's own
// *prometheus.Registry; never the global default registry):
//
//	clusterdns_forward_upstream_duration_seconds{upstream,rcode}  histogram of answered attempts
//	clusterdns_forward_upstream_errors_total{upstream,reason}     timeout, network, mismatch, malformed, tcp, servfail, refused
//	clusterdns_forward_overload_refusals_total                    queries refused by MaxConcurrent
//	clusterdns_forward_upstream_healthy{upstream}                 1 up, 0 down
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "clusterdns",
			Subsystem: "forward",
			Name:      "upstream_duration_seconds",
			Help:      "Duration of upstream attempts that got a reply, by upstream and response code.",
			Buckets:   prometheus.ExponentialBuckets(0.00025, 2, 16),
		}, []string{"upstream", "rcode"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterdns",
			Subsystem: "forward",
			Name:      "upstream_errors_total",
			Help:      "Upstream errors and ignored replies, by upstream and reason.",
		}, []string{"upstream", "reason"}),
		overload: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clusterdns",
			Subsystem: "forward",
			Name:      "overload_refusals_total",
			Help:      "Queries refused because the bound on concurrent upstream queries was reached.",
		}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "clusterdns",
			Subsystem: "forward",
			Name:      "upstream_healthy",
			Help:      "Health of each upstream: 1 up, 0 marked down.",
		}, []string{"upstream"}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.errors, m.overload, m.healthy} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register forward metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) observe(upstream string, rcode int, d time.Duration) {
	if m == nil {
		return
	}
	name, ok := dns.RcodeToString[rcode]
	if !ok {
		name = fmt.Sprint(rcode)
	}
	m.duration.WithLabelValues(upstream, name).Observe(d.Seconds())
}

func (m *Metrics) failure(upstream, reason string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(upstream, reason).Inc()
}

func (m *Metrics) refused() {
	if m == nil {
		return
	}
	m.overload.Inc()
}

func (m *Metrics) health(upstream string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.healthy.WithLabelValues(upstream).Set(v)
}

// forget drops the series of an upstream that is no longer configured.
func (m *Metrics) forget(upstream string) {
	if m == nil {
		return
	}
	m.healthy.DeleteLabelValues(upstream)
	m.duration.DeletePartialMatch(prometheus.Labels{"upstream": upstream})
	m.errors.DeletePartialMatch(prometheus.Labels{"upstream": upstream})
}
