package kubeindex

import (
	"sync/atomic"
	"time"
)

// SourceHealth tracks whether a source is keeping the Index current: the
// informers' lists and watches, or the file source's reads. A liveness probe
// reads FailingFor; the source reports every attempt.
type SourceHealth struct {
	// failingSince is the Unix time in nanoseconds of the first failure
	// since the last success, zero while healthy.
	failingSince atomic.Int64
}

// failed records a failed attempt at t; the failure period starts at the
// first one.
func (h *SourceHealth) failed(t time.Time) { h.failingSince.CompareAndSwap(0, t.UnixNano()) }

// succeeded records a successful attempt, ending any failure period.
func (h *SourceHealth) succeeded() { h.failingSince.Store(0) }

// FailingFor is how long every attempt has failed as of now, zero while the
// last attempt succeeded.
func (h *SourceHealth) FailingFor(now time.Time) time.Duration {
	since := h.failingSince.Load()
	if since == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, since))
}
