package dnsserver

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Metrics holds the DNS server's Prometheus collectors. A nil *Metrics
// records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	// duration is observed by query type and transport, so that the
	// CoreDNS-named histogram can say the type; it is exposed through
	// QtypeDurations, and clusterdns_frontend_request_duration_seconds
	// sums it by transport at scrape time (durationByTransport).
	duration       *prometheus.HistogramVec
	lookupDuration *prometheus.HistogramVec
	lookupErrors   *prometheus.CounterVec
	malformed      prometheus.Counter
	tcpOpen        prometheus.Gauge
	tcpRejects     *prometheus.CounterVec
	stale          *prometheus.CounterVec
	shedTotal      *prometheus.CounterVec
	// missPath is the handler whose miss path the gauges show.
	missPath atomic.Pointer[Handler]

	// series caches the children of requests and duration by the key
	// requestSeries computes; it is replaced, never changed, under mu.
	series atomic.Pointer[map[uint64]requestChildren]
	mu     sync.Mutex
}

// requestChildren are the series one answered request moves: one map
// lookup finds both, so counting by query type costs the duration nothing
// more than counting the request did.
type requestChildren struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics creates the server's collectors and registers them on reg (the
// frontend's own registry, never the global default). With a non-nil cache
// it also exports the cache's counters:
//
//	clusterdns_frontend_requests_total{qtype,transport,rcode}
//	clusterdns_frontend_request_duration_seconds{transport} (summed over query types when scraped)
//	clusterdns_frontend_malformed_requests_total
//	clusterdns_frontend_tcp_connections
//	clusterdns_frontend_tcp_connections_rejected_total{reason="max_connections"|"per_ip"}
//	clusterdns_frontend_recordsvc_lookup_duration_seconds{result}
//	clusterdns_frontend_recordsvc_lookup_errors_total{code}
//	clusterdns_frontend_stale_answers_total{source="cluster"|"upstream"}
//	clusterdns_frontend_shed_total{reason}
//	clusterdns_frontend_cache_hits_total, _misses_total, _evictions_total,
//	_invalidated_total, _refused_total, _invalidations_total
//	clusterdns_frontend_cache_entries
func NewMetrics(reg prometheus.Registerer, cache *dnscache.Cache) (*Metrics, error) {
	// 50µs to 6.5s: the top buckets reach past the 4s of the usual CoreDNS
	// latency alert.
	durationBuckets := prometheus.ExponentialBuckets(0.00005, 2, 18)
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "requests_total",
			Help: "DNS requests answered, by query type, transport and response code.",
		}, []string{"qtype", "transport", "rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "request_duration_by_qtype_seconds",
			Help:    "Time from receiving a DNS request to having its response ready to write, by query type and transport.",
			Buckets: durationBuckets,
		}, []string{"qtype", "transport"}),
		lookupDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "recordsvc_lookup_duration_seconds",
			Help:    "Duration of record service Lookup calls, by result (error when the call failed).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"result"}),
		lookupErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "recordsvc_lookup_errors_total",
			Help: "Failed record service Lookup calls, by gRPC status code.",
		}, []string{"code"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "malformed_requests_total",
			Help: "Received messages that did not unpack as DNS queries.",
		}),
		tcpOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "tcp_connections",
			Help: "DNS TCP connections open.",
		}),
		tcpRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "tcp_connections_rejected_total",
			Help: "DNS TCP connections closed at once, by the bound reached: max_connections (open connections) " +
				"or per_ip (open connections of one client address).",
		}, []string{"reason"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: "stale_answers_total",
			Help: "Cached answers served past their life (serve-stale, RFC 8767) because their source failed, " +
				"by source (cluster: the record service; upstream: the upstream resolvers).",
		}, []string{"source"}),
	}
	m.series.Store(&map[uint64]requestChildren{})
	// Both series exist from the start, so that rate() sees the first one.
	m.stale.WithLabelValues(sourceCluster)
	m.stale.WithLabelValues(sourceUpstream)
	m.tcpRejects.WithLabelValues(rejectMaxConnections)
	m.tcpRejects.WithLabelValues(rejectPerIP)
	collectors := []prometheus.Collector{m.requests, newDurationByTransport(m.duration, durationBuckets), m.lookupDuration, m.lookupErrors, m.malformed, m.tcpOpen, m.tcpRejects, m.stale}
	if cache != nil {
		counter := func(name, help string, v func(dnscache.Stats) uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "clusterdns", Subsystem: "frontend", Name: name, Help: help,
			}, func() float64 { return float64(v(cache.Stats())) })
		}
		collectors = append(collectors,
			counter("cache_hits_total", "Responses served from the cache.",
				func(s dnscache.Stats) uint64 { return s.Hits }),
			counter("cache_absent_hits_total", "Cache hits that were NXDOMAIN answers proved by a namespace's list of Services "+
				"(names below <namespace>.svc.<zone> whose label under the namespace is no Service), counted in cache_hits_total too.",
				func(s dnscache.Stats) uint64 { return s.Absent }),
			counter("cache_misses_total", "Cache lookups that found nothing servable.",
				func(s dnscache.Stats) uint64 { return s.Misses }),
			counter("cache_evictions_total", "Cache entries evicted for room or expiry.",
				func(s dnscache.Stats) uint64 { return s.Evictions }),
			counter("cache_invalidated_total", "Cluster cache entries dropped by record service invalidations and resyncs.",
				func(s dnscache.Stats) uint64 { return s.Invalidated }),
			counter("cache_refused_total", "Answers not cached because an invalidation raced their lookup.",
				func(s dnscache.Stats) uint64 { return s.Refused }),
			counter("cache_invalidations_total", "Invalidation and resync messages applied to the cache.",
				func(s dnscache.Stats) uint64 { return s.Invalidations }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "clusterdns", Subsystem: "frontend", Name: "cache_entries",
				Help: "Responses held in the cache.",
			}, func() float64 { return float64(cache.Stats().Entries) }),
		)
	}
	collectors = append(collectors, m.newShedMetrics()...)
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register DNS server metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) request(qtype uint16, transport clusterdnsv1.Transport, rcode int, d time.Duration) {
	if m == nil {
		return
	}
	s := m.requestSeries(qtype, transport, rcode)
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// requestSeries returns the requests counter of a query type, transport
// and rcode and the duration histogram of the type and transport, from
// the cache of children when they are there.
func (m *Metrics) requestSeries(qtype uint16, transport clusterdnsv1.Transport, rcode int) requestChildren {
	// Unknown types share one label, and so one key outside uint16.
	typeKey := uint64(qtype)
	if _, ok := dns.TypeToString[qtype]; !ok {
		typeKey = 1 << 16
	}
	key := typeKey<<40 | uint64(uint32(rcode))<<8 | uint64(transport)&0xFF
	if s, ok := (*m.series.Load())[key]; ok {
		return s
	}
	qt, tr := qtypeLabel(qtype), transportLabel(transport)
	s := requestChildren{
		count:    m.requests.WithLabelValues(qt, tr, rcodeLabel(rcode)),
		duration: m.duration.WithLabelValues(qt, tr),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	next := make(map[uint64]requestChildren, len(old)+1)
	maps.Copy(next, old)
	next[key] = s
	m.series.Store(&next)
	return s
}

// QtypeDurations is the request duration histogram by query type and
// transport, for the CoreDNS-named metrics (package corednsmetrics). It is
// not registered by NewMetrics: register it on a registry of its own, read
// at scrape time, so that /metrics does not carry it twice.
func (m *Metrics) QtypeDurations() prometheus.Collector {
	return m.duration
}

func (m *Metrics) lookup(resp *clusterdnsv1.LookupResponse, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := "error"
	if err == nil {
		result = resultLabel(resp.GetResult())
	} else {
		// status.Code finds the gRPC status inside wrapped errors.
		m.lookupErrors.WithLabelValues(status.Code(err).String()).Inc()
	}
	m.lookupDuration.WithLabelValues(result).Observe(d.Seconds())
}

func (m *Metrics) staleAnswer(source string) {
	if m == nil {
		return
	}
	m.stale.WithLabelValues(source).Inc()
}

func (m *Metrics) malformedRequest() {
	if m == nil {
		return
	}
	m.malformed.Inc()
}

func (m *Metrics) tcpConnections(delta int) {
	if m == nil {
		return
	}
	m.tcpOpen.Add(float64(delta))
}

func (m *Metrics) tcpRejected(reason string) {
	if m == nil {
		return
	}
	m.tcpRejects.WithLabelValues(reason).Inc()
}

// resultLabel names a Lookup result in metrics.
func resultLabel(r clusterdnsv1.Result) string {
	switch r {
	case clusterdnsv1.Result_RESULT_SUCCESS:
		return "success"
	case clusterdnsv1.Result_RESULT_NO_DATA:
		return "no_data"
	case clusterdnsv1.Result_RESULT_NAME_ERROR:
		return "name_error"
	case clusterdnsv1.Result_RESULT_NOT_READY:
		return "not_ready"
	case clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE:
		return "not_authoritative"
	default:
		return "unspecified"
	}
}
