package fanout

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/clusterdns/clusterdns/bench"
)

// serviceKey is the invalidation key the record service announces when a
// Service's DNS records change (kubeindex.ServiceKey): the churn matches
// each write to the revision that carries it.
func serviceKey(s *bench.Service) string { return "svc/" + s.Namespace + "/" + s.Name }

// Churn writes DNS-visible changes at a steady rate, alternately the
// address of the last endpoint of a headless Service (an EndpointSlice
// patch) and the last port of a ClusterIP Service (a Service patch), each
// to the next Service of its list in turn.
type Churn struct {
	Client   kubernetes.Interface
	Headless []*bench.Service
	Ported   []*bench.Service
	// Rate is writes per second; Count and Duration bound the run.
	Rate     float64
	Count    int
	Duration time.Duration

	// n numbers the writes across runs: every write sets a new value.
	n int
}

// ChurnTargets picks up to n headless and n ClusterIP Services from the end
// of services (the lookup load asks for the first ones).
func ChurnTargets(services []*bench.Service, n int) (headless, ported []*bench.Service) {
	for i := len(services) - 1; i >= 0 && (len(headless) < n || len(ported) < n); i-- {
		s := services[i]
		switch {
		case s.Headless && len(s.Endpoints) > 0 && len(headless) < n:
			headless = append(headless, s)
		case !s.Headless && len(s.Ports) > 0 && len(ported) < n:
			ported = append(ported, s)
		}
	}
	return headless, ported
}

// writeTimeout bounds one API write. A write started before the end of the
// run is let finish: cut off by the run's deadline it might still have
// been applied, and its change would then be delivered without being
// counted as written.
const writeTimeout = 30 * time.Second

// Run writes until Count writes are done, Duration has passed or ctx ends,
// telling rec when each write starts; it returns the number of writes.
func (c *Churn) Run(ctx context.Context, rec *Recorder) (int, error) {
	if len(c.Headless) == 0 || len(c.Ported) == 0 || c.Rate <= 0 {
		return 0, fmt.Errorf("churn: nothing to change")
	}
	runCtx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.Rate))
	defer tick.Stop()
	done := 0
	for done < c.Count {
		select {
		case <-runCtx.Done():
			return done, nil
		case <-tick.C:
		}
		c.n++
		var s *bench.Service
		var write func(context.Context) error
		if c.n%2 == 0 {
			s = c.Headless[(c.n/2)%len(c.Headless)]
			ip := netip.AddrFrom4([4]byte{10, 250, byte(c.n >> 8), byte(c.n)})
			write = func(ctx context.Context) error {
				return bench.SetEndpointIP(ctx, c.Client, s, len(s.Endpoints)-1, ip.String())
			}
		} else {
			s = c.Ported[(c.n/2)%len(c.Ported)]
			port := int32(20000 + c.n%40000)
			write = func(ctx context.Context) error { return bench.SetServicePort(ctx, c.Client, s, len(s.Ports)-1, port) }
		}
		rec.Wrote(serviceKey(s), time.Now())
		writeCtx, cancelWrite := context.WithTimeout(ctx, writeTimeout)
		err := write(writeCtx)
		cancelWrite()
		if err != nil {
			return done, fmt.Errorf("churn write %d: %w", c.n, err)
		}
		done++
	}
	return done, nil
}
