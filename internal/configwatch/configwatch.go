// Package configwatch re-reads a configuration file when its content changes and hands the new content to
// the binary, which applies it or rejects it; the last good configuration keeps serving after a rejection.
// It polls the content's SHA-256 rather than watching the file: a Kubernetes ConfigMap volume updates by
// swapping a symlink of the directory, which inotify on the file itself never reports, while a read follows
// the new link. The frontend and the record service share it, metrics and log lines included.
package configwatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultInterval is how often the file is read when Watcher.Interval is 0.
const DefaultInterval = 2 * time.Second

// Metrics are the reload series of one binary:
//
//	clusterdns_<subsystem>_config_reloads_total{result="success"|"failure"}
//	clusterdns_<subsystem>_config_last_reload_successful             1 when the last content read was applied
//	clusterdns_<subsystem>_config_last_reload_success_timestamp_seconds
//	clusterdns_<subsystem>_config_restart_pending                    1 while an applied change needs a restart
//	clusterdns_<subsystem>_config_info{sha256}                       1, the content in effect
//
// A nil *Metrics records nothing.
type Metrics struct {
	reloads        *prometheus.CounterVec
	successful     prometheus.Gauge
	successTime    prometheus.Gauge
	restartPending prometheus.Gauge
	info           *prometheus.GaugeVec
}

// NewMetrics registers the series of subsystem ("frontend", "recordsvc") on reg.
func NewMetrics(reg prometheus.Registerer, subsystem string) (*Metrics, error) {
	opts := func(name, help string) prometheus.GaugeOpts {
		return prometheus.GaugeOpts{Namespace: "clusterdns", Subsystem: subsystem, Name: name, Help: help}
	}
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "clusterdns", Subsystem: subsystem,
			Name: "config_reloads_total", Help: "Reloads of the --config file after its content changed, by result (success, failure)."},
			[]string{"result"}),
		successful:     prometheus.NewGauge(opts("config_last_reload_successful", "1 when the last content read from the --config file was applied, 0 when it was rejected.")),
		successTime:    prometheus.NewGauge(opts("config_last_reload_success_timestamp_seconds", "When the --config file was last applied (Unix time).")),
		restartPending: prometheus.NewGauge(opts("config_restart_pending", "1 while the applied --config file holds changes that take effect only after a restart.")),
		info: prometheus.NewGaugeVec(opts("config_info", "The SHA-256 of the --config file content in effect."),
			[]string{"sha256"}),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	for _, c := range []prometheus.Collector{m.reloads, m.successful, m.successTime, m.restartPending, m.info} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register config metrics: %w", err)
		}
	}
	return m, nil
}

// applied records content hash as in effect; reload counts a reload (not the first load).
// The counter moves last, so that a scrape that sees it sees the gauges of the same reload.
func (m *Metrics) applied(hash string, reload bool) {
	if m == nil {
		return
	}
	m.successful.Set(1)
	m.successTime.SetToCurrentTime()
	m.info.Reset()
	m.info.WithLabelValues(hash).Set(1)
	if reload {
		m.reloads.WithLabelValues("success").Inc()
	}
}

func (m *Metrics) rejected() {
	if m == nil {
		return
	}
	m.successful.Set(0)
	m.reloads.WithLabelValues("failure").Inc()
}

// SetRestartPending sets the restart-pending gauge.
func (m *Metrics) SetRestartPending(pending bool) {
	if m == nil {
		return
	}
	v := 0.0
	if pending {
		v = 1
	}
	m.restartPending.Set(v)
}

// Hash is the hex SHA-256 of data, as the metrics and log lines show it.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Watcher polls Path and calls Apply with each new content.
type Watcher struct {
	// Path is the configuration file.
	Path string
	// Interval between reads; 0 selects DefaultInterval.
	Interval time.Duration
	// Apply applies data or returns why it cannot; on an error nothing may have changed.
	Apply func(ctx context.Context, data []byte) error
	// Log gets one line per applied or rejected content.
	Log *slog.Logger
	// Metrics, when set, count the reloads.
	Metrics *Metrics

	// seen is the hash of the content last read, applied or rejected: it is not tried again.
	seen string
}

// Loaded tells the watcher the content applied at start, so that it reloads only once the file differs.
func (w *Watcher) Loaded(data []byte) {
	w.seen = Hash(data)
	w.Metrics.applied(w.seen, false)
}

// Run polls until ctx ends. A file that cannot be read counts as a rejected reload (once per error).
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var readErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		data, err := os.ReadFile(w.Path)
		if err != nil {
			if err.Error() != readErr {
				readErr = err.Error()
				w.Log.Error("configuration file unreadable; the last good configuration keeps serving", "file", w.Path, "err", err)
				w.Metrics.rejected()
			}
			continue
		}
		readErr = ""
		w.Check(ctx, data)
	}
}

// Check applies data unless it is the content last seen, and reports whether it was applied.
func (w *Watcher) Check(ctx context.Context, data []byte) bool {
	hash := Hash(data)
	if hash == w.seen {
		return false
	}
	w.seen = hash
	if err := w.Apply(ctx, data); err != nil {
		w.Log.Error("configuration rejected; the last good configuration keeps serving", "file", w.Path, "sha256", hash, "err", err)
		w.Metrics.rejected()
		return false
	}
	w.Log.Info("configuration reloaded", "file", w.Path, "sha256", hash)
	w.Metrics.applied(hash, true)
	return true
}
