package dnscache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchCache holds one exact cluster entry for name A, as the record
// service's answer after a Resync of the Watch stream.
func benchCache(b *testing.B, name string) (*Cache, Key) {
	b.Helper()
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	c.Resync("s1", 1)
	a, err := dns.NewRR(name + " 30 IN A 10.96.0.1")
	if err != nil {
		b.Fatal(err)
	}
	k := NewKey(name, dns.TypeA, dns.ClassINET, false)
	r := Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{a}, TTL: 30, Cluster: true,
		Revision: 1, ServerID: "s1", Keys: []string{"svc/default/kubernetes"}}
	if !c.Set(k, c.Begin(), r) {
		b.Fatal("Set refused")
	}
	c.Wait()
	if _, ok := c.Get(k); !ok {
		b.Fatal("no hit after Set")
	}
	return c, k
}

// BenchmarkCacheHit is Get of a present key (records copied for the query).
func BenchmarkCacheHit(b *testing.B) {
	c, k := benchCache(b, "kubernetes.default.svc.cluster.local.")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCachePeek is the DNS server's hot-path lookup of a present key:
// the key identity built from the name's bytes, nothing copied.
func BenchmarkCachePeek(b *testing.B) {
	c, _ := benchCache(b, "kubernetes.default.svc.cluster.local.")
	name := []byte("kubernetes.default.svc.cluster.local.")
	var buf [300]byte
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		h, ok := c.Peek(AppendKeyID(buf[:0], name, dns.TypeA, dns.ClassINET, false), now)
		if !ok {
			b.Fatal("miss")
		}
		h.Served()
	}
}
