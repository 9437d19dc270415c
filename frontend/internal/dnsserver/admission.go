package dnsserver

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Admission on the miss path. A cache hit costs microseconds and is
// answered where the query is read; a miss holds a goroutine, a record
// service lookup or an upstream query for up to its timeout. Left
// unbounded, a burst of unique names while the record service is slow
// starts a goroutine per datagram and takes the frontend's memory with it,
// cache hits included. Two gates bound that work:
//
//   - the miss gate (Config.MaxConcurrentMisses) bounds the record-service
//     lookups and upstream queries in flight, whatever the transport;
//     identical cluster questions in flight share one lookup (flight.go)
//     and hold one slot;
//   - the dispatch gate (twice that) bounds the goroutines the UDP read
//     loop starts for queries its hot path does not answer: those holding a
//     miss slot, those waiting on a shared lookup, and the quick ones (a
//     cache hit only the general path serves, a shed answer).
//
// A query that finds its gate full is shed: answered from the cache past
// its life when serve-stale holds it, else REFUSED at once, and counted in
// clusterdns_frontend_shed_total{reason}. REFUSED rather than SERVFAIL or
// silence: a stub resolver moves on to its next nameserver (glibc) or
// gives the application an error at once, instead of waiting out its
// timeout (5s) and asking again, which a dropped datagram would cost; musl
// retries a SERVFAIL at once, which would double the load that caused the
// shedding, but leaves a REFUSED alone; and neither code is a verdict on
// the name that a client could cache. It is also what the forwarder
// answers when --max-concurrent-upstream is reached.

// gate is a counting semaphore that never waits.
type gate struct {
	max int64
	n   atomic.Int64
}

func newGate(n int) *gate { return &gate{max: int64(n)} }

// enter takes a slot, reporting false when all are taken.
func (g *gate) enter() bool {
	if g.n.Add(1) > g.max {
		g.n.Add(-1)
		return false
	}
	return true
}

// leave gives a slot back.
func (g *gate) leave() { g.n.Add(-1) }

// inUse is the number of slots taken.
func (g *gate) inUse() int64 { return g.n.Load() }

// Reasons a query was shed, in clusterdns_frontend_shed_total.
const (
	// shedMisses: Config.MaxConcurrentMisses lookups and upstream queries
	// were in flight.
	shedMisses = "max_concurrent_misses"
	// shedDispatch: the UDP read loop had as many queries in goroutines as
	// the dispatch gate allows.
	shedDispatch = "dispatch"
	// shedLookupQueue: the record client's stream could not take the
	// question (recordclient.ErrOverloaded).
	shedLookupQueue = "lookup_queue"
)

// errShed is the error of a lookup that was not made because the miss gate
// was full.
var errShed = errors.New("dnsserver: too many misses in flight")

// newShedMetrics creates clusterdns_frontend_shed_total, each reason's
// series from the start so that rate() sees the first shedding, and the
// gauges of the miss path, which read the handler's gates once it is
// attached (attachMissPath).
func (m *Metrics) newShedMetrics() []prometheus.Collector {
	m.shedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "clusterdns", Subsystem: "frontend", Name: "shed_total",
		Help: "Queries not looked up or forwarded for lack of room on the miss path (answered stale or REFUSED), by reason: " +
			shedMisses + ", " + shedDispatch + " (UDP read loop), " + shedLookupQueue + " (record service stream backed up).",
	}, []string{"reason"})
	for _, r := range []string{shedMisses, shedDispatch, shedLookupQueue} {
		m.shedTotal.WithLabelValues(r)
	}
	gauge := func(name, help string, v func(*Handler) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "clusterdns", Subsystem: "frontend", Name: name, Help: help,
		}, func() float64 {
			if h := m.missPath.Load(); h != nil {
				return float64(v(h))
			}
			return 0
		})
	}
	return []prometheus.Collector{
		m.shedTotal,
		gauge("misses_in_flight", "Record service lookups and upstream queries in flight (bounded by --max-concurrent-misses).",
			func(h *Handler) int64 { return h.misses.inUse() }),
		gauge("udp_dispatched", "UDP queries the read loops handed to goroutines (bounded by twice --max-concurrent-misses).",
			func(h *Handler) int64 { return h.dispatch.inUse() }),
		gauge("shared_lookup_waiters", "Queries waiting for the answer of an identical record service lookup in flight.",
			func(h *Handler) int64 { return h.flights.waiting.Load() }),
	}
}

// attachMissPath makes the miss-path gauges read h.
func (m *Metrics) attachMissPath(h *Handler) {
	if m == nil {
		return
	}
	m.missPath.Store(h)
}

func (m *Metrics) shed(reason string) {
	if m == nil {
		return
	}
	m.shedTotal.WithLabelValues(reason).Inc()
}
