package fanout

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder follows the changes of one measurement phase: when each API
// write started (by the invalidation key it must produce), and when each
// subscriber received the revision that carried it. The first delivery of
// a revision matches it to its write; later ones only count.
type Recorder struct {
	mu      sync.Mutex
	pending map[string]time.Time // invalidation key -> start of its API write
	revs    sync.Map             // revision -> *revisionStat

	// FromWrite is, per delivery, the time from the start of the API write
	// to the subscriber's receipt; FromRevision from the change_time the
	// record service gave the revision (the moment it observed the change:
	// the churn sets no trigger time) to the receipt.
	FromWrite, FromRevision Histogram
}

// revisionStat is one revision as the subscribers received it.
type revisionStat struct {
	written    time.Time // zero when no churn write produced it
	changed    time.Time
	deliveries atomic.Int64
	last       atomic.Int64 // latest receipt, Unix nanoseconds
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{pending: map[string]time.Time{}} }

// Wrote records that an API write that will change key started at at.
func (r *Recorder) Wrote(key string, at time.Time) {
	r.mu.Lock()
	r.pending[key] = at
	r.mu.Unlock()
}

// Delivered records that a subscriber received revision rev, carrying keys
// and dated changed by the record service, at at.
func (r *Recorder) Delivered(rev uint64, keys []string, changed, at time.Time) {
	v, ok := r.revs.Load(rev)
	if !ok {
		v = r.first(rev, keys, changed)
	}
	st := v.(*revisionStat)
	st.deliveries.Add(1)
	ns := at.UnixNano()
	for {
		last := st.last.Load()
		if ns <= last || st.last.CompareAndSwap(last, ns) {
			break
		}
	}
	if !st.written.IsZero() {
		r.FromWrite.Add(at.Sub(st.written))
	}
	r.FromRevision.Add(at.Sub(st.changed))
}

// first creates the stat of rev, matching it to the earliest pending write
// of one of its keys.
func (r *Recorder) first(rev uint64, keys []string, changed time.Time) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.revs.Load(rev); ok {
		return v
	}
	st := &revisionStat{changed: changed}
	for _, k := range keys {
		if at, ok := r.pending[k]; ok {
			if st.written.IsZero() || at.Before(st.written) {
				st.written = at
			}
			delete(r.pending, k)
		}
	}
	v, _ := r.revs.LoadOrStore(rev, st)
	return v
}

// Propagation is what a phase showed.
type Propagation struct {
	// Subscribers is the number of subscribers every change should reach.
	Subscribers int
	// Changes is the number of revisions delivered; Written those matched
	// to a churn write.
	Changes, Written int
	// Incomplete counts revisions not delivered to every subscriber.
	Incomplete int
	// Unmatched counts churn writes no delivered revision carried.
	Unmatched int
	// AllFromWrite are, per matched revision, the time from the start of
	// its API write until the last subscriber received it, sorted;
	// AllFromRevision the same from the record service's change_time.
	AllFromWrite, AllFromRevision []time.Duration
	// Deliveries is the number of (subscriber, revision) receipts.
	Deliveries int64
}

// Summary closes the phase: subscribers is how many subscribers every
// revision should have reached.
func (r *Recorder) Summary(subscribers int) Propagation {
	p := Propagation{Subscribers: subscribers}
	r.revs.Range(func(_, v any) bool {
		st := v.(*revisionStat)
		p.Changes++
		n := st.deliveries.Load()
		p.Deliveries += n
		if n != int64(subscribers) {
			p.Incomplete++
		}
		last := time.Unix(0, st.last.Load())
		p.AllFromRevision = append(p.AllFromRevision, last.Sub(st.changed))
		if !st.written.IsZero() {
			p.Written++
			p.AllFromWrite = append(p.AllFromWrite, last.Sub(st.written))
		}
		return true
	})
	r.mu.Lock()
	p.Unmatched = len(r.pending)
	r.mu.Unlock()
	slices.Sort(p.AllFromWrite)
	slices.Sort(p.AllFromRevision)
	return p
}

// quantile returns the nearest-rank p-quantile of sorted durations.
func quantile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
