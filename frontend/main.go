// Command frontend is the clusterdns DNS server pods talk to: it answers the
// cluster zone and the reverse zones through the record service, forwards
// other names to upstream resolvers, keeps a response cache that the record
// service's invalidation stream keeps exact, exports Prometheus metrics and
// health endpoints, and goes lameduck on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clusterdns/clusterdns/frontend/internal/corednsmetrics"
	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	"github.com/clusterdns/clusterdns/internal/buildinfo"
)

// shutdownTimeout bounds the drain of DNS and HTTP servers at exit.
const shutdownTimeout = 5 * time.Second

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "frontend:", err)
		os.Exit(2)
	}
	if cfg.Version {
		fmt.Println(buildinfo.Get().String("frontend"))
		return
	}
	// A --config reload may change the level.
	cfg.File.level = new(slog.LevelVar)
	cfg.File.level.Set(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: cfg.File.level}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal a second one ends the process at once instead
	// of waiting for the lameduck period.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, cfg, log); err != nil {
		log.Error("frontend failed", "err", err)
		os.Exit(1)
	}
}

// run serves DNS until ctx is done, then goes lameduck (still answering,
// /ready failing) for cfg.Lameduck and drains. It returns an error when the
// start fails or when a forwarding loop is detected.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if limit, ok := boundMemory(cfg.CacheSize); ok {
		log.Info("soft memory limit set from --cache-size (GOMEMLIMIT overrides it)", "bytes", limit)
	}
	reg := prometheus.NewRegistry()
	build := buildinfo.Get()
	// coredns_build_info beside our own, for dashboards made for CoreDNS.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build.Gauge("clusterdns_build_info"), build.Gauge("coredns_build_info"))

	var cache *dnscache.Cache
	if cfg.CacheSize > 0 {
		c, err := dnscache.New(cacheConfig(cfg))
		if err != nil {
			return err
		}
		defer c.Close()
		cache = c
	}

	rcMetrics, err := recordclient.NewMetrics(reg)
	if err != nil {
		return err
	}
	creds, err := recordServiceCredentials(ctx, cfg, log)
	if err != nil {
		return err
	}
	client, err := recordclient.New(recordclient.Config{
		Target:        cfg.RecordService,
		LookupTimeout: cfg.LookupTimeout,
		Zone:          cfg.Zone,
		Logger:        log,
		Metrics:       rcMetrics,
		Credentials:   creds,
		AbsentBelow:   cache != nil,
	})
	if err != nil {
		return err
	}
	defer client.Close()

	metrics, err := dnsserver.NewMetrics(reg, cache)
	if err != nil {
		return err
	}
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "clusterdns", Subsystem: "frontend", Name: "recordsvc_watch_connected",
		Help: "1 while the record service invalidation stream is open.",
	}, func() float64 {
		if client.WatchConnected() {
			return 1
		}
		return 0
	})); err != nil {
		return fmt.Errorf("register watch metric: %w", err)
	}

	fwd, err := newForwarder(cfg, reg, log)
	if err != nil {
		return err
	}
	dnsCfg := dnsserver.Config{
		Listen:            cfg.Listen,
		ClusterDomain:     cfg.ClusterDomain,
		Records:           client,
		Cache:             cache,
		Metrics:           metrics,
		Logger:            log,
		QueryLog:          cfg.QueryLog,
		UDPBufferSize:     cfg.EDNSBufferSize,
		MaxUDPSize:        cfg.MaxUDPSize,
		TCPIdleTimeout:    cfg.TCPIdleTimeout,
		MaxTCPConnections: cfg.MaxTCPConnections,
		MaxTCPPerIP:       cfg.MaxTCPConnectionsPerIP,
		MaxTCPQueries:     cfg.MaxTCPQueries,
		UDPSockets:        cfg.UDPSockets,
	}
	dnsCfg.MaxConcurrentMisses = cfg.MaxConcurrentMisses
	dnsCfg.Local = cfg.File.local
	loops := make(chan string, 1)
	if fwd != nil {
		dnsCfg.Forwarder = fwd
		dnsCfg.LoopDetector = forward.NewLoopDetector(fwd.LoopProbeName())
		dnsCfg.OnLoop = func(name string) {
			select {
			case loops <- name:
			default:
			}
		}
	}
	srv, err := serveDNS(ctx, dnsCfg, cfg.NodeLocal, log)
	if err != nil {
		return err
	}
	scraped := withCoreDNSNames(reg, metrics, srv.UDPAddr().String())
	log.Info("serving DNS", "udp", srv.UDPAddr(), "tcp", srv.TCPAddr(),
		"recordsvc", cfg.RecordService, "cluster_domain", cfg.ClusterDomain, "cache_bytes", cfg.CacheSize,
		"serve_stale", cfg.ServeStale)

	// life runs the background work until the DNS servers have drained:
	// the invalidation stream and upstream health checks must go on during
	// the lameduck period.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	var wg sync.WaitGroup
	var watcher recordclient.WatchHandler = ignoreWatch{}
	if cache != nil {
		watcher = cache
	}
	wg.Go(func() { _ = client.Watch(life, watcher) })
	if cfg.File.Path != "" {
		w, err := newConfigWatcher(cfg, reg, log, cache, fwd, srv.servers)
		if err != nil {
			_ = srv.Shutdown(context.WithoutCancel(ctx))
			endLife()
			wg.Wait()
			return err
		}
		wg.Go(func() { w.Run(life) })
	}
	if fwd != nil {
		wg.Go(func() { _ = fwd.Run(life) })
		// The listeners are up: a probe that comes back reaches our
		// LoopDetector.
		wg.Go(func() {
			if err := fwd.CheckLoop(life); err == nil {
				log.Debug("loop check done", "probe", fwd.LoopProbeName())
			}
		})
	}

	// Ready while the record service answers now (so uncached cluster names
	// can be answered: recordclient.Client.Ready), and not from the moment
	// ctx ends (SIGTERM) or a loop is found. Cached and stale answers go on
	// meanwhile; readiness only tells whether this frontend can answer
	// everything.
	var lameduck atomic.Bool
	started := time.Now()
	ready := func() bool {
		return ctx.Err() == nil && !lameduck.Load() &&
			readyNow(client.Ready(), client.LastUp(), started, time.Now(), cfg.ReadyFailOpen)
	}
	var ops *http.Server
	if cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			_ = srv.Shutdown(context.WithoutCancel(ctx))
			endLife()
			wg.Wait()
			return fmt.Errorf("--metrics-listen %s: %w", cfg.MetricsListen, err)
		}
		ops = &http.Server{Handler: opsHandler(scraped, reg, ready, cfg.Pprof), ReadHeaderTimeout: 5 * time.Second}
		log.Info("serving metrics", "addr", ln.Addr())
		wg.Go(func() {
			if err := ops.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "err", err)
			}
		})
	}

	var errs []error
	select {
	case <-ctx.Done():
		lameduck.Store(true)
		if cfg.Lameduck > 0 {
			log.Info("lameduck: not ready, still answering", "for", cfg.Lameduck)
			t := time.NewTimer(cfg.Lameduck)
			select {
			case <-t.C:
			case name := <-loops:
				t.Stop()
				errs = append(errs, loopError(name))
			}
		}
	case name := <-loops:
		lameduck.Store(true)
		errs = append(errs, loopError(name))
	}
	log.Info("shutting down: draining DNS queries in flight")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	if ops != nil {
		if err := ops.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("metrics server shutdown: %w", err))
		}
	}
	endLife()
	wg.Wait()
	return errors.Join(errs...)
}

