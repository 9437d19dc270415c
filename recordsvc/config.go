package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/internal/mtls"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
)

// config is the record service's configuration, one field per flag.
type config struct {
	// Listen is the gRPC listen address (--listen, default 127.0.0.1:9090).
	Listen string
	// Kubeconfig is a kubeconfig file (--kubeconfig); empty means the
	// in-cluster configuration unless SourceFile is set.
	Kubeconfig string
	// SourceFile is the PATH of --source file:PATH: serve the objects of a
	// YAML file instead of watching an API server. Empty by default.
	SourceFile string
	// ClusterDomain is the cluster zone (--cluster-domain, default
	// cluster.local).
	ClusterDomain string
	// TTL of the records in seconds (--ttl, default 30).
	TTL uint32
	// Pods is the pod-record mode (--pods, default insecure).
	Pods dnsschema.PodMode
	// Autopath turns on server-side search-path completion (--autopath,
	// default false); it needs Pods == PodsVerified.
	Autopath bool
	// ZoneAware orders headless answers by the client's zone (--zone-aware,
	// default false); with Pods == PodsVerified it also watches Nodes.
	ZoneAware bool
	// MulticlusterZone is the clusterset zone answered from ServiceImports
	// (--multicluster-zone, zones.go); empty (the default) is off.
	MulticlusterZone string
	// DirectoryLimit is the most Services a namespace may have for the
	// NXDOMAINs below it to carry the list of their names, the namespace's
	// directory (--directory-limit, default 1000; 0 sends none).
	DirectoryLimit int
	// NameserverService is namespace/name of the Service whose IPs the zone's
	// NS record points to (--nameserver-service, default kube-system/kube-dns).
	NameserverService string
	// MetricsListen serves /metrics, /healthz and /readyz over HTTP
	// (--metrics-listen); empty (the default) serves nothing.
	MetricsListen string
	// Pprof adds Go's /debug/pprof/ handlers to the metrics listener
	// (--pprof, default false).
	Pprof bool
	// Version asks for the version line on standard output and nothing
	// else (--version); the other flags are not checked then.
	Version bool
	// LogLevel is the minimum level logged (--log-level, default info).
	LogLevel slog.Level
	// Lameduck is how long the service keeps answering after SIGTERM while
	// reporting not ready (--lameduck, default 10s).
	Lameduck time.Duration
	// HealthzSyncTimeout and HealthzSourceFailure fail /healthz when the
	// indexes have not synced that long after start, or the source has been
	// failing that long (--healthz-sync-timeout 10m,
	// --healthz-source-failure 5m).
	HealthzSyncTimeout   time.Duration
	HealthzSourceFailure time.Duration
	// TLS are the server certificate, key and client CA bundle (--tls-cert,
	// --tls-key, --tls-client-ca); all empty means plaintext, which only a
	// loopback --listen allows.
	TLS mtls.Files
	// AuthzPolicy is the authorization policy file (--authz-policy); empty
	// means only the frontend identity is authorized.
	AuthzPolicy string
	// Limits bound connections and streams per client and in total.
	Limits limits
	// VisibilityPolicy is the visibility policy file (--visibility-policy);
	// empty (the default) lets every client resolve every namespace.
	VisibilityPolicy string
	// QueryLog logs one line per Lookup naming the asking pod (--query-log).
	QueryLog bool
	// File is the --config file (configfile.go); nil without one.
	File *configFile
}

// limits are the admission bounds of the gRPC listener (defaults in security.go).
type limits struct {
	// MaxConnections and MaxConnectionsPerIP bound open gRPC connections
	// (--max-connections, --max-connections-per-ip).
	MaxConnections      int
	MaxConnectionsPerIP int
	// MaxStreamsPerConnection is HTTP/2 MAX_CONCURRENT_STREAMS
	// (--max-streams-per-connection).
	MaxStreamsPerConnection int
	// MaxStreams and MaxStreamsPerClient bound open streaming calls (Watch,
	// LookupStream, health Watch) in total and per client
	// (--max-streams, --max-streams-per-client).
	MaxStreams          int
	MaxStreamsPerClient int
}

// TLSEnabled reports whether the gRPC listener uses mutual TLS.
func (c config) TLSEnabled() bool { return c.TLS.Cert != "" }

// schemaConfig is the dnsschema part of the configuration.
func (c config) schemaConfig() dnsschema.Config {
	return dnsschema.Config{Zone: c.ClusterDomain, TTL: c.TTL, Pods: c.Pods, NameserverService: c.NameserverService,
		Autopath: c.Autopath, ZoneAware: c.ZoneAware, MulticlusterZone: c.MulticlusterZone, DirectoryLimit: c.directoryLimit()}
}

// directoryLimit is DirectoryLimit as dnsschema.Config takes it, where 0
// is the default and a negative limit turns directories off.
func (c config) directoryLimit() int {
	if c.DirectoryLimit == 0 {
		return -1
	}
	return c.DirectoryLimit
}

