package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// cache maps the cache plugin onto the frontend's one cache: TTL caps,
// minimums and serve-stale. Capacities are entry counts where the
// frontend's cache is sized in bytes.
func (im *importer) cache(b *block, d *directive) error {
	if !b.root {
		im.note(d.line, joinWords("cache", "in", b.label), false,
			"the frontend has one cache for every name; only the root zone block's cache settings are carried over")
		return nil
	}
	if im.out.Cache == nil {
		im.out.Cache = &dnsconfig.Cache{}
	}
	c := im.out.Cache
	if len(d.args) > 0 {
		n, err := strconv.Atoi(d.args[0])
		if err != nil || n < 0 {
			return im.errorf(d.line, "cache TTL %q: want seconds", d.args[0])
		}
		// CoreDNS caps positive and negative answers alike with it.
		if n == 0 {
			im.note(d.line, "cache 0", false, "the frontend's cache TTLs are 1s at least (cache.size 0 turns the cache off)")
		} else {
			c.MaxTTL, c.MaxNegativeTTL = seconds(n), seconds(n)
		}
		if zones := d.args[1:]; len(zones) > 0 && !(len(zones) == 1 && zones[0] == ".") {
			im.note(d.line, joinWords(append([]string{"cache", d.args[0]}, zones...)...), false,
				"the frontend caches every name, not only some zones")
		}
	}
	for _, o := range d.block {
		what := joinWords(append([]string{"cache", o.name}, o.args...)...)
		switch o.name {
		case "success", "denial":
			if len(o.args) == 0 || len(o.args) > 3 {
				return im.errorf(o.line, "cache %s: want CAPACITY [TTL [MINTTL]]", o.name)
			}
			nums := make([]int, len(o.args))
			for i, a := range o.args {
				n, err := strconv.Atoi(a)
				if err != nil || n < 0 {
					return im.errorf(o.line, "cache %s %q: want a number", o.name, a)
				}
				nums[i] = n
			}
			im.note(o.line, joinWords("cache", o.name, o.args[0]), false,
				"capacity is a number of entries; the frontend's cache is sized in bytes (cache.size, 64 MiB by default)")
			if len(nums) > 1 && nums[1] > 0 && o.name == "success" {
				c.MaxTTL = seconds(nums[1])
			}
			if len(nums) > 1 && nums[1] > 0 && o.name == "denial" {
				c.MaxNegativeTTL = seconds(nums[1])
			}
			if len(nums) > 2 && o.name == "success" {
				c.MinTTL = seconds(nums[2])
			}
			if len(nums) > 2 && o.name == "denial" {
				im.note(o.line, what, false, "the frontend has one minimum TTL (cache.minTTL, from success)")
			}
		case "serve_stale":
			stale := time.Hour
			if len(o.args) > 0 {
				v, err := time.ParseDuration(o.args[0])
				if err != nil || v < 0 {
					return im.errorf(o.line, "cache serve_stale %q: want a duration", o.args[0])
				}
				stale = v
			}
			c.ServeStale = dnsconfig.NewDuration(stale)
			mode := "immediate"
			if len(o.args) > 1 {
				mode = o.args[1]
			}
			if mode != "verify" {
				im.note(o.line, what, false,
					"refresh mode %s: the frontend serves a stale answer only when the upstream or record service fails (as verify)", mode)
			}
		case "disable":
			if len(o.args) > 1 && (o.args[0] == "success" || o.args[0] == "denial") && im.allCluster(o.args[1:]) {
				im.note(o.line, what, true,
					"cluster answers are cached until the record service says they changed (Watch invalidations), so they are never stale")
				continue
			}
			im.note(o.line, what, false, "the frontend caches every kind of answer of every zone")
		default:
			im.note(o.line, what, false, "no equivalent in the frontend's cache")
		}
	}
	return nil
}

// allCluster tells whether every zone is the cluster zone, below it, or a
// reverse zone: the names the record service answers.
func (im *importer) allCluster(zones []string) bool {
	domain := im.clusterZone
	if domain == "" {
		domain = defaultClusterDomain
	}
	for _, z := range zones {
		z = strings.ToLower(dns.Fqdn(z))
		if !dns.IsSubDomain(domain, z) && !isReverse(z) {
			return false
		}
	}
	return true
}
