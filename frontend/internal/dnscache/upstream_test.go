package dnscache

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestUpstreamLifetime covers the clamps of answers from the upstreams: the
// positive cap and floor, the negative cap with the TTL from the SOA (RFC
// 2308), and what is never cached.
func TestUpstreamLifetime(t *testing.T) {
	const name = "www.example.org."
	soa := func(ttl, minimum string) dns.RR {
		return rr(t, "example.org. "+ttl+" IN SOA ns.example.org. host.example.org. 1 7200 1800 86400 "+minimum)
	}
	a := func(ttl string) dns.RR { return rr(t, name+" "+ttl+" IN A 192.0.2.1") }
	cfg := Config{MaxTTL: time.Hour, MinTTL: 10 * time.Second, MaxNegativeTTL: 5 * time.Minute}
	tests := []struct {
		name string
		cfg  Config
		resp Response
		want uint32
	}{
		{"positive within bounds", cfg, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("300")}}, 300},
		{"positive smallest record", cfg, Response{Rcode: dns.RcodeSuccess,
			Answer: []dns.RR{rr(t, name+" 600 IN CNAME web.example.org."), rr(t, "web.example.org. 120 IN A 192.0.2.1")}}, 120},
		{"positive capped", cfg, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("86400")}}, 3600},
		{"positive floored", cfg, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("2")}}, 10},
		{"zero ttl never cached despite the floor", cfg, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("0")}}, 0},
		{"nxdomain soa minimum", cfg, Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("3600", "60")}}, 60},
		{"nxdomain soa ttl", cfg, Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("45", "900")}}, 45},
		{"nxdomain capped", cfg, Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("86400", "86400")}}, 300},
		{"nxdomain floored", cfg, Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("3600", "1")}}, 10},
		{"nodata soa", cfg, Response{Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa("3600", "120")}}, 120},
		{"nodata without soa", cfg, Response{Rcode: dns.RcodeSuccess}, 0},
		{"nxdomain without soa", cfg, Response{Rcode: dns.RcodeNameError}, 0},
		{"servfail", cfg, Response{Rcode: dns.RcodeServerFailure, Answer: []dns.RR{a("300")}}, 0},
		{"refused", cfg, Response{Rcode: dns.RcodeRefused}, 0},
		{"truncated", cfg, Response{Rcode: dns.RcodeSuccess, Truncated: true, Answer: []dns.RR{a("300")}}, 0},
		{"defaults cap positive at 1h", Config{}, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("86400")}}, 3600},
		{"defaults cap negative at 30m", Config{}, Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("86400", "86400")}}, 1800},
		{"defaults have no floor", Config{}, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("1")}}, 1},
		{"floor above the cap", Config{MaxTTL: time.Minute, MinTTL: time.Hour}, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a("1")}}, 60},
		{"cluster answers are not clamped", cfg, Response{Rcode: dns.RcodeSuccess, Cluster: true, Answer: []dns.RR{a("86400")}}, 86400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, tt.cfg)
			if got := c.Lifetime(tt.resp); got != tt.want {
				t.Fatalf("Lifetime = %d, want %d", got, tt.want)
			}
			key := NewForwardKey(name, dns.TypeA, dns.ClassINET, false)
			if stored := c.Set(key, Fill{}, tt.resp); stored != (tt.want > 0) {
				t.Fatalf("Set = %v, want %v", stored, tt.want > 0)
			}
			c.Wait()
			got, ok := c.Get(key)
			if ok != (tt.want > 0) {
				t.Fatalf("hit = %v, want %v", ok, tt.want > 0)
			}
			if !ok || tt.resp.Cluster {
				return
			}
			// Every record shows the lifetime, then the time left.
			for _, section := range [][]dns.RR{got.Answer, got.Ns} {
				for _, r := range section {
					if r.Header().Ttl != tt.want {
						t.Errorf("record %s: TTL %d, want %d", r, r.Header().Ttl, tt.want)
					}
				}
			}
			clk.advance(time.Duration(tt.want-1) * time.Second)
			if got, ok := c.Get(key); !ok || len(append(got.Answer, got.Ns...)) == 0 ||
				append(got.Answer, got.Ns...)[0].Header().Ttl != 1 {
				t.Errorf("one second before expiry: hit %v, %v; want TTL 1", ok, got)
			}
			clk.advance(time.Second)
			if _, ok := c.Get(key); ok {
				t.Error("hit after the lifetime")
			}
		})
	}
}

// TestForwardKeySeparate: an upstream answer is never found under the key
// of the record service's answer to the same question, nor the reverse.
func TestForwardKeySeparate(t *testing.T) {
	c, _ := newTestCache(t, Config{})
	const name = "1.2.0.192.in-addr.arpa."
	up := Response{Rcode: dns.RcodeSuccess, AuthenticatedData: true,
		Answer: []dns.RR{rr(t, name+" 300 IN PTR host.example.org.")}}
	if !c.Set(NewForwardKey(name, dns.TypePTR, dns.ClassINET, false), Fill{}, up) {
		t.Fatal("Set refused")
	}
	c.Wait()
	if _, ok := c.Get(NewKey(name, dns.TypePTR, dns.ClassINET, false)); ok {
		t.Error("record service key hit an upstream answer")
	}
	if _, ok := c.Get(NewForwardKey(name, dns.TypePTR, dns.ClassINET, true)); ok {
		t.Error("DO=1 key hit a DO=0 answer")
	}
	got, ok := c.Get(NewForwardKey(strings.ToUpper(name), dns.TypePTR, dns.ClassINET, false))
	if !ok {
		t.Fatal("forward key missed")
	}
	if !got.AuthenticatedData {
		t.Error("AD bit not kept")
	}
	if got.Answer[0].Header().Name != strings.ToUpper(name) {
		t.Errorf("owner %q, want the query's case", got.Answer[0].Header().Name)
	}
}
