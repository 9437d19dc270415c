package dnsconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Validate checks every field and returns all problems found, each naming its field the way the file
// spells it ("upstreams.servers[2].serverName: required for protocol tls").
func (f *Frontend) Validate() error {
	v := &validator{}
	if f.LogLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(f.LogLevel)); err != nil {
			v.addf("logLevel", "%q: want debug, info, warn or error", f.LogLevel)
		}
	}
	if f.ClusterDomain != "" {
		if _, ok := dns.IsDomainName(f.ClusterDomain); !ok || dns.Fqdn(f.ClusterDomain) == "." {
			v.addf("clusterDomain", "%q: not a domain name below the root", f.ClusterDomain)
		}
	}
	if f.Cache != nil {
		v.cache(f.Cache)
	}
	if u := f.Upstreams; u != nil {
		switch u.Policy {
		case "", "random", "round_robin", "sequential":
		default:
			v.addf("upstreams.policy", "%q: want random, round_robin or sequential", u.Policy)
		}
		if u.Timeout != nil && u.Timeout.D() <= 0 {
			v.addf("upstreams.timeout", "%s: must be positive", u.Timeout.D())
		}
		v.servers("upstreams.servers", u.Servers, false)
	}
	zones := make(map[string]int)
	for i, s := range f.StubDomains {
		field := fmt.Sprintf("stubDomains[%d]", i)
		if z, ok := v.name(field+".zone", s.Zone); ok {
			if j, dup := zones[z]; dup {
				v.addf(field+".zone", "%s is also stubDomains[%d]", z, j)
			}
			zones[z] = i
		}
		v.servers(field+".servers", s.Servers, true)
	}
	if f.Hosts != nil {
		v.hosts(f.Hosts)
	}
	origins := make(map[string]int)
	for i, z := range f.Zones {
		field := fmt.Sprintf("zones[%d]", i)
		origin, ok := v.name(field+".origin", z.Origin)
		if !ok {
			continue
		}
		if j, dup := origins[origin]; dup {
			v.addf(field+".origin", "%s is also zones[%d]", origin, j)
		}
		origins[origin] = i
		if err := CheckZone(origin, z.Records); err != nil {
			v.addf(field+".records", "%v", err)
		}
	}
	for i, r := range f.Rewrites {
		v.rewrite(fmt.Sprintf("rewrites[%d]", i), r)
	}
	return errors.Join(v.errs...)
}

// validator collects the problems of one Validate call.
type validator struct{ errs []error }

func (v *validator) addf(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// name checks a domain name field and returns it lower-cased and fully qualified.
func (v *validator) name(field, s string) (string, bool) {
	if strings.TrimSpace(s) == "" {
		v.addf(field, "required")
		return "", false
	}
	if _, ok := dns.IsDomainName(s); !ok {
		v.addf(field, "%q: not a domain name", s)
		return "", false
	}
	return strings.ToLower(dns.Fqdn(s)), true
}

func (v *validator) cache(c *Cache) {
	if c.Size != nil && *c.Size < 0 {
		v.addf("cache.size", "%d: must be 0 or more bytes", *c.Size)
	}
	for _, d := range []struct {
		field string
		d     *Duration
		min   time.Duration
	}{
		{"cache.clusterTTL", c.ClusterTTL, 0},
		{"cache.minTTL", c.MinTTL, 0},
		{"cache.maxTTL", c.MaxTTL, time.Second},
		{"cache.maxNegativeTTL", c.MaxNegativeTTL, time.Second},
		{"cache.serveStale", c.ServeStale, 0},
		{"cache.staleTTL", c.StaleTTL, time.Second},
	} {
		if d.d != nil && d.d.D() < d.min {
			v.addf(d.field, "%s: must be %s or more", d.d.D(), d.min)
		}
	}
	if c.StaleTTL != nil && c.StaleTTL.D()%time.Second != 0 {
		v.addf("cache.staleTTL", "%s: want whole seconds", c.StaleTTL.D())
	}
	if c.MinTTL != nil && c.MaxTTL != nil && c.MinTTL.D() > c.MaxTTL.D() {
		v.addf("cache.minTTL", "%s: above cache.maxTTL %s", c.MinTTL.D(), c.MaxTTL.D())
	}
}

// servers checks a server list; required says whether it may be empty.
func (v *validator) servers(field string, list []Server, required bool) {
	if required && len(list) == 0 {
		v.addf(field, "at least one server is required")
	}
	seen := make(map[string]int)
	for i, s := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch s.Protocol {
		case "", ProtocolUDP, ProtocolTCP:
			if s.ServerName != "" {
				v.addf(f+".serverName", "only for protocol tls (protocol is %s)", s.Proto())
			}
		case ProtocolTLS:
			if s.ServerName == "" {
				v.addf(f+".serverName", "required for protocol tls")
			} else if _, ok := dns.IsDomainName(s.ServerName); !ok {
				v.addf(f+".serverName", "%q: not a host name", s.ServerName)
			}
		default:
			v.addf(f+".protocol", "%q: want udp, tcp or tls", s.Protocol)
		}
		ap, err := s.AddrPort()
		if err != nil {
			v.addf(f+".address", "%v", err)
			continue
		}
		key := s.Proto() + "://" + ap.String()
		if j, dup := seen[key]; dup {
			v.addf(f+".address", "%s is also %s[%d]", key, field, j)
		}
		seen[key] = i
	}
}

