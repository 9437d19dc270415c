package kubeindex

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Change is one DNS-visible change of the Index: the revision it produced and
// the invalidation keys (see ServiceKey, NamespaceKey, AddressKey, PodKey) whose
// state moved.
type Change struct {
	Revision uint64
	// Keys are sorted and unique.
	Keys []string
	// ChangeTime is when the change began in the cluster: the trigger time
	// the writer gave (an EndpointSlice's
	// endpoints.kubernetes.io/last-change-trigger-time annotation), else the
	// time the Index observed the change. It is never later than the time
	// the change was published (a trigger time from a clock running ahead
	// is replaced by the observation time).
	ChangeTime time.Time
}

// ErrSubscriberBehind ends a Subscription whose reader did not keep up with
// the changes: its buffer filled. The reader must resynchronise (discard what
// it derived from earlier changes) and subscribe again.
var ErrSubscriberBehind = errors.New("subscriber fell behind the change stream")

// ErrSubscriptionClosed ends a Subscription closed by its owner.
var ErrSubscriptionClosed = errors.New("subscription closed")

// Subscription receives every Change made after the revision it started at,
// in revision order. Writers never wait for it: when its buffer is full it is
// ended with ErrSubscriberBehind.
type Subscription struct {
	ix       *Index
	ch       chan Change
	revision uint64
	// err is guarded by ix.mu and set before ch is closed.
	err  error
	stop func() bool
}

// Subscribe starts a Subscription at the current revision. It ends when ctx
// is done, when Close is called or when it falls behind.
func (ix *Index) Subscribe(ctx context.Context) *Subscription {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s := &Subscription{
		ix:       ix,
		ch:       make(chan Change, ix.cfg.subscriberBuffer()),
		revision: ix.revision.Load(),
	}
	ix.subs[s] = struct{}{}
	s.stop = context.AfterFunc(ctx, func() { s.end(context.Cause(ctx)) })
	return s
}

// Revision is the revision the subscription started at: every change after it
// is delivered.
func (s *Subscription) Revision() uint64 { return s.revision }

// Changes delivers the changes in revision order. It is closed when the
// subscription ends; Err then says why.
func (s *Subscription) Changes() <-chan Change { return s.ch }

// Err is nil while the subscription runs, then ErrSubscriberBehind,
// ErrSubscriptionClosed or the cause of its context's end.
func (s *Subscription) Err() error {
	s.ix.mu.RLock()
	defer s.ix.mu.RUnlock()
	return s.err
}

// Close ends the subscription and releases it. It is safe to call more than
// once and after the subscription ended on its own.
func (s *Subscription) Close() {
	s.end(ErrSubscriptionClosed)
	s.stop()
}

func (s *Subscription) end(err error) {
	s.ix.mu.Lock()
	defer s.ix.mu.Unlock()
	s.ix.endLocked(s, err)
}

// endLocked removes s from the subscribers and closes its channel. ix.mu must
// be held for writing.
func (ix *Index) endLocked(s *Subscription, err error) {
	if _, ok := ix.subs[s]; !ok {
		return
	}
	delete(ix.subs, s)
	s.err = err
	close(s.ch)
}

// keySet collects the invalidation keys touched by one change.
type keySet map[string]struct{}

func (k keySet) add(key string) { k[key] = struct{}{} }

// commitLocked bumps the revision and announces keys if any state DNS can see
// moved. triggered is when the change began in the cluster, zero when
// unknown. ix.mu must be held for writing, which also keeps the announcements
// in revision order.
func (ix *Index) commitLocked(keys keySet, triggered time.Time) {
	if len(keys) == 0 {
		return
	}
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	slices.Sort(list)
	now := time.Now()
	c := Change{Revision: ix.revision.Add(1), Keys: list, ChangeTime: now}
	if !triggered.IsZero() {
		if triggered.Before(now) {
			c.ChangeTime = triggered
		}
		// The initial state is no propagation of a change: only changes
		// after the first sync measure the programming delay.
		if ix.synced.Load() {
			ix.programmingDelay.Observe(now.Sub(c.ChangeTime).Seconds())
		}
	}
	for s := range ix.subs {
		select {
		case s.ch <- c:
		default:
			ix.endLocked(s, ErrSubscriberBehind)
		}
	}
}
