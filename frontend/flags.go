package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	"github.com/clusterdns/clusterdns/internal/mtls"
)

// Config is the frontend's configuration, one field per flag.
type Config struct {
	// Listen is the DNS address, UDP and TCP (--listen, default
	// 127.0.0.1:1053).
	Listen string
	// RecordService is the record service gRPC target: HOST:PORT, a
	// comma-separated list of replicas HOST:PORT,HOST:PORT, or
	// dns:///NAME:PORT for the replicas behind a headless Service
	// (--recordsvc, default 127.0.0.1:9090). The frontend follows one
	// replica at a time, picked at random, and fails over to another when it
	// becomes unreachable.
	RecordService string
	// RecordServiceTLS are the frontend's client certificate and key and
	// the CA bundle the record service's certificate is verified against
	// (--recordsvc-tls-cert, --recordsvc-tls-key, --recordsvc-tls-ca),
	// reloaded when they change. All empty: plaintext. CA alone: TLS
	// without a client certificate.
	RecordServiceTLS mtls.Files
	// RecordServiceServerName is the name the record service's certificate
	// must be valid for (--recordsvc-tls-server-name, default: the host of
	// --recordsvc).
	RecordServiceServerName string
	// ClusterDomain is the cluster zone (--cluster-domain, default
	// cluster.local).
	ClusterDomain string
	// CacheSize bounds the response cache in bytes; 0 disables the cache
	// (--cache-size, default 67108864 = 64 MiB).
	CacheSize int64
	// ClusterCacheTTL is how long a cluster answer stays cached while the
	// record service's invalidation stream keeps it exact, when longer than
	// its record TTL; 0 keeps cluster answers for their record TTL only
	// (--cluster-cache-ttl, default 5m).
	ClusterCacheTTL time.Duration
	// ServeStale is how long past their life cached answers may still be
	// served (RFC 8767) while the record service or the upstreams fail; 0
	// disables serve-stale (--serve-stale, default 1h).
	ServeStale time.Duration
	// StaleTTL is the TTL of the records of a stale answer, whole seconds
	// (--stale-ttl, default 30s).
	StaleTTL time.Duration
	// MetricsListen is the HTTP address of /metrics, /health and /ready;
	// empty turns it off (--metrics-listen, default "").
	MetricsListen string
	// Pprof adds Go's /debug/pprof/ handlers to the metrics listener
	// (--pprof, default false).
	Pprof bool
	// Version asks for the version line on standard output and nothing
	// else (--version); the other flags are not checked then.
	Version bool
	// LogLevel is debug, info, warn or error (--log-level, default info).
	LogLevel slog.Level
	// LookupTimeout bounds each record service call (--lookup-timeout,
	// default 2s).
	LookupTimeout time.Duration
	// Zone is the topology zone of this frontend's clients (--zone, default
	// unknown): a node-local frontend's own node's zone, sent with every
	// lookup for zone-aware answers.
	Zone string
	// LogFormat is text or json (--log-format, default text).
	LogFormat string
	// QueryLog logs one line per query (--query-log, default off).
	QueryLog bool

	// Upstreams are the resolvers of names outside the cluster zone, as
	// IP:PORT (--upstream, repeatable; default: the nameservers of
	// ResolvConf, port 53).
	Upstreams []string
	// ResolvConf is read for upstreams when --upstream is not given
	// (--resolv-conf, default /etc/resolv.conf). When the default file is
	// missing or lists no nameserver, forwarding is off (names outside the
	// cluster zone get REFUSED) and a warning says so.
	ResolvConf string
	// StubDomains route a zone to its own upstreams (--stub-domain
	// ZONE=HOST:PORT[,HOST:PORT], repeatable; default none).
	StubDomains map[string][]string
	// StubDomainsFile holds more stub domains, one ZONE=HOST:PORT[,...] per
	// line, re-read when it changes (--stub-domains-file, default none).
	StubDomainsFile string
	// MaxConcurrentUpstream bounds the upstream queries in flight; beyond it
	// queries get REFUSED (--max-concurrent-upstream, default 1000).
	MaxConcurrentUpstream int
	// MaxConcurrentMisses bounds the record-service lookups and upstream
	// queries in flight; beyond it queries are answered stale or REFUSED
	// (--max-concurrent-misses, default 1000).
	MaxConcurrentMisses int
	// UpstreamPolicy orders the upstreams tried: random, round_robin or
	// sequential (--upstream-policy, default random).
	UpstreamPolicy string
	// UpstreamTimeout bounds one attempt against one upstream
	// (--upstream-timeout, default 2s).
	UpstreamTimeout time.Duration

	// CacheMaxTTL caps how long a positive upstream answer is cached
	// (--cache-max-ttl, default 1h).
	CacheMaxTTL time.Duration
	// CacheMinTTL is the least time an upstream answer is cached
	// (--cache-min-ttl, default 0s).
	CacheMinTTL time.Duration
	// CacheMaxNegativeTTL caps how long a negative upstream answer is cached
	// (--cache-max-negative-ttl, default 30m).
	CacheMaxNegativeTTL time.Duration

	// EDNSBufferSize is the UDP payload size advertised in responses
	// (--edns-buffer-size, default 1232).
	EDNSBufferSize uint16
	// MaxUDPSize caps the client's advertised UDP payload size
	// (--max-udp-size, default 4096).
	MaxUDPSize uint16
	// TCPIdleTimeout closes idle DNS TCP connections (--tcp-idle-timeout,
	// default 10s).
	TCPIdleTimeout time.Duration
	// MaxTCPConnections bounds the open DNS TCP connections
	// (--max-tcp-connections, default 1000).
	MaxTCPConnections int
	// MaxTCPConnectionsPerIP bounds the open DNS TCP connections of one
	// client address (--max-tcp-connections-per-ip, default 100).
	MaxTCPConnectionsPerIP int
	// UDPSockets is how many UDP sockets serve --listen, bound with
	// SO_REUSEPORT, each with its own read loop (--udp-sockets, default 0:
	// one per GOMAXPROCS).
	UDPSockets int
	// MaxTCPQueries is how many queries a TCP connection may send before it
	// is closed, -1 for no limit (--max-tcp-queries, default 128).
	MaxTCPQueries int

	// Lameduck is how long the frontend keeps answering, with /ready
	// reporting 503, after SIGTERM before it drains and exits (--lameduck,
	// default 5s).
	Lameduck time.Duration
	// NodeLocal is the node-local mode (--node-local-*; nodelocal.go).
	NodeLocal nodeLocalConfig
	// File is the configuration file (--config; config.go).
	File configFile

	// ReadyFailOpen is how long the record service may stay unreachable
	// before /ready reports ready again anyway (--ready-fail-open, default
	// 30s; 0 never). A short outage is one frontend's: traffic should move
	// to its peers. A long one is everyone's, and then every frontend
	// unready would leave the kube-dns Service without endpoints, losing
	// cached and external answers too.
	ReadyFailOpen time.Duration
}

