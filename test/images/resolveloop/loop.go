package resolveloop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// LookupFunc resolves name for family ("4", "6" or "any").
type LookupFunc func(ctx context.Context, name, family string) Result

// Totals are the cumulative counts of a run.
type Totals struct {
	Lookups, OK, Failed, Wrong int64
	MaxMS                      int64
}

// line is one output line; fields absent from an event are omitted.
type line struct {
	Event    string   `json:"event"`
	Client   string   `json:"client,omitempty"`
	Rate     *float64 `json:"rate,omitempty"`
	Duration *float64 `json:"duration,omitempty"`
	Count    *int     `json:"count,omitempty"`
	Workers  int      `json:"workers,omitempty"`
	Family   string   `json:"family,omitempty"`
	Names    int      `json:"names,omitempty"`
	Time     string   `json:"time,omitempty"`
	Elapsed  *float64 `json:"elapsed,omitempty"`
	Name     string   `json:"name,omitempty"`
	Class    string   `json:"class,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	MS       *int64   `json:"ms,omitempty"`
	*counts
}

type counts struct {
	Lookups int64 `json:"lookups"`
	OK      int64 `json:"ok"`
	Failed  int64 `json:"failed"`
	Wrong   int64 `json:"wrong"`
	MaxMS   int64 `json:"max_ms"`
}

// run is the state shared by the workers of one Run.
type run struct {
	o        Options
	lookup   LookupFunc
	start    time.Time
	deadline time.Time

	mu     sync.Mutex // guards everything below and the writer
	w      io.Writer
	werr   error
	next   int
	totals Totals
}

// Run resolves o.Targets until o.Duration has passed or o.Count lookups were
// made, printing the lines the package documentation describes to w. client
// names the build ("go"). Cancelling ctx stops the run early (lookups cut
// short by it are not counted) and still prints the final line.
func Run(ctx context.Context, o Options, client string, lookup LookupFunc, w io.Writer) (Totals, error) {
	if err := o.Validate(); err != nil {
		return Totals{}, err
	}
	r := &run{o: o, lookup: lookup, w: w, start: time.Now()}
	r.deadline = r.start.Add(o.Duration)
	rate, dur, cnt := o.Rate, o.Duration.Seconds(), o.Count
	r.emit(line{Event: "start", Client: client, Rate: &rate, Duration: &dur, Count: &cnt,
		Workers: o.Workers, Family: o.Family, Names: len(o.Targets)})

	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx)
		}()
	}
	done := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		tick := time.NewTicker(o.Report)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				r.report("report")
			}
		}
	}()
	wg.Wait()
	close(done)
	<-reported
	r.report("final")

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.werr != nil {
		return r.totals, fmt.Errorf("write output: %w", r.werr)
	}
	return r.totals, nil
}

// claim hands out the next lookup and the time it is due, or false when the
// run's count or time is used up.
func (r *run) claim() (Target, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.next
	if r.o.Count > 0 && k >= r.o.Count {
		return Target{}, time.Time{}, false
	}
	at := r.start.Add(time.Duration(float64(k) / r.o.Rate * float64(time.Second)))
	if !at.Before(r.deadline) {
		return Target{}, time.Time{}, false
	}
	r.next++
	return r.o.Targets[k%len(r.o.Targets)], at, true
}

func (r *run) work(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		t, at, ok := r.claim()
		if !ok {
			return
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		began := time.Now()
		res := r.lookup(ctx, t.Name, r.o.Family)
		took := time.Since(began)
		if ctx.Err() != nil {
			return
		}
		class, reason := t.Classify(res)
		r.record(t.Name, class, reason, took)
	}
}

func (r *run) record(name string, class Class, reason string, took time.Duration) {
	ms := took.Milliseconds()
	r.mu.Lock()
	r.totals.Lookups++
	r.totals.MaxMS = max(r.totals.MaxMS, ms)
	switch class {
	case OK:
		r.totals.OK++
	case Failed:
		r.totals.Failed++
	case Wrong:
		r.totals.Wrong++
	}
	r.mu.Unlock()
	if class != OK {
		now := time.Now()
		el := r.elapsed(now)
		r.emit(line{Event: "failure", Time: stamp(now), Elapsed: &el, Name: name,
			Class: class.String(), Reason: reason, MS: &ms})
	}
}

func (r *run) report(event string) {
	now := time.Now()
	el := r.elapsed(now)
	r.mu.Lock()
	t := r.totals
	r.mu.Unlock()
	r.emit(line{Event: event, Time: stamp(now), Elapsed: &el,
		counts: &counts{Lookups: t.Lookups, OK: t.OK, Failed: t.Failed, Wrong: t.Wrong, MaxMS: t.MaxMS}})
}

func (r *run) elapsed(now time.Time) float64 {
	return math.Round(now.Sub(r.start).Seconds()*1000) / 1000
}

// emit writes one line; the first write error is kept and later lines are
// dropped.
func (r *run) emit(l line) {
	b, err := json.Marshal(l)
	if err != nil {
		// Only plain strings and numbers are encoded: this cannot fail.
		panic(fmt.Sprintf("encode output line: %v", err))
	}
	b = append(b, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.werr == nil {
		_, r.werr = r.w.Write(b)
	}
}

func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
