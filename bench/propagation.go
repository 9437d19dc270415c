package bench

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
)

// PropagationConfig configures the propagation measurement.
type PropagationConfig struct {
	// Samples is the number of measured changes, alternately an endpoint
	// address of a headless Service and the port of a ClusterIP Service.
	Samples int
	// Spread is the time over which the measured writes are spread evenly,
	// so that they meet caches at every age.
	Spread time.Duration
	// Timeout is how long a change may take to show before it counts as
	// not seen.
	Timeout time.Duration
	// BackgroundRate is the number of unmeasured writes per second to other
	// Services and EndpointSlices: the steady churn.
	BackgroundRate float64
	// IdlePoll is how often every measured name is asked before its change,
	// as clients would, so that caches hold it.
	IdlePoll time.Duration
}

// Observer is a system whose answers are watched; a change counts as seen
// when every one of its addresses answers with it.
type Observer struct {
	Name  string
	Addrs []string
}

// PropagationResult is what one observer showed.
type PropagationResult struct {
	// Latencies are the times from the start of each API write to the
	// moment every address answered with the change, sorted.
	Latencies []time.Duration
	// NotSeen counts changes not seen within the timeout.
	NotSeen int
}

// Percentile returns the nearest-rank p-quantile of the latencies.
func (r *PropagationResult) Percentile(p float64) time.Duration {
	return percentile(r.Latencies, p)
}

// change is one measured write and the answer that shows it.
type change struct {
	svc   *Service
	query Query
	// apply writes the change.
	apply func(ctx context.Context) error
	// shows reports whether a reply carries the change.
	shows func(r *dns.Msg) bool
	// written is closed when the write starts; writeStart is then set.
	written    chan struct{}
	writeStart time.Time
}

// pollSchedule returns the pause between polls of a name elapsed after its
// write: fine at first, coarser for slow caches.
func pollSchedule(elapsed time.Duration) time.Duration {
	switch {
	case elapsed < time.Second:
		return 2 * time.Millisecond
	case elapsed < 5*time.Second:
		return 20 * time.Millisecond
	default:
		return 100 * time.Millisecond
	}
}

// MeasurePropagation writes cfg.Samples changes to Services and
// EndpointSlices of c (from the end of its Service list) under a steady
// background churn, and measures for each observer the time from each write
// until all its addresses answer with the change.
func MeasurePropagation(ctx context.Context, client kubernetes.Interface, c *Cluster, observers []Observer, cfg PropagationConfig) (map[string]*PropagationResult, error) {
	changes, background := propagationTargets(client, c, cfg.Samples)
	if len(changes) < cfg.Samples {
		return nil, fmt.Errorf("propagation: only %d Services to change, want %d", len(changes), cfg.Samples)
	}

	type pollKey struct{ change, observer, addr int }
	var (
		mu   sync.Mutex
		seen = map[pollKey]time.Time{}
		wg   sync.WaitGroup
	)
	pollCtx, stopPolls := context.WithCancel(ctx)
	defer stopPolls()
	for ci, ch := range changes {
		for oi, o := range observers {
			for ai, addr := range o.Addrs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if at, ok := pollChange(pollCtx, addr, ch, cfg); ok {
						mu.Lock()
						seen[pollKey{ci, oi, ai}] = at
						mu.Unlock()
					}
				}()
			}
		}
	}

	churnCtx, stopChurn := context.WithCancel(ctx)
	churnDone := make(chan error, 1)
	go func() { churnDone <- churn(churnCtx, client, background, cfg.BackgroundRate) }()

	// Let every name be asked (and cached) before the first write.
	warm := 2 * cfg.IdlePoll
	start := time.Now().Add(warm)
	var writeErr error
	for i, ch := range changes {
		at := start.Add(time.Duration(i) * cfg.Spread / time.Duration(len(changes)))
		select {
		case <-ctx.Done():
			writeErr = ctx.Err()
		case <-time.After(time.Until(at)):
		}
		if writeErr != nil {
			break
		}
		ch.writeStart = time.Now()
		close(ch.written)
		if err := ch.apply(ctx); err != nil {
			writeErr = fmt.Errorf("propagation write: %w", err)
			break
		}
	}
	if writeErr != nil {
		stopPolls()
	}
	wg.Wait()
	stopChurn()
	churnErr := <-churnDone
	if writeErr != nil {
		return nil, writeErr
	}
	if churnErr != nil {
		return nil, fmt.Errorf("propagation churn: %w", churnErr)
	}

	results := map[string]*PropagationResult{}
	for oi, o := range observers {
		r := &PropagationResult{}
		for ci, ch := range changes {
			var last time.Time
			all := true
			for ai := range o.Addrs {
				at, ok := seen[pollKey{ci, oi, ai}]
				if !ok {
					all = false
					break
				}
				if at.After(last) {
					last = at
				}
			}
			if !all {
				r.NotSeen++
				continue
			}
			r.Latencies = append(r.Latencies, max(last.Sub(ch.writeStart), 0))
		}
		slices.Sort(r.Latencies)
		results[o.Name] = r
	}
	return results, nil
}