// loopError is run's error when the loop probe came back.
func loopError(probe string) error {
	return fmt.Errorf("forwarding loop detected: the probe %s sent to the upstreams came back to this server, "+
		"so an upstream forwards to us; point --upstream (or the nameservers of --resolv-conf) at resolvers "+
		"that do not use this server", probe)
}

// newForwarder builds the upstream forwarder, or returns nil when no
// upstream is configured and the default resolv.conf gives none (a warning
// says that names outside the cluster zone get REFUSED).
func newForwarder(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*forward.Forwarder, error) {
	fcfg := forward.Config{
		Upstreams:       cfg.Upstreams,
		ResolvConf:      cfg.ResolvConf,
		StubDomains:     cfg.StubDomains,
		StubDomainsFile: cfg.StubDomainsFile,
		Timeout:         cfg.UpstreamTimeout,
		MaxConcurrent:   cfg.MaxConcurrentUpstream,
		Policy:          cfg.UpstreamPolicy,
	}
	if len(cfg.Upstreams) == 0 && cfg.ResolvConf == forward.DefaultResolvConf {
		f, err := os.Open(cfg.ResolvConf)
		if err == nil {
			_, err = forward.ParseResolvConf(f)
			_ = f.Close()
		}
		if err != nil {
			log.Warn("no upstream resolvers: names outside the cluster zone get REFUSED (give --upstream)",
				"resolv_conf", cfg.ResolvConf, "err", err)
			return nil, nil
		}
	}
	m, err := forward.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	fcfg.Metrics = m
	fwd, err := forward.New(fcfg, log)
	if err != nil {
		// forward's errors name the file and line at fault.
		return nil, fmt.Errorf("forwarding (--upstream, --resolv-conf, --stub-domain, --stub-domains-file): %w", err)
	}
	log.Info("forwarding names outside the cluster zone", "upstreams", fwd.Upstreams(),
		"stub_domains", len(fwd.StubDomains()), "policy", cfg.UpstreamPolicy)
	return fwd, nil
}

