package recordserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// resultInvalid labels lookups rejected before answering.
const resultInvalid = "invalid_argument"

// metrics are the record service's Prometheus metrics.
type metrics struct {
	lookups *prometheus.CounterVec
	// byResult are the lookups counters of each result, resolved once:
	// looking a label up costs more than the rest of a cached answer.
	byResult       map[clusterdnsv1.Result]prometheus.Counter
	invalid        prometheus.Counter
	lookupDuration prometheus.Histogram
	watchStreams   prometheus.Gauge
	watchOverflows prometheus.Counter
	watchStarts    *prometheus.CounterVec
	autopath       prometheus.Counter
	revision       prometheus.GaugeFunc
	synced         prometheus.GaugeFunc
	// programmingDelay is the Index's histogram, registered with the rest.
	programmingDelay prometheus.Collector
}

func newMetrics(ix *kubeindex.Index) *metrics {
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_lookups_total",
			Help: "Lookups answered, by result (success, no_data, name_error, not_ready, not_authoritative, invalid_argument).",
		}, []string{"result"}),
		lookupDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clusterdns_recordsvc_lookup_duration_seconds",
			Help:    "Time to answer a Lookup inside the server, excluding transport.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1µs .. 262ms
		}),
		watchStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clusterdns_recordsvc_watch_streams",
			Help: "Watch streams currently open.",
		}),
		watchOverflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_watch_overflows_total",
			Help: "Watch streams ended because the client fell behind the change stream.",
		}),
		watchStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_watch_starts_total",
			Help: "Watch streams opened, by outcome: fresh (no resume point asked), resumed (caught up from the " +
				"client's resume point), resume_failed (resume point unknown here: resync).",
		}, []string{"outcome"}),
		autopath: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_autopath_completions_total",
			Help: "Lookups answered through server-side search-path completion (--autopath): a CNAME from the " +
				"asked name to a name found further down the client pod's search path.",
		}),
		programmingDelay: ix.ProgrammingDelay(),
		revision: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clusterdns_recordsvc_revision",
			Help: "Current revision of the indexes; it moves on every DNS-visible change.",
		}, func() float64 { return float64(ix.Revision()) }),
		synced: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "clusterdns_recordsvc_synced",
			Help: "1 once the indexes have completed their first sync, else 0.",
		}, func() float64 {
			if ix.Synced() {
				return 1
			}
			return 0
		}),
	}
	m.byResult = make(map[clusterdnsv1.Result]prometheus.Counter, len(clusterdnsv1.Result_value))
	for _, v := range clusterdnsv1.Result_value {
		if r := clusterdnsv1.Result(v); r != clusterdnsv1.Result_RESULT_UNSPECIFIED {
			m.byResult[r] = m.lookups.WithLabelValues(resultLabel(r))
		}
	}
	m.invalid = m.lookups.WithLabelValues(resultInvalid)
	return m
}

// RegisterMetrics registers the server's metrics with reg.
func (s *Server) RegisterMetrics(reg prometheus.Registerer) error {
	m := s.metrics
	for _, c := range []prometheus.Collector{m.lookups, m.lookupDuration, m.watchStreams, m.watchOverflows,
		m.watchStarts, m.autopath, m.revision, m.synced, m.programmingDelay, s.clients.requests} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register record service metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) observe(resp *clusterdnsv1.LookupResponse, d time.Duration) {
	if c, ok := m.byResult[resp.GetResult()]; ok {
		c.Inc()
	} else {
		m.lookups.WithLabelValues(resultLabel(resp.GetResult())).Inc()
	}
	m.lookupDuration.Observe(d.Seconds())
	if resp.GetAutopathNamespace() != "" {
		m.autopath.Inc()
	}
}

// resultLabel turns RESULT_NAME_ERROR into name_error.
func resultLabel(r clusterdnsv1.Result) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "RESULT_"))
}
