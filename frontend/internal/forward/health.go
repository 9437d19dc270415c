package forward

import (
	"context"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// healthLoop probes, every HealthCheckInterval, each upstream that is down or failed its last attempt,
// until ctx ends.
func (f *Forwarder) healthLoop(ctx context.Context) {
	t := time.NewTicker(f.cfg.HealthCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.checkHealth(ctx)
		}
	}
}

// checkHealth probes the failing upstreams concurrently and waits for the probes.
func (f *Forwarder) checkHealth(ctx context.Context) {
	var wg sync.WaitGroup
	for _, u := range f.routes.Load().all {
		if !u.down.Load() && u.fails.Load() == 0 {
			continue
		}
		wg.Go(func() { f.probe(ctx, u) })
	}
	wg.Wait()
}

// probe sends ". IN NS" to u: any matching reply, whatever its rcode, shows the upstream is alive.
func (f *Forwarder) probe(ctx context.Context, u *upstream) {
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	m.Id = newID()
	if _, err := f.exchangeOnce(ctx, u, m, f.routes.Load().timeout); err != nil {
		if ctx.Err() == nil {
			f.log.Debug("health probe failed", "upstream", u.addr, "err", err)
			u.failed(f.log, f.metrics, f.cfg.MaxFails, err)
		}
		return
	}
	u.succeeded(f.log, f.metrics)
}
