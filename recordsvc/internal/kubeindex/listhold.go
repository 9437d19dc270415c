package kubeindex

import (
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
)

// A list's memory is not spent when the list call returns: client-go then
// reconciles the whole list against the informer's store (a key string per
// object, several times; a new map for the store; a notification per object
// for the handler), which at 100k Pods allocated more than the list itself
// (~55 MB within a second, bench/results/relist.md). The record service
// collects garbage harder while a list is held (InformerConfig.Listing), so
// the hold has to last until the handler has been handed every listed
// object, which client-go does only after that reconciliation.

// maxListHold bounds a hold whose objects never all reach the handler (a
// list client-go discarded): the collector's harder target costs CPU.
const maxListHold = 2 * time.Minute

// listHold keeps the hold of one informer's last list until its handler
// has received as many objects as the list returned.
type listHold struct {
	// take starts a hold and returns its release; nil: no holds.
	take func() (release func())
	// max bounds each hold (0: maxListHold).
	max time.Duration

	mu      sync.Mutex
	left    int
	release func()
	timer   *time.Timer
}

// start is called as a list starts; listed is called when the list call
// has returned items objects (or failed).
func (h *listHold) start() (listed func(items int, err error)) {
	if h == nil || h.take == nil {
		return func(int, error) {}
	}
	release := h.take()
	return func(items int, err error) {
		if err != nil || items == 0 {
			release()
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		// A list that ends before the last one was delivered (its watch
		// failed at once) takes over the count, which the earlier list's
		// deliveries may end early; the earlier hold is released.
		h.releaseLocked()
		h.left, h.release = items, release
		limit := h.max
		if limit == 0 {
			limit = maxListHold
		}
		h.timer = time.AfterFunc(limit, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.releaseLocked()
		})
	}
}

// delivered counts one object handed to the handler.
func (h *listHold) delivered() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.release == nil {
		return
	}
	if h.left--; h.left <= 0 {
		h.releaseLocked()
	}
}

func (h *listHold) releaseLocked() {
	if h.release == nil {
		return
	}
	h.timer.Stop()
	h.release()
	h.release, h.timer, h.left = nil, nil, 0
}

// counting passes every add and update on to the handler, then counts it
// against the hold: after a list, client-go delivers each listed object as
// one add or update, ahead of any later watch event.
type counting struct {
	cache.ResourceEventHandler
	hold *listHold
}

func (c counting) OnAdd(obj any, isInInitialList bool) {
	c.ResourceEventHandler.OnAdd(obj, isInInitialList)
	c.hold.delivered()
}

func (c counting) OnUpdate(oldObj, obj any) {
	c.ResourceEventHandler.OnUpdate(oldObj, obj)
	c.hold.delivered()
}
