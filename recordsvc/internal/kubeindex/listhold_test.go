package kubeindex

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// holdLog records the holds a listHold takes and releases.
type holdLog struct {
	mu              sync.Mutex
	taken, released int
}

func (l *holdLog) take() func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taken++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.released++
		})
	}
}

func (l *holdLog) counts() (taken, released int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.taken, l.released
}

// TestListHold checks when a list's hold ends: once the handler has received
// as many objects as the list returned, at once for a failed or empty list,
// and when a later list takes over.
func TestListHold(t *testing.T) {
	type list struct {
		items     int
		err       bool
		delivered int
	}
	tests := []struct {
		name         string
		lists        []list
		wantReleased int
	}{
		{name: "all delivered", lists: []list{{items: 3, delivered: 3}}, wantReleased: 1},
		{name: "not all delivered", lists: []list{{items: 3, delivered: 2}}, wantReleased: 0},
		{name: "failed list", lists: []list{{err: true}}, wantReleased: 1},
		{name: "empty list", lists: []list{{items: 0}}, wantReleased: 1},
		{name: "deliveries outside a list", lists: []list{{items: 1, delivered: 5}}, wantReleased: 1},
		{name: "a second list takes over", lists: []list{{items: 3, delivered: 1}, {items: 2, delivered: 1}}, wantReleased: 1},
		{name: "both delivered", lists: []list{{items: 3, delivered: 1}, {items: 2, delivered: 2}}, wantReleased: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &holdLog{}
			h := &listHold{take: log.take}
			for _, l := range tt.lists {
				listed := h.start()
				var err error
				if l.err {
					err = context.Canceled
				}
				listed(l.items, err)
				for range l.delivered {
					h.delivered()
				}
			}
			taken, released := log.counts()
			if taken != len(tt.lists) || released != tt.wantReleased {
				t.Fatalf("taken %d, released %d; want %d, %d", taken, released, len(tt.lists), tt.wantReleased)
			}
		})
	}
}

// TestListHoldLimit checks that a hold whose objects never all arrive ends
// after its limit.
func TestListHoldLimit(t *testing.T) {
	log := &holdLog{}
	h := &listHold{take: log.take, max: 10 * time.Millisecond}
	h.start()(5, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, released := log.counts(); released == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("hold not released after its limit")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInformersListHold runs the informers with a Listing hook and checks
// that every list's hold ends, the last one only once the Index holds what
// was listed.
func TestInformersListHold(t *testing.T) {
	client := fake.NewClientset(
		apiNamespace("default"),
		apiService("default", "web", "10.96.0.5"),
		apiService("default", "db", "10.96.0.6"),
		apiSlice("default", "web-abc", "web", "10.244.0.1", "10.244.0.2"),
	)
	ix := New(Config{StartRevision: 1})
	log := &holdLog{}
	var mu sync.Mutex
	var complete []bool // per release, in order: did the Index hold every list?
	listing := func() func() {
		release := log.take()
		return func() {
			_, web := ix.Service("default", "web")
			_, db := ix.Service("default", "db")
			mu.Lock()
			complete = append(complete, ix.NamespaceExists("default") && web && db && len(ix.Endpoints("default", "web")) == 2)
			mu.Unlock()
			release()
		}
	}
	runInformers(t, client, ix, InformerConfig{Listing: listing})
	deadline := time.Now().Add(30 * time.Second)
	for {
		taken, released := log.counts()
		if taken == 3 && released == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("holds taken %d, released %d; want 3, 3", taken, released)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(complete) != 3 || !complete[2] {
		t.Fatalf("releases saw a complete Index: %v; want the last to", complete)
	}
}

// TestCounting checks that an add or an update counts against the hold
// after the handler ran, and a delete does not count.
func TestCounting(t *testing.T) {
	log := &holdLog{}
	h := &listHold{take: log.take}
	h.start()(2, nil)
	var handled int
	seen := func(any) {
		if _, released := log.counts(); released != 0 {
			t.Error("hold released before the handler ran")
		}
		handled++
	}
	c := counting{cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: seen,
	}, h}
	c.OnDelete(&serviceObject{})
	c.OnAdd(&serviceObject{}, false)
	if _, released := log.counts(); released != 0 {
		t.Fatal("released after one of two objects (and a delete)")
	}
	c.OnUpdate(&serviceObject{}, &serviceObject{})
	if _, released := log.counts(); released != 1 || handled != 3 {
		t.Fatalf("released %d, handled %d; want 1, 3", released, handled)
	}
}
