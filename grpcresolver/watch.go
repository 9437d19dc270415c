package grpcresolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/grpc/resolver"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// serviceResolver follows one Service through a WatchServices stream and
// pushes its addresses to one ClientConn. One goroutine does all of it, so
// the resolver holds no queue: a state that changes faster than the stream
// is read is simply read later, in its newest form.
type serviceResolver struct {
	target  target
	cc      resolver.ClientConn
	client  clusterdnsv1.DiscoveryServiceClient
	cfg     *config
	logger  *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
	release func()

	// Owned by the run goroutine.
	resumeRevision uint64
	resumeServerID string
	// pushed is the last state given to cc; nil before the first.
	pushed []resolved
	// pushedErr is the error last reported with an empty state, so that a
	// resumed stream repeating it does not report it again.
	pushedErr string
}

// ResolveNow does nothing: the stream pushes every change as it happens.
func (r *serviceResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close ends the stream and waits for the goroutine, so that cc gets no
// update after Close returns.
func (r *serviceResolver) Close() {
	r.cancel()
	<-r.done
}

// run keeps a stream open until ctx ends, re-opening it with backoff after
// every failure and resuming where the last one stopped.
func (r *serviceResolver) run(ctx context.Context) {
	defer close(r.done)
	defer r.release()
	failures := 0
	for {
		progressed, err := r.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			failures = 0
		}
		delay := r.backoff(failures)
		failures++
		// The ClientConn keeps the addresses it has; only a resolver
		// that never produced any tells it why it has none.
		if r.pushed == nil {
			r.cc.ReportError(fmt.Errorf("clusterdns resolver for %s: %w", r.target, err))
		}
		r.logger.Warn("clusterdns watch failed; retrying", "err", err, "retry_in", delay, "keeping_addresses", len(r.pushed))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the delay after n consecutive failures: exponential from the
// minimum to the maximum, with jitter so that clients cut off together do
// not return together.
func (r *serviceResolver) backoff(n int) time.Duration {
	d := float64(r.cfg.minBackoff)
	for i := 0; i < n && d < float64(r.cfg.maxBackoff); i++ {
		d *= 1.6
	}
	d = min(d, float64(r.cfg.maxBackoff))
	return time.Duration(d * (0.8 + 0.4*rand.Float64()))
}

// watch opens one stream and applies its messages until it fails.
// progressed tells whether any message arrived.
func (r *serviceResolver) watch(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := r.client.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{
		Refs:           []*clusterdnsv1.ServiceRef{{Namespace: r.target.namespace, Name: r.target.name}},
		ResumeRevision: r.resumeRevision,
		ResumeServerId: r.resumeServerID,
		ClientName:     r.cfg.clientName,
	})
	if err != nil {
		return false, fmt.Errorf("open watch: %w", err)
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return progressed, errors.New("record service ended the watch")
		}
		if err != nil {
			return progressed, err
		}
		progressed = true
		for _, st := range msg.GetStates() {
			ref := st.GetRef()
			if ref.GetNamespace() == r.target.namespace && ref.GetName() == r.target.name {
				r.apply(st)
			}
		}
		// Revisions compare only within one server process: the pair is
		// the resume point, kept together.
		r.resumeRevision, r.resumeServerID = msg.GetRevision(), msg.GetServerId()
	}
}

// apply pushes the addresses of st, or an empty state and the reason when
// it has none for the target.
func (r *serviceResolver) apply(st *clusterdnsv1.ServiceState) {
	addrs, err := addresses(r.target, st)
	if err != nil {
		// The Service is gone or unusable: its old addresses must not
		// keep receiving calls, so the state empties before the error is
		// reported (an error alone leaves a balancer its addresses).
		if r.pushed != nil && len(r.pushed) == 0 && r.pushedErr == err.Error() {
			return
		}
		r.logger.Info("clusterdns target has no addresses", "err", err)
		r.cc.UpdateState(resolver.State{}) // the balancer's refusal of an empty state is expected
		r.cc.ReportError(fmt.Errorf("clusterdns resolver: %w", err))
		r.pushed, r.pushedErr = []resolved{}, err.Error()
		return
	}
	if addrs == nil {
		addrs = []resolved{}
	}
	if r.pushed != nil && r.pushedErr == "" && slices.Equal(addrs, r.pushed) {
		return
	}
	r.pushed, r.pushedErr = addrs, ""
	r.logger.Debug("clusterdns target resolved", "addresses", len(addrs))
	// A watch-based resolver ignores UpdateState's error: asking again
	// would give the same answer. An empty state is how grpc-go's own
	// resolvers say that a name has no addresses; the balancer fails
	// calls until some come.
	r.cc.UpdateState(toState(addrs))
	if len(addrs) == 0 {
		r.cc.ReportError(fmt.Errorf("clusterdns resolver: service %s/%s has no ready endpoints for port %s", r.target.namespace, r.target.name, r.target.port()))
	}
}