// memoryHeadroom is what the soft memory limit allows beyond the cache:
// buffers, queries in flight, the forwarder, gRPC and the runtime. An idle
// frontend's heap is ~3 MB; under the benchmark's loads the rest stayed
// below 40 MB.
const memoryHeadroom = 64 << 20

// boundMemory sets Go's soft memory limit to the cache size plus
// memoryHeadroom unless GOMEMLIMIT is set. The cache counts what its
// entries hold, but at the default GOGC the heap may grow to twice the live
// data before a collection; the limit makes the collector run sooner once
// the cache is full, so that the frontend's memory follows --cache-size
// (and never the cluster's size). It returns the limit and whether it set
// it.
func boundMemory(cacheSize int64) (int64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit := cacheSize + memoryHeadroom
	debug.SetMemoryLimit(limit)
	return limit, true
}

// withCoreDNSNames returns what /metrics serves: reg, and the CoreDNS-named
// series (package corednsmetrics) that are read from reg and the by-type
// duration histogram when scraped. listen is the bound DNS address.
func withCoreDNSNames(reg *prometheus.Registry, metrics *dnsserver.Metrics, listen string) prometheus.Gatherer {
	byType := prometheus.NewRegistry()
	byType.MustRegister(metrics.QtypeDurations())
	coredns := prometheus.NewRegistry()
	coredns.MustRegister(corednsmetrics.New(prometheus.Gatherers{reg, byType}, listen))
	return prometheus.Gatherers{reg, coredns}
}

// opsHandler serves /metrics from g (promhttp's own metrics go to reg), /health (the process answers: 200)
// and /ready (200 when ready reports true: the record service answered
// within the last few seconds, and the frontend is not in its lameduck
// period; else 503), and Go's /debug/pprof/ profiles when withPprof is
// true.
func opsHandler(g prometheus.Gatherer, reg prometheus.Registerer, ready func() bool, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: record service not answering or shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ignoreWatch consumes the invalidation stream when there is no cache, so
// that readiness still follows the stream.
type ignoreWatch struct{}

func (ignoreWatch) Resync(string, uint64)               {}
func (ignoreWatch) Invalidate(string, uint64, []string) {}
func (ignoreWatch) Disconnected()                       {}

// readyNow decides readiness from the record client's state: ready while the
// record service answers (connected), and also once it has been unreachable
// for failOpen (measured from the later of the last answer and the start),
// because an outage that long is most likely every frontend's, and a
// kube-dns Service with no ready endpoint would answer nothing at all.
func readyNow(connected bool, lastUp, started, now time.Time, failOpen time.Duration) bool {
	if connected {
		return true
	}
	if failOpen <= 0 {
		return false
	}
	since := started
	if lastUp.After(since) {
		since = lastUp
	}
	return now.Sub(since) >= failOpen
}
