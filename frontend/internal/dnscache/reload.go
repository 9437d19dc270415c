package dnscache

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// A configuration reload may change the lifetimes the cache gives answers,
// its size, and where the upstream answers come from, without emptying it:
// Reconfigure swaps the lifetime settings (they apply to answers stored from
// then on, and to serve-stale decisions at once) and moves ristretto's
// bound; DropForwarded retires the upstream answers, all of them or those
// under some zones, while the record service's answers stay.

// live returns the settings in effect (MaxBytes, the lifetimes).
func (c *Cache) live() *Config { return c.settings.Load() }

// Reconfigure applies cfg's MaxBytes, ClusterTTL, MaxTTL, MinTTL,
// MaxNegativeTTL, MaxStale and StaleTTL (zero values select the defaults,
// as with New); its other fields are ignored. A smaller MaxBytes makes
// ristretto evict down to it as new answers come in. ristretto's admission
// counters keep the number New sized for the first MaxBytes.
func (c *Cache) Reconfigure(cfg Config) error {
	cfg.Now, cfg.MaxTrackedKeys = c.cfg.Now, c.cfg.MaxTrackedKeys
	cfg = cfg.withDefaults()
	if cfg.MaxBytes < 0 {
		return fmt.Errorf("cache size %d is negative", cfg.MaxBytes)
	}
	if cfg.MaxBytes != c.live().MaxBytes {
		c.rc.UpdateMaxCost(entriesCost(cfg.MaxBytes, c.counters))
	}
	c.settings.Store(&cfg)
	return nil
}

// forwardDrop records what DropForwarded retired: upstream answers stored
// at or before seq all, or at or before zones[z] for names under zone z.
type forwardDrop struct {
	all   uint64
	zones map[string]uint64
}

// DropForwarded makes Get, Peek and GetStale ignore the upstream answers
// stored so far under zones (fully qualified, any case), or all of them
// when zones is empty: the upstreams that gave them are no longer the ones
// asked. ristretto lets them go in time. Answers of the record service are
// untouched.
func (c *Cache) DropForwarded(zones []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := c.fwdSeq.Add(1)
	old := c.fwdDrop.Load()
	next := &forwardDrop{all: old.all, zones: make(map[string]uint64, len(old.zones)+len(zones))}
	if len(zones) == 0 {
		next.all = seq
	} else {
		for z, s := range old.zones {
			if s > next.all {
				next.zones[z] = s
			}
		}
		for _, z := range zones {
			next.zones[strings.ToLower(dns.Fqdn(z))] = seq
		}
	}
	c.fwdDrop.Store(next)
}

// retired reports whether e is an upstream answer DropForwarded retired.
func (c *Cache) retired(e *entry) bool {
	if e.cluster {
		return false
	}
	d := c.fwdDrop.Load()
	if e.fwdSeq <= d.all {
		return true
	}
	if len(d.zones) == 0 {
		return false
	}
	name := strings.ToLower(e.name)
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if s, ok := d.zones[name[off:]]; ok && e.fwdSeq <= s {
			return true
		}
	}
	s, ok := d.zones["."]
	return ok && e.fwdSeq <= s
}
