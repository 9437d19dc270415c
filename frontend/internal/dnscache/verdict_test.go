package dnscache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestVerdictsAndCuts: a NOT_AUTHORITATIVE verdict of the record service is
// cached for its TTL (exact while the Watch stream covers its keys, and
// dropped by their invalidation); an answer the record service cut to fit
// is cached with its TC mark; a truncated upstream reply is not.
func TestVerdictsAndCuts(t *testing.T) {
	addr := "reverse/10.0.0.9"
	tests := []struct {
		name       string
		r          Response
		key        Key
		stored     bool
		expiresBy  time.Duration // Get finds nothing after this (exact: 0)
		invalidate bool          // an invalidation of its key drops it
	}{
		{"verdict, not followed", Response{NotAuthoritative: true, Cluster: true, TTL: 30, ServerID: "other", Revision: 5, Keys: []string{addr}},
			NewKey("9.0.0.10.in-addr.arpa.", dns.TypePTR, dns.ClassINET, false), true, 31 * time.Second, false},
		{"verdict, exact", Response{NotAuthoritative: true, Cluster: true, TTL: 30, ServerID: "s1", Revision: 5, Keys: []string{addr}},
			NewKey("9.0.0.10.in-addr.arpa.", dns.TypePTR, dns.ClassINET, true), true, 0, true},
		{"verdict without ttl", Response{NotAuthoritative: true, Cluster: true, ServerID: "s1", Revision: 5, Keys: []string{addr}},
			NewKey("8.0.0.10.in-addr.arpa.", dns.TypePTR, dns.ClassINET, false), false, 0, false},
		{"verdict of an upstream", Response{NotAuthoritative: true, TTL: 30},
			NewForwardKey("7.0.0.10.in-addr.arpa.", dns.TypePTR, dns.ClassINET, false), false, 0, false},
		{"cut cluster answer", Response{Truncated: true, Cluster: true, TTL: 30, ServerID: "s1", Revision: 5, Keys: []string{"svc/default/big"},
			Answer: []dns.RR{rr(t, "big.default.svc.cluster.local. 30 IN A 10.1.0.1")}},
			NewKey("big.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false), true, 0, false},
		{"truncated upstream reply", Response{Truncated: true, Answer: []dns.RR{rr(t, "www.example.org. 30 IN A 192.0.2.1")}},
			NewForwardKey("www.example.org.", dns.TypeA, dns.ClassINET, false), false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Config{})
			c.Resync("s1", 1)
			fill := c.Begin()
			c.Set(tt.key, fill, tt.r)
			c.Wait()
			got, ok := c.Get(tt.key)
			if ok != tt.stored {
				t.Fatalf("stored %v, want %v", ok, tt.stored)
			}
			if !ok {
				return
			}
			if got.NotAuthoritative != tt.r.NotAuthoritative || got.Truncated != tt.r.Truncated {
				t.Errorf("got NotAuthoritative %v Truncated %v, want %v %v", got.NotAuthoritative, got.Truncated, tt.r.NotAuthoritative, tt.r.Truncated)
			}
			if tt.expiresBy > 0 {
				clk.advance(tt.expiresBy)
				if _, ok := c.Get(tt.key); ok {
					t.Errorf("still served after %v", tt.expiresBy)
				}
			}
			if tt.invalidate {
				clk.advance(time.Minute) // past its TTL: kept by the stream
				if _, ok := c.Get(tt.key); !ok {
					t.Fatal("exact verdict not served past its TTL")
				}
				c.Invalidate("s1", 6, []string{addr})
				c.Wait()
				if _, ok := c.Get(tt.key); ok {
					t.Error("served after an invalidation of its key")
				}
			}
		})
	}
}