// listFlag is a repeatable string flag.
type listFlag struct{ values *[]string }

func (f listFlag) String() string {
	if f.values == nil {
		return ""
	}
	return strings.Join(*f.values, ",")
}

func (f listFlag) Set(v string) error {
	*f.values = append(*f.values, v)
	return nil
}

// parseFlags parses the command line (without the program name). Usage and
// errors go to out. A bad value is an error naming its flag.
func parseFlags(args []string, out io.Writer) (Config, error) {
	return parseFlagsFile(args, out, nil)
}

// parseFlagsFile is parseFlags with file as the content of --config (nil:
// read it); a configuration reload passes the content it read (config.go).
func parseFlagsFile(args []string, out io.Writer, file []byte) (Config, error) {
	fs := flag.NewFlagSet("frontend", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: frontend [flags]\n\nclusterdns DNS frontend: answers the cluster zone through the record service and forwards other names\nto upstream resolvers, with a cache.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var (
		cfg      Config
		logLevel string
		stubs    []string
		ednsSize uint
		maxUDP   uint
	)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:1053", "DNS listen address, UDP and TCP (HOST:PORT)")
	fs.StringVar(&cfg.RecordService, "recordsvc", "127.0.0.1:9090", "record service gRPC target: HOST:PORT, a list of replicas HOST:PORT,HOST:PORT, or dns:///NAME:PORT for the replicas behind a headless Service")
	fs.StringVar(&cfg.RecordServiceTLS.Cert, "recordsvc-tls-cert", "", "PEM client certificate `file` presented to the record service (mutual TLS; needs --recordsvc-tls-key and --recordsvc-tls-ca; reloaded when it changes)")
	fs.StringVar(&cfg.RecordServiceTLS.Key, "recordsvc-tls-key", "", "PEM private key `file` of --recordsvc-tls-cert (reloaded when it changes)")
	fs.StringVar(&cfg.RecordServiceTLS.CA, "recordsvc-tls-ca", "", "PEM `file` of the CAs the record service's certificate must be issued by; turns TLS on (reloaded when it changes)")
	fs.StringVar(&cfg.RecordServiceServerName, "recordsvc-tls-server-name", "", "name the record service's certificate must be valid for (default: the host of --recordsvc)")
	fs.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "cluster DNS zone")
	fs.Int64Var(&cfg.CacheSize, "cache-size", 64<<20, "response cache size in bytes (0 disables the cache)")
	fs.DurationVar(&cfg.ClusterCacheTTL, "cluster-cache-ttl", 5*time.Minute, "how long cluster answers kept exact by record service invalidations stay cached (0: record TTL only)")
	fs.DurationVar(&cfg.ServeStale, "serve-stale", time.Hour, "serve cached answers up to this long past their life, with --stale-ttl, while the record service or the upstreams fail (RFC 8767; 0 disables)")
	fs.DurationVar(&cfg.StaleTTL, "stale-ttl", 30*time.Second, "TTL of the records of a stale answer (whole seconds, 1s or more)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "HTTP address for /metrics, /health and /ready (empty: off)")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "also serve Go's /debug/pprof/ profiles on the --metrics-listen address")
	fs.BoolVar(&cfg.Version, "version", false, "print the version, commit and Go version, and exit")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&cfg.LookupTimeout, "lookup-timeout", 2*time.Second, "deadline of each record service lookup")
	fs.StringVar(&cfg.Zone, "zone", "", "topology zone of this frontend's clients (node-local: its node's topology.kubernetes.io/zone), sent with lookups for zone-aware answers")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&cfg.QueryLog, "query-log", false, "log one line per query (name, type, client, rcode, duration, cache hit)")
	fs.Var(listFlag{&cfg.Upstreams}, "upstream", "upstream resolver for names outside the cluster zone, IP:PORT (repeatable; default: nameservers of --resolv-conf)")
	fs.StringVar(&cfg.ResolvConf, "resolv-conf", forward.DefaultResolvConf, "file whose nameservers are the upstreams when --upstream is not given")
	fs.Var(listFlag{&stubs}, "stub-domain", "zone served by its own upstreams, ZONE=HOST:PORT[,HOST:PORT] (repeatable)")
	fs.StringVar(&cfg.StubDomainsFile, "stub-domains-file", "", "file of stub domains, one ZONE=HOST:PORT[,HOST:PORT] per line, reloaded when it changes")
	fs.IntVar(&cfg.MaxConcurrentUpstream, "max-concurrent-upstream", forward.DefaultMaxConcurrent, "upstream queries in flight at most; beyond it queries get REFUSED")
	fs.IntVar(&cfg.MaxConcurrentMisses, "max-concurrent-misses", 1000, "record service lookups and upstream queries in flight at most (identical cluster questions share one); beyond it queries are answered stale or REFUSED")
	fs.StringVar(&cfg.UpstreamPolicy, "upstream-policy", forward.DefaultPolicy, "order in which upstreams are tried: random, round_robin or sequential")
	fs.DurationVar(&cfg.UpstreamTimeout, "upstream-timeout", forward.DefaultTimeout, "deadline of one attempt against one upstream")
	fs.DurationVar(&cfg.CacheMaxTTL, "cache-max-ttl", time.Hour, "longest time a positive upstream answer is cached")
	fs.DurationVar(&cfg.CacheMinTTL, "cache-min-ttl", 0, "least time an upstream answer is cached (records with TTL 0 are never cached)")
	fs.DurationVar(&cfg.CacheMaxNegativeTTL, "cache-max-negative-ttl", 30*time.Minute, "longest time a negative upstream answer (NXDOMAIN, NODATA) is cached")
	fs.UintVar(&ednsSize, "edns-buffer-size", 1232, "UDP payload size advertised in the EDNS0 OPT record of responses (512-65535)")
	fs.UintVar(&maxUDP, "max-udp-size", 4096, "largest UDP response, whatever size the client advertises (512-65535)")
	fs.DurationVar(&cfg.TCPIdleTimeout, "tcp-idle-timeout", 10*time.Second, "close DNS TCP connections idle for this long")
	fs.IntVar(&cfg.MaxTCPConnections, "max-tcp-connections", 1000, "DNS TCP connections open at most; more are closed at once")
	fs.IntVar(&cfg.MaxTCPConnectionsPerIP, "max-tcp-connections-per-ip", 100, "DNS TCP connections open at most from one client address; more are closed at once")
	fs.IntVar(&cfg.MaxTCPQueries, "max-tcp-queries", 128, "queries one DNS TCP connection may send before it is closed (-1: no limit)")
	fs.IntVar(&cfg.UDPSockets, "udp-sockets", 0, "UDP sockets bound to --listen with SO_REUSEPORT, each with its own read loop (0: one per GOMAXPROCS)")
	fs.DurationVar(&cfg.ReadyFailOpen, "ready-fail-open", 30*time.Second, "report ready again after the record service has been unreachable this long, so a cluster-wide outage keeps cached and external answers reachable (0: never)")
	fs.DurationVar(&cfg.Lameduck, "lameduck", 5*time.Second, "after SIGTERM, keep answering this long with /ready failing, then drain and exit")
	registerNodeLocalFlags(fs, &cfg.NodeLocal)
	registerConfigFlags(fs, &cfg.File)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.Version {
		return Config{Version: true}, nil
	}
	if err := mergeConfigFile(fs, &cfg, &logLevel, &stubs, args, file); err != nil {
		return Config{}, err
	}
	if err := checkHostPort(cfg.Listen); err != nil {
		return Config{}, fmt.Errorf("--listen %q: %w", cfg.Listen, err)
	}
	if err := checkTarget(cfg.RecordService); err != nil {
		return Config{}, fmt.Errorf("--recordsvc %q: %w", cfg.RecordService, err)
	}
	if err := checkRecordServiceTLS(&cfg); err != nil {
		return Config{}, err
	}
	if _, ok := dns.IsDomainName(cfg.ClusterDomain); !ok || dns.Fqdn(cfg.ClusterDomain) == "." {
		return Config{}, fmt.Errorf("--cluster-domain %q: not a domain name below the root", cfg.ClusterDomain)
	}
	cfg.ClusterDomain = strings.TrimSuffix(strings.ToLower(cfg.ClusterDomain), ".")
	if cfg.CacheSize < 0 {
		return Config{}, fmt.Errorf("--cache-size %d: must be 0 or more bytes", cfg.CacheSize)
	}
	if cfg.ClusterCacheTTL < 0 {
		return Config{}, fmt.Errorf("--cluster-cache-ttl %s: must not be negative", cfg.ClusterCacheTTL)
	}
	if cfg.ServeStale < 0 {
		return Config{}, fmt.Errorf("--serve-stale %s: must not be negative (0 disables)", cfg.ServeStale)
	}
	if cfg.StaleTTL < time.Second || cfg.StaleTTL%time.Second != 0 {
		return Config{}, fmt.Errorf("--stale-ttl %s: want whole seconds, 1s or more", cfg.StaleTTL)
	}
	if cfg.MetricsListen != "" {
		if err := checkHostPort(cfg.MetricsListen); err != nil {
			return Config{}, fmt.Errorf("--metrics-listen %q: %w", cfg.MetricsListen, err)
		}
	}
	if cfg.Pprof && cfg.MetricsListen == "" {
		return Config{}, errors.New("--pprof: needs --metrics-listen (the profiles are served there)")
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return Config{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	if cfg.LookupTimeout <= 0 {
		return Config{}, fmt.Errorf("--lookup-timeout %s: must be positive", cfg.LookupTimeout)
	}
	if err := checkZone(cfg.Zone); err != nil {
		return Config{}, fmt.Errorf("--zone %q: %w", cfg.Zone, err)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return Config{}, fmt.Errorf("--log-format %q: want text or json", cfg.LogFormat)
	}
	if err := checkForwarding(&cfg, stubs); err != nil {
		return Config{}, err
	}
	if err := checkCacheTTLs(cfg); err != nil {
		return Config{}, err
	}
	if ednsSize < dns.MinMsgSize || ednsSize > dns.MaxMsgSize {
		return Config{}, fmt.Errorf("--edns-buffer-size %d: want 512 to 65535", ednsSize)
	}
	if maxUDP < dns.MinMsgSize || maxUDP > dns.MaxMsgSize {
		return Config{}, fmt.Errorf("--max-udp-size %d: want 512 to 65535", maxUDP)
	}
	cfg.EDNSBufferSize, cfg.MaxUDPSize = uint16(ednsSize), uint16(maxUDP)
	if cfg.TCPIdleTimeout <= 0 {
		return Config{}, fmt.Errorf("--tcp-idle-timeout %s: must be positive", cfg.TCPIdleTimeout)
	}
	if cfg.MaxTCPConnections <= 0 {
		return Config{}, fmt.Errorf("--max-tcp-connections %d: must be positive", cfg.MaxTCPConnections)
	}
	if cfg.MaxTCPConnectionsPerIP <= 0 {
		return Config{}, fmt.Errorf("--max-tcp-connections-per-ip %d: must be positive", cfg.MaxTCPConnectionsPerIP)
	}
	if cfg.MaxTCPQueries == 0 || cfg.MaxTCPQueries < -1 {
		return Config{}, fmt.Errorf("--max-tcp-queries %d: must be positive, or -1 for no limit", cfg.MaxTCPQueries)
	}
	if cfg.UDPSockets < 0 {
		return Config{}, fmt.Errorf("--udp-sockets %d: must not be negative", cfg.UDPSockets)
	}
	if cfg.ReadyFailOpen < 0 {
		return Config{}, fmt.Errorf("--ready-fail-open %s: must not be negative", cfg.ReadyFailOpen)
	}
	if cfg.Lameduck < 0 {
		return Config{}, fmt.Errorf("--lameduck %s: must not be negative", cfg.Lameduck)
	}
	if err := checkNodeLocal(&cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// checkForwarding validates and normalises the upstream flags; stubs are
// the --stub-domain values.
func checkForwarding(cfg *Config, stubs []string) error {
	for i, u := range cfg.Upstreams {
		a, err := forward.ParseUpstream(u)
		if err != nil {
			return fmt.Errorf("--upstream: %w", err)
		}
		cfg.Upstreams[i] = a
	}
	if cfg.ResolvConf == "" {
		return errors.New("--resolv-conf: empty path")
	}
	for _, s := range stubs {
		zone, ups, err := forward.ParseStubDomain(s)
		if err != nil {
			return fmt.Errorf("--stub-domain: %w", err)
		}
		if _, dup := cfg.StubDomains[zone]; dup {
			return fmt.Errorf("--stub-domain %q: zone %s given twice", s, zone)
		}
		if cfg.StubDomains == nil {
			cfg.StubDomains = make(map[string][]string)
		}
		cfg.StubDomains[zone] = ups
	}
	if cfg.MaxConcurrentUpstream <= 0 {
		return fmt.Errorf("--max-concurrent-upstream %d: must be positive", cfg.MaxConcurrentUpstream)
	}
	if cfg.MaxConcurrentMisses <= 0 {
		return fmt.Errorf("--max-concurrent-misses %d: must be positive", cfg.MaxConcurrentMisses)
	}
	switch cfg.UpstreamPolicy {
	case forward.PolicyRandom, forward.PolicyRoundRobin, forward.PolicySequential:
	default:
		return fmt.Errorf("--upstream-policy %q: want %s, %s or %s", cfg.UpstreamPolicy,
			forward.PolicyRandom, forward.PolicyRoundRobin, forward.PolicySequential)
	}
	if cfg.UpstreamTimeout <= 0 {
		return fmt.Errorf("--upstream-timeout %s: must be positive", cfg.UpstreamTimeout)
	}
	return nil
}

// checkRecordServiceTLS validates the --recordsvc-tls-* flags: a
// certificate and its key come together, TLS needs the CA, the files must
// be readable, and the server name defaults to the host of --recordsvc.
func checkRecordServiceTLS(cfg *Config) error {
	f := cfg.RecordServiceTLS
	switch {
	case (f.Cert == "") != (f.Key == ""):
		return errors.New("--recordsvc-tls-cert and --recordsvc-tls-key: give both or neither")
	case f.Cert != "" && f.CA == "":
		return errors.New("--recordsvc-tls-ca: needed with --recordsvc-tls-cert (the record service's certificate is verified against it)")
	case f.CA == "" && cfg.RecordServiceServerName != "":
		return errors.New("--recordsvc-tls-server-name: needs --recordsvc-tls-ca (TLS is off without it)")
	case f.CA == "":
		return nil
	}
	for _, file := range []struct{ flag, path string }{
		{"--recordsvc-tls-cert", f.Cert}, {"--recordsvc-tls-key", f.Key}, {"--recordsvc-tls-ca", f.CA},
	} {
		if file.path == "" {
			continue
		}
		fh, err := os.Open(file.path)
		if err != nil {
			return fmt.Errorf("%s: %w", file.flag, err)
		}
		_ = fh.Close()
	}
	// Their content too, so that a wrong file stops the start here, with
	// the flag named, rather than at the first connection.
	if f.Cert != "" {
		if _, err := tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
			return fmt.Errorf("--recordsvc-tls-cert %s, --recordsvc-tls-key %s: %w", f.Cert, f.Key, err)
		}
	}
	if pem, err := os.ReadFile(f.CA); err != nil || !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("--recordsvc-tls-ca %s: no PEM certificate in it (%v)", f.CA, err)
	}
	if cfg.RecordServiceServerName == "" {
		name, err := targetHost(cfg.RecordService)
		if err != nil {
			return fmt.Errorf("--recordsvc-tls-server-name: not given, and no host in --recordsvc %q: %w", cfg.RecordService, err)
		}
		cfg.RecordServiceServerName = name
	}
	return nil
}

// targetHost is the host of a record service target: of HOST:PORT, of the
// first replica of a list, or of the endpoint of a gRPC target URI.
func targetHost(target string) (string, error) {
	addr := target
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = strings.TrimPrefix(addr[i+3:], "/")
		if j := strings.LastIndex(addr, "/"); j >= 0 {
			addr = addr[j+1:]
		}
	}
	addr, _, _ = strings.Cut(addr, ",")
	host, _, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return "", err
	}
	if host == "" {
		return "", errors.New("host is empty")
	}
	return host, nil
}