// parseFlagsFile parses the command line into a config, with file as the
// content of --config (nil: read it). Every invalid value is an error naming
// its flag (or the file's field). flag.ErrHelp is returned after printing
// the usage to output for -h/--help.
func parseFlagsFile(args []string, output io.Writer, file []byte) (config, error) {
	fs := flag.NewFlagSet("recordsvc", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage printed on request only
	listen := fs.String("listen", "127.0.0.1:9090", "gRPC listen `address` (HOST:PORT)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig `file` of the cluster to watch (default: in-cluster config)")
	source := fs.String("source", "", "serve the Kubernetes objects of a YAML file instead of an API server: file:`PATH`")
	domain := fs.String("cluster-domain", dnsschema.DefaultZone, "cluster DNS `zone`")
	ttl := fs.Int64("ttl", dnsschema.DefaultTTL, "TTL of the records in `seconds` (1..2147483647)")
	pods := fs.String("pods", "insecure", "pod records `mode`: disabled, insecure or verified (watches Pods)")
	autopath := fs.Bool("autopath", false,
		"complete a pod's search path server-side (CoreDNS's autopath): X.<ns>.svc.<zone> from a pod of <ns> that would\n"+
			"find X further down its search list inside the zone gets a CNAME to that name; requires --pods verified")
	zoneAware := fs.Bool("zone-aware", false,
		"answer headless Services with the client's zone's endpoints first (only those with trafficDistribution PreferClose\n"+
			"or hints); the zone is a frontend's --zone, else, with --pods verified, the client pod's node's zone (watches Node metadata)")
	multicluster := registerMulticlusterFlag(fs)
	nameserver := fs.String("nameserver-service", dnsschema.DefaultNameserverService,
		"`namespace/name` of the Service whose cluster IPs the zone's NS record names")
	directoryLimit := fs.Int("directory-limit", dnsschema.DefaultDirectoryLimit,
		"most `Services` a namespace may have for its NXDOMAINs to carry the list of their names, from which frontends\n"+
			"answer other absent names in the namespace without asking (0: send no list)")
	metricsListen := fs.String("metrics-listen", "", "HTTP `address` for /metrics, /healthz and /readyz (default: off)")
	pprofOn := fs.Bool("pprof", false, "also serve Go's /debug/pprof/ profiles on the --metrics-listen address")
	showVersion := fs.Bool("version", false, "print the version, commit and Go version, and exit")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	lameduck := fs.Duration("lameduck", 10*time.Second,
		"after SIGTERM, report not ready (gRPC health, /readyz) but keep answering and streaming for this `duration`, then end the streams")
	syncTimeout := fs.Duration("healthz-sync-timeout", 10*time.Minute, "/healthz fails when the indexes have not synced this `duration` after start")
	sourceFailure := fs.Duration("healthz-source-failure", 5*time.Minute,
		"/healthz fails when the API server's lists and watches (or reads of the --source file) have failed for this `duration`")
	tlsCert := fs.String("tls-cert", "", "PEM certificate `file` of the gRPC server (mutual TLS; reloaded when it changes). Required unless --listen is loopback")
	tlsKey := fs.String("tls-key", "", "PEM private key `file` of --tls-cert (reloaded when it changes)")
	tlsCA := fs.String("tls-client-ca", "", "PEM `file` of the CAs client certificates must be issued by (reloaded when it changes)")
	policy := fs.String("authz-policy", "", "YAML authorization policy `file` naming client identities and their role or namespaces\n"+
		"(reloaded when it changes; default: only the identity frontend is authorized). Needs --tls-cert")
	visibilityPolicy := fs.String("visibility-policy", "", "YAML visibility policy `file`: which namespaces' names the pods of a namespace\n"+
		"(or a record API identity) may resolve; others answer as names that do not exist. Reloaded when it changes;\n"+
		"requires --pods verified (default: every client resolves every namespace)")
	queryLog := fs.Bool("query-log", false, "log one line per Lookup: name, type, client address, its pod and namespace, result, duration")
	lim := limits{}
	fs.IntVar(&lim.MaxConnections, "max-connections", defaultMaxConnections, "open gRPC `connections` at most (0: no limit)")
	fs.IntVar(&lim.MaxConnectionsPerIP, "max-connections-per-ip", defaultMaxConnectionsPerIP, "open gRPC `connections` per client address at most (0: no limit)")
	fs.IntVar(&lim.MaxStreamsPerConnection, "max-streams-per-connection", defaultMaxStreamsPerConnection,
		"concurrent calls per gRPC connection (HTTP/2 MAX_CONCURRENT_STREAMS; `n` >= 1)")
	fs.IntVar(&lim.MaxStreams, "max-streams", defaultMaxStreams, "open streaming calls (Watch, LookupStream) of all clients at most (0: no limit)")
	fs.IntVar(&lim.MaxStreamsPerClient, "max-streams-per-client", defaultMaxStreamsPerClient,
		"open streaming calls per client (identity and address; address without TLS) at most (0: no limit)")
	cfgFile := registerConfigFlags(fs)
	fs.Usage = func() {
		fs.SetOutput(output)
		fmt.Fprintf(output, "Usage: recordsvc [flags]\n\nAnswers Kubernetes cluster DNS questions over gRPC from watched cluster state.\n\nFlags:\n")
		fs.PrintDefaults()
	}

	if err := fs.Parse(args); err != nil {
		// Parse has already printed the usage (on --help) or the error.
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}
	if *showVersion {
		return config{Version: true}, nil
	}
	if err := cfgFile.merge(fs, args, file); err != nil {
		return config{}, err
	}

	cfg := config{
		Listen:            *listen,
		Kubeconfig:        *kubeconfig,
		ClusterDomain:     *domain,
		NameserverService: *nameserver,
		MetricsListen:     *metricsListen,
		Pprof:             *pprofOn,
		TLS:               mtls.Files{Cert: *tlsCert, Key: *tlsKey, CA: *tlsCA},
		AuthzPolicy:       *policy,
		Limits:            lim,
		VisibilityPolicy:  *visibilityPolicy,
		QueryLog:          *queryLog,
	}
	if err := checkAddress(*listen); err != nil {
		return config{}, fmt.Errorf("--listen: %w", err)
	}
	if *metricsListen != "" {
		if err := checkAddress(*metricsListen); err != nil {
			return config{}, fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	if *pprofOn && *metricsListen == "" {
		return config{}, errors.New("--pprof: needs --metrics-listen (the profiles are served there)")
	}
	if *source != "" {
		scheme, path, ok := strings.Cut(*source, ":")
		switch {
		case !ok:
			return config{}, fmt.Errorf("--source: %q has no scheme, want file:PATH", *source)
		case scheme != "file":
			return config{}, fmt.Errorf("--source: unsupported scheme %q, want file:PATH", scheme)
		case path == "":
			return config{}, errors.New("--source: empty PATH, want file:PATH")
		case *kubeconfig != "":
			return config{}, errors.New("--source: cannot be combined with --kubeconfig (serve either a file or a cluster)")
		}
		cfg.SourceFile = path
	}
	if *ttl < 1 || *ttl > math.MaxInt32 {
		return config{}, fmt.Errorf("--ttl: must be 1..%d, got %d", math.MaxInt32, *ttl)
	}
	cfg.TTL = uint32(*ttl)
	mode, err := dnsschema.ParsePodMode(*pods)
	if err != nil {
		return config{}, fmt.Errorf("--pods: %w", err)
	}
	cfg.Pods = mode
	if *autopath && mode != dnsschema.PodsVerified {
		return config{}, fmt.Errorf("--autopath: requires --pods verified (the client's namespace comes from the watched pods), got --pods %s", mode)
	}
	cfg.Autopath = *autopath
	if *directoryLimit < 0 {
		return config{}, fmt.Errorf("--directory-limit: must not be negative, got %d", *directoryLimit)
	}
	cfg.DirectoryLimit = *directoryLimit
	cfg.ZoneAware = *zoneAware
	if err := checkMulticluster(&cfg, *multicluster, *source); err != nil {
		return config{}, err
	}
	if *visibilityPolicy != "" && mode != dnsschema.PodsVerified {
		return config{}, fmt.Errorf("--visibility-policy: requires --pods verified (a client's namespace comes from the watched pods), got --pods %s", mode)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return config{}, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", *logLevel)
	}
	if *lameduck < 0 {
		return config{}, fmt.Errorf("--lameduck: must not be negative, got %s", *lameduck)
	}
	if *syncTimeout <= 0 {
		return config{}, fmt.Errorf("--healthz-sync-timeout: must be positive, got %s", *syncTimeout)
	}
	if *sourceFailure <= 0 {
		return config{}, fmt.Errorf("--healthz-source-failure: must be positive, got %s", *sourceFailure)
	}
	cfg.Lameduck, cfg.HealthzSyncTimeout, cfg.HealthzSourceFailure = *lameduck, *syncTimeout, *sourceFailure
	// The schema owns the rules for the zone and the nameserver service;
	// check each alone so the error names its flag.
	if *domain == "" {
		return config{}, errors.New("--cluster-domain: empty")
	}
	if _, err := dnsschema.New(dnsschema.Config{Zone: *domain}); err != nil {
		return config{}, fmt.Errorf("--cluster-domain: %w", err)
	}
	if *nameserver == "" {
		return config{}, errors.New("--nameserver-service: empty, want namespace/name")
	}
	if _, err := dnsschema.New(dnsschema.Config{NameserverService: *nameserver}); err != nil {
		return config{}, fmt.Errorf("--nameserver-service: %w", err)
	}
	if err := checkSecurity(cfg); err != nil {
		return config{}, err
	}
	cfg.File = cfgFile.finish(cfg.LogLevel)
	return cfg, nil
}

// checkAddress accepts HOST:PORT with a numeric port (HOST may be empty).
func checkAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q of %q is not a number 0..65535", port, addr)
	}
	return nil
}
