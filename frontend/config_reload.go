package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	"github.com/clusterdns/clusterdns/internal/configwatch"
)

// What a reload of the --config file changes while the frontend serves:
// the log level, the cache lifetimes and size, the upstreams, policy,
// timeout and stub domains, the hosts entries, static zones and rewrites.
// The cluster domain, turning the cache on or off and turning forwarding on
// when it was off at start need a restart: a reload reports them in a log
// line and clusterdns_frontend_config_restart_pending, and applies the rest.
//
// The cache is kept: hosts, zones and rewrites come before it (a rewritten
// name is cached under the name it was rewritten to), so their changes
// leave it alone; a change of the default upstreams retires the upstream
// answers, a change of stub domains only those under the zones that
// changed; the record service's answers stay across every reload.

// reloader applies new --config content. Only the watcher's goroutine
// calls it.
type reloader struct {
	cur     Config
	log     *slog.Logger
	cache   *dnscache.Cache
	fwd     *forward.Forwarder
	servers []*dnsserver.Server
	metrics *configwatch.Metrics
}

// newConfigWatcher returns the watcher of cfg's --config file, which
// applies new content to the running frontend.
func newConfigWatcher(cfg Config, reg prometheus.Registerer, log *slog.Logger, cache *dnscache.Cache,
	fwd *forward.Forwarder, servers []*dnsserver.Server) (*configwatch.Watcher, error) {
	m, err := configwatch.NewMetrics(reg, "frontend")
	if err != nil {
		return nil, err
	}
	r := &reloader{cur: cfg, log: log, cache: cache, fwd: fwd, servers: servers, metrics: m}
	w := &configwatch.Watcher{Path: cfg.File.Path, Interval: cfg.File.ReloadInterval, Apply: r.apply, Log: log, Metrics: m}
	w.Loaded(cfg.File.data)
	return w, nil
}

// apply checks data with the command line exactly as a start would, then
// applies what changed. When anything is wrong nothing changes.
func (r *reloader) apply(_ context.Context, data []byte) error {
	next, err := parseFlagsFile(r.cur.File.args, io.Discard, data)
	if err != nil {
		return err
	}
	restart := r.restartNeeded(next)
	// Forwarding first: it is the one step that may still fail (the
	// nameservers of --resolv-conf are read again).
	if r.fwd != nil && forwardingChanged(r.cur, next) {
		oldUp, oldStubs := r.fwd.Upstreams(), r.fwd.StubDomains()
		if err := r.fwd.Update(forward.Update{Upstreams: next.Upstreams, StubDomains: next.StubDomains,
			Policy: next.UpstreamPolicy, Timeout: next.UpstreamTimeout}); err != nil {
			return fmt.Errorf("upstreams: %w", err)
		}
		r.retireForwarded(oldUp, oldStubs)
	}
	if r.cache != nil && next.CacheSize > 0 {
		if err := r.cache.Reconfigure(cacheConfig(next)); err != nil {
			r.log.Error("cache settings not applied", "err", err)
		}
	}
	for _, srv := range r.servers {
		srv.SetLocal(next.File.local)
	}
	if lv := r.cur.File.level; lv != nil {
		lv.Set(next.LogLevel)
	}
	// What needs a restart keeps its running value.
	next.ClusterDomain = r.cur.ClusterDomain
	if (r.cur.CacheSize == 0) != (next.CacheSize == 0) {
		next.CacheSize = r.cur.CacheSize
	}
	next.File.level = r.cur.File.level
	r.cur = next
	if len(restart) > 0 {
		r.log.Warn("configuration change needs a restart to take effect; the rest is applied", "fields", restart)
	}
	r.metrics.SetRestartPending(len(restart) > 0)
	return nil
}

// restartNeeded names the changes next makes that only a restart applies.
func (r *reloader) restartNeeded(next Config) []string {
	var fields []string
	if next.ClusterDomain != r.cur.ClusterDomain {
		fields = append(fields, "clusterDomain")
	}
	if (next.CacheSize == 0) != (r.cur.CacheSize == 0) {
		fields = append(fields, "cache.size (turning the cache on or off)")
	}
	if r.fwd == nil && (len(next.Upstreams) > 0 || len(next.StubDomains) > 0) {
		fields = append(fields, "upstreams (forwarding was off at start)")
	}
	return fields
}

// forwardingChanged reports whether a and b forward differently.
func forwardingChanged(a, b Config) bool {
	return !slices.Equal(a.Upstreams, b.Upstreams) || a.UpstreamPolicy != b.UpstreamPolicy ||
		a.UpstreamTimeout != b.UpstreamTimeout || !maps.EqualFunc(a.StubDomains, b.StubDomains, slices.Equal)
}

// retireForwarded drops the cached upstream answers the forwarder's update
// made wrong: all when the default upstreams changed, else those under the
// stub domains that came, went or changed their upstreams.
func (r *reloader) retireForwarded(oldUp []string, oldStubs map[string][]string) {
	if r.cache == nil {
		return
	}
	if !slices.Equal(oldUp, r.fwd.Upstreams()) {
		r.cache.DropForwarded(nil)
		r.log.Info("upstreams changed: cached upstream answers dropped, cluster answers kept", "upstreams", r.fwd.Upstreams())
		return
	}
	newStubs := r.fwd.StubDomains()
	var zones []string
	for z, ups := range newStubs {
		if !slices.Equal(oldStubs[z], ups) {
			zones = append(zones, z)
		}
	}
	for z := range oldStubs {
		if _, ok := newStubs[z]; !ok {
			zones = append(zones, z)
		}
	}
	if len(zones) > 0 {
		slices.Sort(zones)
		r.cache.DropForwarded(zones)
		r.log.Info("stub domains changed: their cached upstream answers dropped", "zones", zones)
	}
}

// cacheConfig is the dnscache configuration of cfg.
func cacheConfig(cfg Config) dnscache.Config {
	clusterTTL := cfg.ClusterCacheTTL
	if clusterTTL == 0 {
		clusterTTL = -1 // dnscache: negative disables the extension
	}
	return dnscache.Config{
		MaxBytes:       cfg.CacheSize,
		ClusterTTL:     clusterTTL,
		MaxTTL:         cfg.CacheMaxTTL,
		MinTTL:         cfg.CacheMinTTL,
		MaxNegativeTTL: cfg.CacheMaxNegativeTTL,
		MaxStale:       cfg.ServeStale,
		StaleTTL:       cfg.StaleTTL,
	}
}
