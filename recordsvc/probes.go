package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/recordserver"
)

// probes answer the HTTP health endpoints: /readyz (send traffic here) and
// /healthz (keep this process running).
type probes struct {
	srv     *recordserver.Server
	ix      *kubeindex.Index
	source  *kubeindex.SourceHealth
	started time.Time
	// syncTimeout and sourceFailure are --healthz-sync-timeout and
	// --healthz-source-failure.
	syncTimeout, sourceFailure time.Duration
}

// alive is nil unless the process is stuck: the indexes did not sync within
// syncTimeout of the start, or the source has failed (the informers' lists
// and watches, or reading the file) for longer than sourceFailure. A
// restart is then the remedy a liveness probe applies; a source that fails
// for less keeps being served from the last state, which is still right.
func (p probes) alive(now time.Time) error {
	if !p.ix.Synced() && now.Sub(p.started) > p.syncTimeout {
		return fmt.Errorf("indexes not synced %s after start (--healthz-sync-timeout %s)",
			now.Sub(p.started).Round(time.Second), p.syncTimeout)
	}
	if f := p.source.FailingFor(now); f > p.sourceFailure {
		return fmt.Errorf("source failing for %s (--healthz-source-failure %s)", f.Round(time.Second), p.sourceFailure)
	}
	return nil
}

func (p probes) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := p.alive(time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (p probes) readyz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !p.ix.Synced():
		http.Error(w, "not synced", http.StatusServiceUnavailable)
	case !p.srv.Ready():
		http.Error(w, "lameduck: shutting down", http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}

// lameduckPeriod starts the lameduck period: the server reports NOT_SERVING
// and /readyz 503 at once, and keeps answering Lookups and feeding Watch
// streams for d, so that frontends and load balancers move to other replicas
// before the streams end. It returns early with the error of a server or
// source that fails meanwhile.
func lameduckPeriod(srv *recordserver.Server, d time.Duration, logger *slog.Logger, served, metricsDone, sourceDone <-chan error) error {
	srv.Lameduck()
	logger.Info("shutting down: lameduck period, still answering", "lameduck", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case err := <-served:
		return fmt.Errorf("grpc server: %w", err)
	case err := <-metricsDone:
		return fmt.Errorf("--metrics-listen: %w", err)
	case err := <-sourceDone:
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		return nil
	}
}
