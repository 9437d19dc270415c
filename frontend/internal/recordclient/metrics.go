package recordclient

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the invalidation stream's Prometheus collectors. A nil
// *Metrics records nothing.
type Metrics struct {
	programming prometheus.Histogram
	messages    *prometheus.CounterVec
	keys        prometheus.Counter
	server      *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them on reg (the
// frontend's own registry):
//
//	clusterdns_frontend_programming_latency_seconds
//	clusterdns_frontend_watch_messages_applied_total{kind="invalidation"|"resync"|"resumed"}
//	clusterdns_frontend_watch_keys_applied_total
//	clusterdns_frontend_recordsvc_watch_server{server_id}
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "programming_latency_seconds",
			Help: "DNS programming latency: time from a change in the cluster (the change_time of a record " +
				"service invalidation: the EndpointSlice last-change-trigger-time, else when the record service " +
				"observed the change) to the invalidation applied to this frontend's cache.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "watch_messages_applied_total",
			Help: "Record service Watch messages applied, by kind (invalidation, resync, resumed: the first message of a stream that resumed where the last one stopped).",
		}, []string{"kind"}),
		keys: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "watch_keys_applied_total",
			Help: "Invalidation keys carried by the Watch invalidations applied.",
		}),
		server: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "recordsvc_watch_server",
			Help: "1 for the server_id of the record service replica the open Watch stream follows; no sample while none is open.",
		}, []string{"server_id"}),
	}
	for _, c := range []prometheus.Collector{m.programming, m.messages, m.keys, m.server} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register record client metrics: %w", err)
		}
	}
	return m, nil
}

// resync records a resync applied from serverID.
func (m *Metrics) resync(serverID string) {
	if m == nil {
		return
	}
	m.messages.WithLabelValues("resync").Inc()
	m.server.Reset()
	m.server.WithLabelValues(serverID).Set(1)
}

// resumed records a stream resumed at serverID with keys changed since the
// resume point.
func (m *Metrics) resumed(serverID string, keys int) {
	if m == nil {
		return
	}
	m.messages.WithLabelValues("resumed").Inc()
	m.keys.Add(float64(keys))
	m.server.Reset()
	m.server.WithLabelValues(serverID).Set(1)
}

// invalidation records an invalidation of keys applied at applied, for a
// change that began at changed (zero when the message did not say).
func (m *Metrics) invalidation(keys int, changed, applied time.Time) {
	if m == nil {
		return
	}
	m.messages.WithLabelValues("invalidation").Inc()
	m.keys.Add(float64(keys))
	if !changed.IsZero() {
		// A clock behind the record service's shows as 0, not negative.
		m.programming.Observe(max(applied.Sub(changed), 0).Seconds())
	}
}

// disconnected records that no stream is open.
func (m *Metrics) disconnected() {
	if m == nil {
		return
	}
	m.server.Reset()
}
