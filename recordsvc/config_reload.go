package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/internal/configwatch"
)

// What a reload of the --config file changes while the record service
// serves: the log level. Every other field is read at start by the part it
// configures (the schema, memoized and encoded answers and the Watch
// digests hold the TTL; the indexes and informers the pods mode, query log
// and zone awareness; the listener the limits), so a change of one is
// checked like a start would check it, reported in a log line and in
// clusterdns_recordsvc_config_restart_pending, and takes effect when the
// replica restarts. A rejected edit changes nothing.

// reloader applies new --config content. Only the watcher's goroutine
// calls it.
type reloader struct {
	// started is the configuration the process runs with; cur the one last
	// applied (started with the log level of the last good content).
	started, cur config
	log          *slog.Logger
	metrics      *configwatch.Metrics
}

// startConfigWatch registers the reload metrics and re-reads cfg's
// --config file until ctx ends; nothing without --config.
func startConfigWatch(ctx context.Context, cfg config, reg prometheus.Registerer, log *slog.Logger) error {
	if cfg.File == nil {
		return nil
	}
	m, err := configwatch.NewMetrics(reg, "recordsvc")
	if err != nil {
		return err
	}
	r := &reloader{started: cfg, cur: cfg, log: log, metrics: m}
	w := &configwatch.Watcher{Path: cfg.File.Path, Interval: cfg.File.ReloadInterval, Apply: r.apply, Log: log, Metrics: m}
	w.Loaded(cfg.File.data)
	go w.Run(ctx)
	return nil
}

// apply checks data with the command line exactly as a start would, then
// sets the log level and reports what else changed.
func (r *reloader) apply(_ context.Context, data []byte) error {
	next, err := parseFlagsFile(r.cur.File.args, io.Discard, data)
	if err != nil {
		return err
	}
	r.cur.File.level.Set(next.LogLevel)
	r.cur.LogLevel = next.LogLevel
	restart := restartNeeded(r.started, next)
	if len(restart) > 0 {
		r.log.Warn("configuration change needs a restart to take effect; the log level is applied", "fields", restart)
	}
	r.metrics.SetRestartPending(len(restart) > 0)
	return nil
}

// restartNeeded names, as the file spells them, the settings in which next
// differs from the running configuration run, other than the log level.
func restartNeeded(run, next config) []string {
	var fields []string
	for _, f := range []struct {
		field   string
		changed bool
	}{
		{"clusterDomain", next.ClusterDomain != run.ClusterDomain},
		{"ttl", next.TTL != run.TTL},
		{"pods", next.Pods != run.Pods},
		{"autopath", next.Autopath != run.Autopath},
		{"zoneAware", next.ZoneAware != run.ZoneAware},
		{"nameserverService", next.NameserverService != run.NameserverService},
		{"queryLog", next.QueryLog != run.QueryLog},
		{"visibilityPolicy", next.VisibilityPolicy != run.VisibilityPolicy},
		{"authzPolicy", next.AuthzPolicy != run.AuthzPolicy},
		{"lameduck", next.Lameduck != run.Lameduck},
		{"healthz.syncTimeout", next.HealthzSyncTimeout != run.HealthzSyncTimeout},
		{"healthz.sourceFailure", next.HealthzSourceFailure != run.HealthzSourceFailure},
		{"limits", next.Limits != run.Limits},
	} {
		if f.changed {
			fields = append(fields, f.field)
		}
	}
	return fields
}
