// Package dnsconfig is the frontend's configuration file: its Go types, a strict YAML parser, validation
// whose errors name the field (upstreams.servers[2].serverName), and the writer clusterdnsctl uses to emit
// it. Every field is optional: an absent one means "the command-line flag's value", so pointers and nil
// slices keep "absent" apart from "zero".
package dnsconfig

import (
	"encoding/json"
	"fmt"
	"time"
)

// Protocols of Server.Protocol.
const (
	// ProtocolUDP sends the query over UDP and retries over TCP when the reply is truncated (the default).
	ProtocolUDP = "udp"
	// ProtocolTCP sends the query over TCP only.
	ProtocolTCP = "tcp"
	// ProtocolTLS is DNS over TLS (RFC 7858); Server.ServerName is the name the certificate must carry.
	ProtocolTLS = "tls"
)

// Rewrite matches of Rewrite.Match.
const (
	MatchExact     = "exact"
	MatchPrefix    = "prefix"
	MatchSuffix    = "suffix"
	MatchSubstring = "substring"
	MatchRegex     = "regex"
)

// Frontend is the whole configuration file of the DNS frontend.
type Frontend struct {
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"logLevel,omitempty"`
	// ClusterDomain is the cluster zone; it is read at start only.
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// Cache bounds the response cache and the lifetimes of its answers.
	Cache *Cache `json:"cache,omitempty"`
	// Upstreams resolve names outside the cluster zone (absent: the flags, then resolv.conf).
	Upstreams *Upstreams `json:"upstreams,omitempty"`
	// StubDomains route a zone to its own servers.
	StubDomains []StubDomain `json:"stubDomains,omitempty"`
	// Hosts are hosts-file entries answered by the frontend itself.
	Hosts *Hosts `json:"hosts,omitempty"`
	// Zones are static authoritative zones answered by the frontend itself.
	Zones []Zone `json:"zones,omitempty"`
	// Rewrites change the question name before resolution.
	Rewrites []Rewrite `json:"rewrites,omitempty"`
}

// Cache mirrors the --cache-* flags, --cluster-cache-ttl, --serve-stale and --stale-ttl.
type Cache struct {
	// Size is the cache size in bytes; 0 disables the cache.
	Size           *int64    `json:"size,omitempty"`
	ClusterTTL     *Duration `json:"clusterTTL,omitempty"`
	MinTTL         *Duration `json:"minTTL,omitempty"`
	MaxTTL         *Duration `json:"maxTTL,omitempty"`
	MaxNegativeTTL *Duration `json:"maxNegativeTTL,omitempty"`
	ServeStale     *Duration `json:"serveStale,omitempty"`
	StaleTTL       *Duration `json:"staleTTL,omitempty"`
}

// Upstreams are the default resolvers and how they are tried.
type Upstreams struct {
	// Policy is random, round_robin or sequential.
	Policy string `json:"policy,omitempty"`
	// Timeout bounds one attempt against one server.
	Timeout *Duration `json:"timeout,omitempty"`
	// Servers are tried according to Policy.
	Servers []Server `json:"servers,omitempty"`
}

// Server is one upstream resolver.
type Server struct {
	// Address is IP or IP:PORT ([IPv6]:PORT); the port defaults to 53, or 853 for tls.
	Address string `json:"address"`
	// Protocol is udp (default), tcp or tls.
	Protocol string `json:"protocol,omitempty"`
	// ServerName is the name the server's certificate must carry; required for tls, refused otherwise.
	ServerName string `json:"serverName,omitempty"`
}

// StubDomain sends the names of Zone (and below) to Servers.
type StubDomain struct {
	Zone    string   `json:"zone"`
	Servers []Server `json:"servers"`
}

// Hosts are hosts-file entries.
type Hosts struct {
	// TTL of the answers (default 60s when absent).
	TTL *Duration `json:"ttl,omitempty"`
	// Fallthrough sends names of the entries' zones that have no entry on to normal resolution.
	Fallthrough bool `json:"fallthrough,omitempty"`
	// Entries map addresses to names.
	Entries []HostEntry `json:"entries,omitempty"`
}

// HostEntry is one hosts-file line: addresses and the names they answer for.
type HostEntry struct {
	Addresses []string `json:"addresses"`
	Names     []string `json:"names"`
}

// Zone is a static authoritative zone in RFC 1035 master-file text; it must have an SOA at Origin.
type Zone struct {
	Origin  string `json:"origin"`
	Records string `json:"records"`
}

// Rewrite changes a question name matching From into To; answers carry the asked name again.
type Rewrite struct {
	// Match is exact, prefix, suffix, substring or regex ($1.. of the regex in To).
	Match string `json:"match"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Duration is a time.Duration written as a Go duration string ("90s", "1h30m").
type Duration time.Duration

// D returns the duration, 0 for a nil pointer.
func (d *Duration) D() time.Duration {
	if d == nil {
		return 0
	}
	return time.Duration(*d)
}

// NewDuration returns a pointer to d as a Duration, for building a Frontend in code.
func NewDuration(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string; a bare number is refused because its unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration %s: want a string such as \"30s\" or \"1h\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}
