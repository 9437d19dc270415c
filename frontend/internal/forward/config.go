// Package forward sends queries for names outside the cluster zone to upstream resolvers: the node's
// resolvers from /etc/resolv.conf or configured ones, and stub domains routed by longest matching suffix.
//
// Every query leaves with a new random ID from a UDP socket connected to its upstream, bound to a random
// source port chosen by the kernel and used for a few queries only (udp.go); a reply is used only when its
// ID and question match the query, so a spoofed or late datagram is ignored while the read goes on until
// the attempt's timeout, and the socket is not used again. A truncated UDP reply is retried over TCP to the
// same upstream. Upstreams may also be TCP-only or DNS over TLS (RFC 7858). TCP and TLS connections are
// kept for later queries (stream.go). Upstreams that time out are marked down and probed until they answer again.
package forward

import (
	"crypto/x509"
	"time"
)

// Selection policies for Config.Policy.
const (
	// PolicyRandom tries the healthy upstreams of a set in a random order.
	PolicyRandom = "random"
	// PolicyRoundRobin starts each query at the next healthy upstream of the set.
	PolicyRoundRobin = "round_robin"
	// PolicySequential always tries the healthy upstreams in the order they were configured.
	PolicySequential = "sequential"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultResolvConf          = "/etc/resolv.conf"
	DefaultTimeout             = 2 * time.Second
	DefaultMaxConcurrent       = 1000
	DefaultPolicy              = PolicyRandom
	DefaultHealthCheckInterval = 500 * time.Millisecond
	DefaultMaxFails            = 2
	DefaultMaxAttempts         = 3
	DefaultReloadInterval      = time.Second
	// DefaultUDPSize is the EDNS0 buffer size advertised upstream when the client sent no OPT record.
	DefaultUDPSize = 1232
)

// Config configures a Forwarder. The zero value is usable: each field documents its default.
type Config struct {
	// Upstreams are the default resolvers as "host:port" with an IP host ("[v6]:port" for IPv6); the port
	// defaults to 53 when missing. Default: the nameserver lines of ResolvConf.
	Upstreams []string

	// ResolvConf is the file read when Upstreams is empty. Default "/etc/resolv.conf".
	ResolvConf string

	// StubDomains maps a zone (e.g. "corp.example.") to the upstreams that serve it. A query goes to the
	// stub domain whose zone is the longest suffix of its name (case-insensitive). Default: none.
	StubDomains map[string][]string

	// StubDomainsFile optionally names a file of stub domains, one "zone=host:port[,host:port]" per line,
	// "#" starting a comment. It is polled every ReloadInterval and applied without restart when its content
	// changes; a file that fails to parse on reload is logged and the last good content is kept, while a bad
	// file at start makes New fail with an error naming file and line. A zone in the file overrides the same
	// zone in StubDomains. Default: none.
	StubDomainsFile string

	// ReloadInterval is how often StubDomainsFile is checked for changes. Default 1s.
	ReloadInterval time.Duration

	// Timeout bounds one attempt against one upstream (a UDP exchange, and the TCP retry after a truncated
	// reply, each get their own). Default 2s.
	Timeout time.Duration

	// MaxConcurrent bounds the upstream queries in flight; beyond it Forward returns ErrOverloaded at once
	// (the DNS handler answers REFUSED). Default 1000.
	MaxConcurrent int

	// MaxAttempts bounds the upstreams tried for one query (one attempt each), always within the caller's
	// context deadline. Default 3.
	MaxAttempts int

	// Policy orders the healthy upstreams of a set: "random" (default), "round_robin" or "sequential".
	Policy string

	// HealthCheckInterval is how often an upstream that failed (timeout or network error) is probed with a
	// ". IN NS" query; any matching reply marks it up again. Default 500ms.
	HealthCheckInterval time.Duration

	// MaxFails is the number of consecutive failed attempts (queries or probes) after which an upstream is
	// marked down and skipped while another of its set is up; when all are down they are tried anyway.
	// Default 2.
	MaxFails int

	// TLSRootCAs verify the certificates of DNS-over-TLS upstreams. Default: the system's roots (on Linux
	// SSL_CERT_FILE and SSL_CERT_DIR name other ones).
	TLSRootCAs *x509.CertPool

	// Metrics, when set, receives upstream latency, errors, overload refusals and health state. Default:
	// none (see NewMetrics).
	Metrics *Metrics
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	if c.ReloadInterval <= 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Policy == "" {
		c.Policy = DefaultPolicy
	}
	if c.HealthCheckInterval <= 0 {
		c.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if c.MaxFails <= 0 {
		c.MaxFails = DefaultMaxFails
	}
	return c
}
