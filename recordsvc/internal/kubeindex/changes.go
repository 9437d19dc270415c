package kubeindex

import (
	"context"
	"errors"
	"slices"
	"sync"
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
	// Digest is the digest of the Index's objects right after the change.
	Digest Digest
}

// ErrSubscriberBehind ends a Subscription whose reader did not keep up with
// the changes: its queue filled. The reader must resynchronise (discard what
// it derived from earlier changes) and subscribe again.
var ErrSubscriberBehind = errors.New("subscriber fell behind the change stream")

// ErrSubscriptionClosed ends a Subscription closed by its owner.
var ErrSubscriptionClosed = errors.New("subscription closed")

// Subscription receives every Change made after the revision it started at,
// in revision order. Writers never wait for it: when its queue holds
// Config.SubscriberBuffer changes it is ended with ErrSubscriberBehind. The
// queue is allocated as changes arrive and released when read, so an idle
// subscription costs a few hundred bytes however long its limit.
type Subscription struct {
	ix       *Index
	revision uint64
	digest   Digest
	resumed  bool
	catchUp  []string
	stop     func() bool
	limit    int
	// ready holds a token while changes are queued or the subscription
	// has ended.
	ready chan struct{}

	mu    sync.Mutex
	queue []Change
	ended bool
	err   error
}

// ResumePoint is where a subscriber wants to resume: after a revision of
// this Index, or from the state that had a Digest (which another Index with
// the same objects may have produced).
type ResumePoint struct {
	// Revision is used when ByRevision is set.
	Revision   uint64
	ByRevision bool
	// Digest is used when ByDigest is set.
	Digest   Digest
	ByDigest bool
}

// Subscribe starts a Subscription at the current revision. It ends when ctx
// is done, when Close is called or when it falls behind.
func (ix *Index) Subscribe(ctx context.Context) *Subscription {
	return ix.SubscribeFrom(ctx, ResumePoint{})
}

// SubscribeFrom is Subscribe for a subscriber that followed the Index (or an
// Index with the same objects) before: when the history still covers from,
// the Subscription is Resumed and CatchUp holds every key changed since
// from; otherwise it starts afresh, as Subscribe.
func (ix *Index) SubscribeFrom(ctx context.Context, from ResumePoint) *Subscription {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	s := &Subscription{
		ix:       ix,
		revision: ix.revision.Load(),
		digest:   ix.digest,
		limit:    ix.cfg.subscriberBuffer(),
		ready:    make(chan struct{}, 1),
	}
	if from.ByRevision {
		s.catchUp, s.resumed = ix.history.sinceRevision(from.Revision, s.revision)
	}
	if !s.resumed && from.ByDigest {
		s.catchUp, s.resumed = ix.history.sinceDigest(from.Digest, ix.digest)
	}
	ix.subs[s] = struct{}{}
	s.stop = context.AfterFunc(ctx, func() { s.end(context.Cause(ctx)) })
	return s
}

// Revision is the revision the subscription started at: every change after it
// is delivered.
func (s *Subscription) Revision() uint64 { return s.revision }

// Digest is the digest of the Index's objects when the subscription started.
func (s *Subscription) Digest() Digest { return s.digest }

// Resumed reports whether SubscribeFrom resumed from its ResumePoint.
func (s *Subscription) Resumed() bool { return s.resumed }

// CatchUp lists, sorted, the keys changed between the ResumePoint and
// Revision when Resumed.
func (s *Subscription) CatchUp() []string { return s.catchUp }

// Ready is signalled when changes are queued or the subscription ended;
// Take then returns them.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take appends the queued changes, in revision order, to dst and returns
// it. ok is false once the subscription has ended and every change queued
// before has been taken: Err then says why.
func (s *Subscription) Take(dst []Change) (_ []Change, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		if s.ended {
			s.signal() // stay ready for repeated calls
			return dst, false
		}
		return dst, true
	}
	dst = append(dst, s.queue...)
	clear(s.queue)
	s.queue = nil
	if s.ended {
		s.signal()
	}
	return dst, true
}

// Next waits for the next change. It returns the subscription's error once
// it has ended and nothing is queued, or ctx's error.
func (s *Subscription) Next(ctx context.Context) (Change, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			c := s.queue[0]
			s.queue[0] = Change{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			if len(s.queue) > 0 || s.ended {
				s.signal()
			}
			s.mu.Unlock()
			return c, nil
		}
		if s.ended {
			s.signal()
			err := s.err
			s.mu.Unlock()
			return Change{}, err
		}
		s.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
			return Change{}, ctx.Err()
		}
	}
}

// Err is nil while the subscription runs, then ErrSubscriberBehind,
// ErrSubscriptionClosed or the cause of its context's end.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
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

// signal leaves a token in ready unless one is there. s.mu must be held.
func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// push queues c, or ends the subscription when its queue is full. ix.mu
// must be held for writing.
func (s *Subscription) push(c Change) {
	s.mu.Lock()
	if len(s.queue) >= s.limit {
		s.mu.Unlock()
		s.ix.endLocked(s, ErrSubscriberBehind)
		return
	}
	s.queue = append(s.queue, c)
	s.signal()
	s.mu.Unlock()
}

// endLocked removes s from the subscribers and records why it ended; the
// changes queued before stay readable. ix.mu must be held for writing.
func (ix *Index) endLocked(s *Subscription, err error) {
	if _, ok := ix.subs[s]; !ok {
		return
	}
	delete(ix.subs, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended, s.err = true, err
	if errors.Is(err, ErrSubscriberBehind) {
		// The reader must resync anyway: what is queued is of no use.
		clear(s.queue)
		s.queue = nil
	}
	s.signal()
}

// keySet collects the invalidation keys touched by one change.
type keySet map[string]struct{}

func (k keySet) add(key string) { k[key] = struct{}{} }

// commitLocked bumps the revision and announces keys if any state DNS can see
// moved; an object change that moved no key only enters the history under
// the current revision. triggered is when the change began in the cluster,
// zero when unknown. ix.mu must be held for writing, which also keeps the
// announcements in revision order.
func (ix *Index) commitLocked(keys keySet, triggered time.Time, before Digest) {
	if len(keys) == 0 {
		if ix.digest != before {
			ix.history.add(historyEntry{revision: ix.revision.Load(), digest: ix.digest})
		}
		return
	}
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	slices.Sort(list)
	now := time.Now()
	c := Change{Revision: ix.revision.Add(1), Keys: list, ChangeTime: now, Digest: ix.digest}
	ix.advanceSerialLocked(now)
	ix.history.add(historyEntry{revision: c.Revision, digest: c.Digest, keys: list})
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
		s.push(c)
	}
}
