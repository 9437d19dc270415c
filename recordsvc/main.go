// Command recordsvc is the clusterdns record service: it watches a Kubernetes
// cluster (or serves a file of Kubernetes objects) and answers cluster DNS
// questions over gRPC. See --help for its flags.
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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/clusterdns/clusterdns/internal/buildinfo"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/discovery"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/recordserver"
)

// shutdownGrace bounds the graceful stop of the servers on SIGTERM.
const shutdownGrace = 5 * time.Second

// gRPC keepalive, so that both ends of a long-lived Watch stream notice a
// dead peer (a replica killed without a FIN, a network partition):
//   - clients may ping every keepaliveMinPingInterval or less often, with or
//     without an open stream; a client pinging faster is sent GOAWAY
//     ("too_many_pings"). Frontends should use keepalive.ClientParameters{Time:
//     15s, Timeout: 5s, PermitWithoutStream: true}, which leaves margin
//     above the minimum for timer jitter;
//   - the server pings a connection idle for keepaliveTime and closes it
//     when no answer comes within keepaliveTimeout.
const (
	keepaliveMinPingInterval = 10 * time.Second
	keepaliveTime            = 30 * time.Second
	keepaliveTimeout         = 10 * time.Second
)

// writeBufferSize is the size of a connection's write buffer (see the
// server options below).
const writeBufferSize = 4 << 10

func main() {
	if len(os.Args) > 1 && os.Args[1] == bootstrapCommand {
		os.Exit(bootstrapMain(os.Args[2:]))
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "recordsvc: %v\n", err)
		os.Exit(2)
	}
	if cfg.Version {
		fmt.Println(buildinfo.Get().String("recordsvc"))
		return
	}
	logger := newLogger(os.Stderr, cfg)
	klog.SetSlogLogger(logger) // client-go logs through klog
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("recordsvc stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	schema, err := dnsschema.New(cfg.schemaConfig())
	if err != nil {
		return err
	}
	ix := kubeindex.New(kubeindex.Config{PodNames: cfg.QueryLog, ClientZones: cfg.ZoneAware})
	// The source keeps the indexes current through the lameduck period: it
	// stops at cancel, after the signal.
	signalled := ctx
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	started := time.Now()
	sourceDone, sourceHealth, err := startSource(ctx, cfg, ix, logger)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Get().Gauge("clusterdns_build_info"))
	if err := startConfigWatch(ctx, cfg, reg, logger); err != nil {
		return err
	}
	sec, err := newSecurity(ctx, cfg, schema.Zone(), reg, logger)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	lis = sec.listener(lis)
	srv := recordserver.New(schema, ix, logger)
	srv.SetQueryLog(cfg.QueryLog)
	if err := startVisibility(ctx, cfg, srv, reg, logger); err != nil {
		return err
	}
	gs := grpc.NewServer(append(append(recordserver.ServerOptions(),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		// A connection's write buffer comes from a pool for each flush
		// instead of being its own for life: most connections are Watch
		// streams idle between changes (32 KiB each, 143 MB at 5,000
		// subscribers before, bench/results/fanout.md).
		grpc.SharedWriteBuffer(true),
		// And it is small: gRPC's writer yields before flushing a small
		// write, so while one change goes out to every subscriber all
		// their writers hold a buffer at once (139 MB of 32 KiB buffers at
		// 5,000). A change or a batch of answers is a few hundred bytes to
		// a few KiB; larger messages take a write per 4 KiB.
		grpc.WriteBufferSize(writeBufferSize),
	), sec.serverOptions()...)...)
	srv.Register(gs)
	if err := srv.RegisterMetrics(reg); err != nil {
		return err
	}
	disc := discovery.New(ix, srv.ID(), srv.Done(), logger)
	disc.SetVisibility(srv.DiscoveryView)
	clusterdnsv1.RegisterDiscoveryServiceServer(gs, disc)
	for _, c := range disc.Collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	metricsSrv, metricsDone, err := startMetrics(cfg.MetricsListen, cfg.Pprof, reg, probes{srv: srv, ix: ix,
		source: sourceHealth, started: started, syncTimeout: cfg.HealthzSyncTimeout, sourceFailure: cfg.HealthzSourceFailure})
	if err != nil {
		return err
	}

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	logger.Info("record service listening", "listen", lis.Addr().String(), "zone", schema.Zone(),
		"source", sourceName(cfg), "pods", cfg.Pods.String(), "autopath", cfg.Autopath, "metrics", cfg.MetricsListen,
		"server_id", srv.ID(), "tls", cfg.TLSEnabled(), "multicluster_zone", schema.MulticlusterZone())

	select {
	case <-signalled.Done():
		err = lameduckPeriod(srv, cfg.Lameduck, logger, served, metricsDone, sourceDone)
	case err = <-served:
		err = fmt.Errorf("grpc server: %w", err)
	case err = <-metricsDone:
		err = fmt.Errorf("--metrics-listen: %w", err)
	case err = <-sourceDone:
		if err != nil {
			err = fmt.Errorf("source: %w", err)
		}
	}
	cancel()
	srv.Shutdown()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		gs.Stop()
	}
	if metricsSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer scancel()
		_ = metricsSrv.Shutdown(sctx) // the process is ending either way
	}
	return err
}

