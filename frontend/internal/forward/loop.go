package forward

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

const (
	// loopProbeZone holds the loop probe names; it lies outside any cluster zone, so the DNS handler forwards
	// a probe that reaches it like any other external name.
	loopProbeZone = "clusterdns-loop-check."
	// loopProbeRounds is how many times CheckLoop sends the probe to each default upstream.
	loopProbeRounds = 3
	// LoopThreshold is how many times the probe name must reach our own listener for LoopDetector.Seen to
	// report a loop.
	LoopThreshold = 2
)

// newProbeName returns a random name under loopProbeZone, such as "k3v...q7.clusterdns-loop-check.".
func newProbeName() string {
	return strings.ToLower(rand.Text()) + "." + loopProbeZone
}

// LoopProbeName returns the name CheckLoop queries, chosen at random by New. The DNS handler must pass the
// name of every query it receives to a LoopDetector built from it (see NewLoopDetector).
func (f *Forwarder) LoopProbeName() string { return f.probeName }

// CheckLoop detects forwarding loops at start: it sends an HINFO query for LoopProbeName to each default
// upstream, loopProbeRounds times, waiting at most Config.Timeout per round. When an upstream forwards back
// to this frontend, the probe arrives at our own listener, where the handler's LoopDetector sees it; since
// the handler forwards it again like any external name, a real loop brings it back at least LoopThreshold
// times. Replies and errors are expected (the name does not exist, a looping query never gets answered)
// and only logged. It returns nil, or ctx's error when ctx ends first.
func (f *Forwarder) CheckLoop(ctx context.Context) error {
	for round := range loopProbeRounds {
		var wg sync.WaitGroup
		r := f.routes.Load()
		for _, u := range r.defaults.upstreams {
			addr := u.addr
			wg.Go(func() {
				m := new(dns.Msg)
				m.SetQuestion(f.probeName, dns.TypeHINFO)
				m.Id = newID()
				reply, err := f.exchangeOnce(ctx, u, m, r.timeout)
				if err != nil {
					f.log.Debug("loop probe got no reply", "upstream", addr, "round", round, "err", err)
					return
				}
				f.log.Debug("loop probe answered", "upstream", addr, "round", round, "rcode", dns.RcodeToString[reply.Rcode])
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// LoopDetector counts the queries for a loop probe name that reach our own listener. The zero value
// detects nothing. It is safe for concurrent use.
type LoopDetector struct {
	name  string
	count atomic.Int64
}

// NewLoopDetector returns a detector for probeName, normally Forwarder.LoopProbeName.
func NewLoopDetector(probeName string) *LoopDetector {
	return &LoopDetector{name: dns.Fqdn(probeName)}
}

// Seen records a query for name arriving at our listener and reports whether it is the probe name seen at
// least LoopThreshold times: a forwarding loop. The handler calls it for every query (other names cost one
// case-insensitive comparison), keeps forwarding the probe when Seen returns false, and when it returns
// true logs why and makes the frontend exit non-zero.
func (d *LoopDetector) Seen(name string) bool {
	if d.name == "" || len(name) != len(d.name) || !strings.EqualFold(name, d.name) {
		return false
	}
	return d.count.Add(1) >= LoopThreshold
}

// Count returns how many times the probe name has been seen.
func (d *LoopDetector) Count() int { return int(d.count.Load()) }