// pollChange asks addr for the change's name every cfg.IdlePoll until the
// write starts, then on pollSchedule until a reply shows the change (it
// returns when) or cfg.Timeout passes.
func pollChange(ctx context.Context, addr string, ch *change, cfg PropagationConfig) (time.Time, bool) {
	client := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	ask := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(ch.query.Name, ch.query.Type)
		r, _, err := client.ExchangeContext(ctx, m, addr)
		if err != nil || r.Id != m.Id {
			return nil
		}
		return r
	}
	idle := time.NewTicker(cfg.IdlePoll)
	defer idle.Stop()
	for written := false; !written; {
		ask()
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-ch.written:
			written = true
		case <-idle.C:
		}
	}
	deadline := ch.writeStart.Add(cfg.Timeout)
	for time.Now().Before(deadline) {
		if r := ask(); r != nil && ch.shows(r) {
			return time.Now(), true
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-time.After(pollSchedule(time.Since(ch.writeStart))):
		}
	}
	return time.Time{}, false
}

// propagationTargets picks the measured changes from the end of the Service
// list (alternately a headless Service's first endpoint address and a
// ClusterIP Service's first port) and up to 50 further Services for the
// background churn.
func propagationTargets(client kubernetes.Interface, c *Cluster, samples int) ([]*change, []*Service) {
	var changes []*change
	var background []*Service
	wantHeadless, wantPort := (samples+1)/2, samples/2
	ip := netip.AddrFrom4([4]byte{10, 200, 0, 0})
	port := int32(20000)
	for i := len(c.Services) - 1; i >= 0; i-- {
		s := c.Services[i]
		switch {
		case s.Headless && wantHeadless > 0 && len(s.Endpoints) > 0:
			wantHeadless--
			ip = ip.Next()
			newIP := ip.String()
			changes = append(changes, &change{
				svc:   s,
				query: Query{Name: s.Endpoints[0].Hostname + "." + s.FQDN(c.Domain), Type: dns.TypeA},
				apply: func(ctx context.Context) error { return SetEndpointIP(ctx, client, s, 0, newIP) },
				shows: func(r *dns.Msg) bool {
					return len(r.Answer) == 1 && r.Answer[0].Header().Rrtype == dns.TypeA && r.Answer[0].(*dns.A).A.String() == newIP
				},
				written: make(chan struct{}),
			})
		case !s.Headless && wantPort > 0 && len(s.Ports) > 0:
			wantPort--
			port++
			newPort := port
			changes = append(changes, &change{
				svc:   s,
				query: Query{Name: srvName(s.Ports[0], s.FQDN(c.Domain)), Type: dns.TypeSRV},
				apply: func(ctx context.Context) error { return SetServicePort(ctx, client, s, 0, newPort) },
				shows: func(r *dns.Msg) bool {
					return len(r.Answer) == 1 && r.Answer[0].Header().Rrtype == dns.TypeSRV && r.Answer[0].(*dns.SRV).Port == uint16(newPort)
				},
				written: make(chan struct{}),
			})
		case len(background) < 50 && len(s.Endpoints) > 0 && len(s.Ports) > 0:
			background = append(background, s)
		}
	}
	// Interleave the kinds of change in time.
	slices.SortStableFunc(changes, func(a, b *change) int { return kindOrder(a) - kindOrder(b) })
	interleaved := make([]*change, 0, len(changes))
	half := (len(changes) + 1) / 2
	for i := range half {
		interleaved = append(interleaved, changes[i])
		if half+i < len(changes) {
			interleaved = append(interleaved, changes[half+i])
		}
	}
	return interleaved, background
}

// kindOrder sorts endpoint changes before port changes.
func kindOrder(ch *change) int {
	if ch.query.Type == dns.TypeA {
		return 0
	}
	return 1
}

// churn writes rate changes per second to the background Services until ctx
// ends: the last port of a ClusterIP Service, or the address of the last
// endpoint of a headless one.
func churn(ctx context.Context, client kubernetes.Interface, services []*Service, rate float64) error {
	if rate <= 0 || len(services) == 0 {
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	ip := netip.AddrFrom4([4]byte{10, 201, 0, 0})
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s := services[n%len(services)]
		var err error
		if s.Headless {
			ip = ip.Next()
			err = SetEndpointIP(ctx, client, s, len(s.Endpoints)-1, ip.String())
		} else {
			err = SetServicePort(ctx, client, s, len(s.Ports)-1, int32(30000+n%20000))
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
}