// startSource loads the file source (failing on a bad file) or starts the
// informers; their end is reported on the returned channel.
func startSource(ctx context.Context, cfg config, ix *kubeindex.Index, logger *slog.Logger) (<-chan error, *kubeindex.SourceHealth, error) {
	done := make(chan error, 1)
	if cfg.SourceFile != "" {
		fs := kubeindex.NewFileSource(kubeindex.FileSourceConfig{Path: cfg.SourceFile}, ix, logger)
		if err := fs.Load(); err != nil {
			return nil, nil, fmt.Errorf("--source: %w", err)
		}
		go func() { done <- fs.Run(ctx) }()
		return done, fs.Health(), nil
	}
	restCfg, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client: %w", err)
	}
	gc := newListCollector()
	in, err := kubeindex.NewInformers(client, ix, kubeindex.InformerConfig{
		WatchPods: cfg.Pods == dnsschema.PodsVerified, Listing: gc.hold}, logger)
	if err != nil {
		return nil, nil, err
	}
	if err := addNodeInformer(in, restCfg, cfg); err != nil {
		return nil, nil, err
	}
	if err := addServiceImportInformer(in, restCfg, cfg); err != nil {
		return nil, nil, err
	}
	gc.holdUntil(ix.SyncedChan())
	go func() { done <- in.Run(ctx) }()
	return done, in.Health(), nil
}

// syncGCPercent is the garbage collector's target (GOGC) while the
// informers sync and while any of them lists the API server again, until
// its handler has received what it listed. A list decodes every API
// object once and keeps a small slim copy, so the heap is mostly garbage
// then and, at the default of 100, the peak memory of the process is about
// twice what it keeps. At 25 the peak at 10k Services,
// 100k endpoints and 100k Pods was ~25% lower (bench: recordsvc peak RSS),
// for a sync a few percent slower. A relist after sync ran at 100 and
// peaked at 1.84x the steady RSS (bench/results/relist.md).
const syncGCPercent = 25

// listCollector lowers the garbage collector's target to syncGCPercent
// while it is held (the initial sync, each list) and restores the process's
// own target when no hold is left. A GOGC set lower than that, or off, is
// left alone.
type listCollector struct {
	mu     sync.Mutex
	normal int // the target outside holds; <= syncGCPercent: never changed
	holds  int
}

func newListCollector() *listCollector {
	normal := debug.SetGCPercent(syncGCPercent)
	debug.SetGCPercent(normal)
	return &listCollector{normal: normal}
}

// hold lowers the target until the returned function is called.
func (c *listCollector) hold() (release func()) {
	if c.normal <= syncGCPercent { // also GOGC=off (-1)
		return func() {}
	}
	c.mu.Lock()
	if c.holds++; c.holds == 1 {
		debug.SetGCPercent(syncGCPercent)
	}
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.holds--; c.holds == 0 {
				debug.SetGCPercent(c.normal)
			}
			c.mu.Unlock()
		})
	}
}

// holdUntil holds the lower target until done is closed.
func (c *listCollector) holdUntil(done <-chan struct{}) {
	release := c.hold()
	go func() {
		<-done
		release()
	}()
}

// listQPS and listBurst are the client-side rate limit of API requests.
const (
	listQPS   = 100
	listBurst = 200
)

func restConfig(kubeconfig string) (*rest.Config, error) {
	var restCfg *rest.Config
	var err error
	if kubeconfig != "" {
		if restCfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
	} else if restCfg, err = rest.InClusterConfig(); err != nil {
		return nil, fmt.Errorf("no --kubeconfig or --source given and not running in a cluster: %w", err)
	}
	restCfg.UserAgent = "clusterdns-recordsvc"
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	// The informers list in pages (kubeindex.pagedListWatch) and, at 100k
	// Pods, need a few hundred requests to sync; client-go's default limit
	// of 5 requests per second would spread them over a minute. Afterwards
	// the record service only watches.
	restCfg.QPS, restCfg.Burst = listQPS, listBurst
	return restCfg, nil
}

// startMetrics serves /metrics, /healthz (alive) and /readyz (synced, not in lameduck) when
// addr is set, and Go's /debug/pprof/ profiles when withPprof is true.
func startMetrics(addr string, withPprof bool, reg *prometheus.Registry, p probes) (*http.Server, <-chan error, error) {
	done := make(chan error, 1)
	if addr == "" {
		return nil, done, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", p.healthz)
	mux.HandleFunc("GET /readyz", p.readyz)
	if withPprof {
		servePprof(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			done <- err
		}
	}()
	return srv, done, nil
}

func sourceName(cfg config) string {
	switch {
	case cfg.SourceFile != "":
		return "file:" + cfg.SourceFile
	case cfg.Kubeconfig != "":
		return "kubeconfig:" + cfg.Kubeconfig
	default:
		return "in-cluster"
	}
}

// servePprof adds Go's profiling handlers under /debug/pprof/.
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