// checkCacheTTLs validates the cache TTL bounds.
func checkCacheTTLs(cfg Config) error {
	switch {
	case cfg.CacheMaxTTL < time.Second:
		return fmt.Errorf("--cache-max-ttl %s: must be 1s or more", cfg.CacheMaxTTL)
	case cfg.CacheMaxNegativeTTL < time.Second:
		return fmt.Errorf("--cache-max-negative-ttl %s: must be 1s or more", cfg.CacheMaxNegativeTTL)
	case cfg.CacheMinTTL < 0:
		return fmt.Errorf("--cache-min-ttl %s: must not be negative", cfg.CacheMinTTL)
	case cfg.CacheMinTTL > cfg.CacheMaxTTL:
		return fmt.Errorf("--cache-min-ttl %s: above --cache-max-ttl %s", cfg.CacheMinTTL, cfg.CacheMaxTTL)
	}
	return nil
}

// checkHostPort accepts HOST:PORT with a numeric port (HOST may be empty).
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// checkTarget accepts HOST:PORT, a comma-separated list of them, or a gRPC
// target URI (scheme:///endpoint).
func checkTarget(s string) error {
	if _, isList, err := recordclient.ReplicaList(s); isList || err != nil {
		return err
	}
	if !strings.Contains(s, "://") {
		if err := checkHostPort(s); err != nil {
			return err
		}
		if host, _, _ := net.SplitHostPort(s); host == "" {
			return errors.New("host is empty")
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme == "" || (u.Path == "" && u.Opaque == "") || u.Path == "/" {
		return errors.New("want SCHEME:///NAME:PORT, such as dns:///recordsvc.kube-system.svc:9090")
	}
	return nil
}
