package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/localzone"
	"github.com/clusterdns/clusterdns/frontend/internal/rewrite"
	"github.com/clusterdns/clusterdns/internal/configwatch"
	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// defaultHostsTTL is the TTL of hosts answers when the file gives none.
const defaultHostsTTL = 60 * time.Second

// configFile is the --config file (package dnsconfig's shape): the file
// sets what its fields name, and flags given on the command line override
// it. The file is re-read when its content changes (config_reload.go).
type configFile struct {
	// Path is the file (--config, default none).
	Path string
	// ReloadInterval is how often Path is read for changes
	// (--config-reload-interval, default 0: 2s).
	ReloadInterval time.Duration

	// data is the content read, local what its hosts, zones and rewrites
	// make; args is the command line, parsed again with each new content.
	data  []byte
	local *dnsserver.Local
	args  []string
	// level is the log level a reload sets (main's handler reads it);
	// nil: the level is not changed at runtime.
	level *slog.LevelVar
}

func registerConfigFlags(fs *flag.FlagSet, c *configFile) {
	fs.StringVar(&c.Path, "config", "", "YAML configuration `file`: log level, cache, upstreams (udp, tcp, tls), stub domains, hosts entries, static zones, rewrites; re-read when its content changes; flags given on the command line override it")
	fs.DurationVar(&c.ReloadInterval, "config-reload-interval", 0, "how often the --config file is read for changes (0: every 2s)")
}

// mergeConfigFile reads the --config file (data, or from disk when nil)
// into cfg, logLevel and stubs (the --stub-domain values) for every field
// whose flag was not given on the command line, and builds its hosts, zones
// and rewrites. The merged values are then checked like flags.
func mergeConfigFile(fs *flag.FlagSet, cfg *Config, logLevel *string, stubs *[]string, args []string, data []byte) error {
	c := &cfg.File
	if c.ReloadInterval < 0 {
		return fmt.Errorf("--config-reload-interval %s: must not be negative", c.ReloadInterval)
	}
	if c.Path == "" {
		return nil
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = configwatch.DefaultInterval
	}
	c.args = args
	if data == nil {
		var err error
		if data, err = os.ReadFile(c.Path); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	f, err := dnsconfig.Parse(data)
	if err != nil {
		return fmt.Errorf("--config %s: %w", c.Path, err)
	}
	c.data = data
	if c.local, err = newLocal(f); err != nil {
		return fmt.Errorf("--config %s: %w", c.Path, err)
	}
	set := make(map[string]bool)
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	str := func(name string, dst *string, v string) {
		if v != "" && !set[name] {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration, v *dnsconfig.Duration) {
		if v != nil && !set[name] {
			*dst = v.D()
		}
	}
	str("log-level", logLevel, f.LogLevel)
	str("cluster-domain", &cfg.ClusterDomain, f.ClusterDomain)
	if k := f.Cache; k != nil {
		if k.Size != nil && !set["cache-size"] {
			cfg.CacheSize = *k.Size
		}
		dur("cluster-cache-ttl", &cfg.ClusterCacheTTL, k.ClusterTTL)
		dur("cache-min-ttl", &cfg.CacheMinTTL, k.MinTTL)
		dur("cache-max-ttl", &cfg.CacheMaxTTL, k.MaxTTL)
		dur("cache-max-negative-ttl", &cfg.CacheMaxNegativeTTL, k.MaxNegativeTTL)
		dur("serve-stale", &cfg.ServeStale, k.ServeStale)
		dur("stale-ttl", &cfg.StaleTTL, k.StaleTTL)
	}
	if u := f.Upstreams; u != nil {
		str("upstream-policy", &cfg.UpstreamPolicy, u.Policy)
		dur("upstream-timeout", &cfg.UpstreamTimeout, u.Timeout)
		if len(u.Servers) > 0 && !set["upstream"] {
			cfg.Upstreams = upstreamValues(u.Servers)
		}
	}
	if f.StubDomains != nil && !set["stub-domain"] {
		*stubs = nil
		for _, sd := range f.StubDomains {
			*stubs = append(*stubs, sd.Zone+"="+strings.Join(upstreamValues(sd.Servers), ","))
		}
	}
	return nil
}

// upstreamValues writes servers the way --upstream takes them: IP:PORT,
// tcp://IP:PORT or tls://IP:PORT#NAME.
func upstreamValues(servers []dnsconfig.Server) []string {
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		ap, _ := s.AddrPort() // validated by dnsconfig.Parse
		switch s.Proto() {
		case dnsconfig.ProtocolTCP:
			out = append(out, "tcp://"+ap.String())
		case dnsconfig.ProtocolTLS:
			out = append(out, "tls://"+ap.String()+"#"+s.ServerName)
		default:
			out = append(out, ap.String())
		}
	}
	return out
}

// newLocal builds the hosts entries, static zones and rewrites of f; nil
// when it has none.
func newLocal(f *dnsconfig.Frontend) (*dnsserver.Local, error) {
	var (
		hosts    []localzone.Host
		ttl      = defaultHostsTTL
		fallthru bool
		zones    []localzone.Zone
		rules    []rewrite.Rule
	)
	if h := f.Hosts; h != nil {
		if h.TTL != nil {
			ttl = h.TTL.D()
		}
		fallthru = h.Fallthrough
		for _, e := range h.Entries {
			host := localzone.Host{Names: e.Names}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					return nil, fmt.Errorf("hosts: %w", err)
				}
				host.Addrs = append(host.Addrs, ip)
			}
			hosts = append(hosts, host)
		}
	}
	for _, z := range f.Zones {
		zones = append(zones, localzone.Zone{Origin: z.Origin, Records: z.Records})
	}
	for _, r := range f.Rewrites {
		rules = append(rules, rewrite.Rule{Match: r.Match, From: r.From, To: r.To})
	}
	if len(hosts) == 0 && len(zones) == 0 && len(rules) == 0 {
		return nil, nil
	}
	table, err := localzone.New(hosts, ttl, fallthru, zones)
	if err != nil {
		return nil, fmt.Errorf("hosts and zones: %w", err)
	}
	rw, err := rewrite.New(rules)
	if err != nil {
		return nil, fmt.Errorf("rewrites: %w", err)
	}
	return &dnsserver.Local{Table: table, Rewriter: rw}, nil
}