func (v *validator) hosts(h *Hosts) {
	if h.TTL != nil && h.TTL.D() < time.Second {
		v.addf("hosts.ttl", "%s: must be 1s or more", h.TTL.D())
	}
	for i, e := range h.Entries {
		field := fmt.Sprintf("hosts.entries[%d]", i)
		if len(e.Addresses) == 0 {
			v.addf(field+".addresses", "at least one address is required")
		}
		for j, a := range e.Addresses {
			if _, err := netip.ParseAddr(a); err != nil || strings.Contains(a, "%") {
				v.addf(fmt.Sprintf("%s.addresses[%d]", field, j), "%q: not an IP address", a)
			}
		}
		if len(e.Names) == 0 {
			v.addf(field+".names", "at least one name is required")
		}
		for j, n := range e.Names {
			v.name(fmt.Sprintf("%s.names[%d]", field, j), n)
		}
	}
}

func (v *validator) rewrite(field string, r Rewrite) {
	switch r.Match {
	case MatchExact, MatchPrefix, MatchSuffix, MatchSubstring:
		if r.From == "" {
			v.addf(field+".from", "required")
		}
	case MatchRegex:
		if _, err := regexp.Compile(r.From); err != nil {
			v.addf(field+".from", "%v", err)
		} else if r.From == "" {
			v.addf(field+".from", "required")
		}
	case "":
		v.addf(field+".match", "required: exact, prefix, suffix, substring or regex")
	default:
		v.addf(field+".match", "%q: want exact, prefix, suffix, substring or regex", r.Match)
	}
	if r.To == "" {
		v.addf(field+".to", "required")
	}
	if r.Match == MatchExact && r.To != "" {
		if _, ok := dns.IsDomainName(r.To); !ok {
			v.addf(field+".to", "%q: not a domain name", r.To)
		}
	}
}

// CheckZone parses master-file text relative to origin (fully qualified) and checks that every record is
// at or below origin and that there is exactly one SOA, at origin. Errors name the line.
func CheckZone(origin, records string) error {
	zp := dns.NewZoneParser(strings.NewReader(records), origin, "")
	zp.SetIncludeAllowed(false)
	soas := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := rr.Header().Name
		if !dns.IsSubDomain(origin, name) {
			return fmt.Errorf("%s %s: outside the zone %s", name, dns.TypeToString[rr.Header().Rrtype], origin)
		}
		if rr.Header().Rrtype == dns.TypeSOA {
			if !strings.EqualFold(name, origin) {
				return fmt.Errorf("SOA at %s: must be at the origin %s", name, origin)
			}
			soas++
		}
	}
	if err := zp.Err(); err != nil {
		return err
	}
	if soas != 1 {
		return fmt.Errorf("want exactly one SOA at %s, found %d", origin, soas)
	}
	return nil
}
