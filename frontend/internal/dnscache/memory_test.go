package dnscache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/miekg/dns"
)

// The tests and benchmarks here measure what the cached entries really take
// on the heap, to keep the cost function (cost in cache.go) honest: the
// heap a full cache holds must stay close to Config.MaxBytes.

// memShape builds the i-th response of one kind, the way the frontend gets
// it: every string is a fresh allocation (the record service's answer is
// decoded from protobuf, an upstream's unpacked from the wire), which the
// cached copies keep alive. attach says whether the DNS server's hot path
// attaches a wire form to such an entry (it does for record-service keys
// and for upstream answers of names outside the record zones).
type memShape struct {
	name   string
	attach bool
	make   func(i int) (Key, Response)
}

// fresh returns a copy of s in its own allocation.
func fresh(s string) string { return strings.Clone(s) }

func memHdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: fresh(name), Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

func memSOA(zone string) dns.RR {
	return &dns.SOA{Hdr: memHdr(zone, dns.TypeSOA, 30), Ns: fresh("ns.dns." + zone), Mbox: fresh("hostmaster." + zone),
		Serial: 7, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: 30}
}

func memA(name string, i, j int) dns.RR {
	return &dns.A{Hdr: memHdr(name, dns.TypeA, 30), A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i+j)).To4()}
}

func memCluster(name string, rcode int, answer, ns, extra []dns.RR, keys ...string) Response {
	for i := range keys {
		keys[i] = fresh(keys[i])
	}
	return Response{Rcode: rcode, Answer: answer, Ns: ns, Extra: extra, TTL: 30, Cluster: true,
		Revision: 2, ServerID: fresh("recordsvc-0123456789abcdef"), Keys: keys}
}

func memShapes() []memShape {
	return []memShape{
		{"nxdomain-cluster", true, func(i int) (Key, Response) {
			svc := fmt.Sprintf("nx-%d", i)
			name := svc + ".default.svc.cluster.local."
			return NewKey(fresh(name), dns.TypeA, dns.ClassINET, false),
				memCluster(name, dns.RcodeNameError, nil, []dns.RR{memSOA("cluster.local.")}, nil,
					"svc/default/"+svc, "ns/default")
		}},
		{"a1-cluster", true, func(i int) (Key, Response) {
			svc := fmt.Sprintf("svc-%d", i)
			name := svc + ".default.svc.cluster.local."
			return NewKey(fresh(name), dns.TypeA, dns.ClassINET, false),
				memCluster(name, dns.RcodeSuccess, []dns.RR{memA(name, i, 0)}, nil, nil, "svc/default/"+svc)
		}},
		{"a20-cluster", true, func(i int) (Key, Response) {
			svc := fmt.Sprintf("headless-%d", i)
			name := svc + ".default.svc.cluster.local."
			answer := make([]dns.RR, 20)
			for j := range answer {
				answer[j] = memA(name, i, j)
			}
			return NewKey(fresh(name), dns.TypeA, dns.ClassINET, false),
				memCluster(name, dns.RcodeSuccess, answer, nil, nil, "svc/default/"+svc)
		}},
		{"srv-cluster", true, func(i int) (Key, Response) {
			svc := fmt.Sprintf("svc-%d", i)
			name := "_http._tcp." + svc + ".default.svc.cluster.local."
			var answer, extra []dns.RR
			for j := range 2 {
				target := fmt.Sprintf("10-0-%d-%d.%s.default.svc.cluster.local.", i%256, j, svc)
				answer = append(answer, &dns.SRV{Hdr: memHdr(name, dns.TypeSRV, 30), Priority: 0, Weight: 50,
					Port: 8080, Target: fresh(target)})
				extra = append(extra, memA(target, i, j))
			}
			return NewKey(fresh(name), dns.TypeSRV, dns.ClassINET, false),
				memCluster(name, dns.RcodeSuccess, answer, nil, extra, "svc/default/"+svc)
		}},
		{"nxdomain-upstream", true, func(i int) (Key, Response) {
			name := fmt.Sprintf("host-%d.example.com.", i)
			return NewForwardKey(fresh(name), dns.TypeA, dns.ClassINET, false),
				Response{Rcode: dns.RcodeNameError, Ns: []dns.RR{memSOA("example.com.")}}
		}},
		{"a1-upstream", true, func(i int) (Key, Response) {
			name := fmt.Sprintf("host-%d.example.com.", i)
			return NewForwardKey(fresh(name), dns.TypeA, dns.ClassINET, false),
				Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{memA(name, i, 0)}}
		}},
	}
}

// memWire and memWireSet mirror the wire form the DNS server attaches to a
// record-service entry (dnsserver's wireAnswer and wireSet): the packed
// reply and the offsets of its TTLs.
type memWire struct {
	msg, qname               []byte
	plainLen                 int
	ttls                     []memTTL
	rotStart, rotChunk, rotN int
}

type memTTL struct {
	off int
	ttl uint32
}

type memWireSet struct{ lower, other atomic.Pointer[memWire] }

// memAttach does what the DNS server's hot path does on the first hit of an
// entry: attach a set and pack the reply for the lower-case name.
func memAttach(tb testing.TB, c *Cache, k Key) {
	tb.Helper()
	h, ok := c.Peek([]byte(k.id), time.Time{})
	if !ok {
		return // ristretto dropped the Set
	}
	set := h.Attach(new(memWireSet)).(*memWireSet)
	r, ok := h.Response(k.name)
	if !ok {
		tb.Fatalf("entry %s does not unpack", k.name)
	}
	m := new(dns.Msg)
	m.Response, m.Authoritative, m.Rcode = true, true, r.Rcode
	qtype := binary.BigEndian.Uint16([]byte(k.id[len(k.id)-5:]))
	m.Question = []dns.Question{{Name: k.name, Qtype: qtype, Qclass: dns.ClassINET}}
	m.Answer, m.Ns, m.Extra = r.Answer, r.Ns, r.Extra
	plain := m.Len()
	m.Compress = true
	msg, err := m.Pack()
	if err != nil {
		tb.Fatalf("pack: %v", err)
	}
	qlen := len(k.name) + 1
	w := &memWire{msg: msg, qname: msg[12 : 12+qlen], plainLen: plain}
	for range len(m.Answer) + len(m.Ns) + len(m.Extra) {
		w.ttls = append(w.ttls, memTTL{})
	}
	_ = bytes.Clone(w.qname) // the DNS server's fallback form, garbage once packed
	set.lower.Store(w)
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// memResult is what fillCache measured.
type memResult struct {
	entries  int64   // entries held at the end
	heap     int64   // heap growth since before New, cache still alive
	fixed    int64   // of which New itself took (TinyLFU sketch, buffers)
	counted  int64   // sum of the costs of the entries held
	perEntry float64 // (heap - fixed) / entries
	perCost  float64 // counted / entries
}

// fillCache creates a cache of maxBytes, follows a Watch stream, and stores
// up to n responses of shape into it (attaching wire forms where the DNS
// server would), then measures the heap it holds. With overfill > 0 it
// stops once it stored overfill times as many responses as the cache holds.
func fillCache(tb testing.TB, maxBytes int64, shape memShape, n int, overfill int64) memResult {
	tb.Helper()
	before := heapAlloc()
	c, err := New(Config{MaxBytes: maxBytes})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.Resync("recordsvc-0123456789abcdef", 1)
	fixed := heapAlloc() - before
	const batch = 512
	keys := make([]Key, 0, batch)
	for i := 0; i < n; i += batch {
		keys = keys[:0]
		for j := i; j < min(i+batch, n); j++ {
			k, r := shape.make(j)
			c.Set(k, c.Begin(), r)
			keys = append(keys, k)
		}
		c.Wait()
		if shape.attach {
			for _, k := range keys {
				memAttach(tb, c, k)
			}
		}
		if overfill > 0 && int64(i+len(keys)) >= overfill*c.Stats().Entries {
			break
		}
	}
	clear(keys[:cap(keys)])
	after := heapAlloc()
	s := c.Stats()
	res := memResult{
		entries: s.Entries,
		heap:    int64(after - before),
		fixed:   int64(fixed),
		counted: s.Bytes,
	}
	if res.entries > 0 {
		res.perEntry = float64(res.heap-res.fixed) / float64(res.entries)
		res.perCost = float64(res.counted) / float64(res.entries)
	}
	runtime.KeepAlive(c)
	return res
}

// BenchmarkCacheMemory reports, per kind of response, the heap an entry
// really takes (heapB/entry) and what the cost function counts for it
// (costB/entry), with a cache large enough to hold them all. Run with
// -benchtime=1x: each iteration fills a new cache.
//
//	go test -run '^$' -bench CacheMemory -benchtime=1x ./frontend/internal/dnscache/
func BenchmarkCacheMemory(b *testing.B) {
	const n = 100_000
	for _, shape := range memShapes() {
		b.Run(shape.name, func(b *testing.B) {
			var res memResult
			for b.Loop() {
				res = fillCache(b, 1<<30, shape, n, 0)
			}
			if res.entries < n*9/10 {
				b.Fatalf("cache holds %d entries of %d", res.entries, n)
			}
			b.ReportMetric(res.perEntry, "heapB/entry")
			b.ReportMetric(res.perCost, "costB/entry")
			b.ReportMetric(res.perEntry/res.perCost, "heap/cost")
			b.ReportMetric(float64(res.fixed)/(1<<20), "fixedMiB")
		})
	}
}

// TestCacheMemoryBound fills small caches with many more entries than fit
// and checks that the heap they hold stays within twice the configured
// size: the cost function must not undercount the real memory of entries.
func TestCacheMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("fills caches with hundreds of thousands of entries")
	}
	const maxBytes = 4 << 20
	for _, shape := range memShapes() {
		t.Run(shape.name, func(t *testing.T) {
			// Enough entries to fill the cache three times over.
			res := fillCache(t, maxBytes, shape, maxBytes/100, 3)
			t.Logf("%d entries held, heap %.2f MiB (New: %.2f MiB), counted %.2f MiB; %.0f heap vs %.0f counted bytes per entry",
				res.entries, float64(res.heap)/(1<<20), float64(res.fixed)/(1<<20), float64(res.counted)/(1<<20),
				res.perEntry, res.perCost)
			if res.entries == 0 {
				t.Fatal("cache holds nothing")
			}
			if res.counted > maxBytes {
				t.Errorf("counted %d bytes, over the size %d", res.counted, maxBytes)
			}
			if res.heap > 2*maxBytes {
				t.Errorf("cache holds %d bytes of heap, over twice its size %d", res.heap, maxBytes)
			}
		})
	}
}

// BenchmarkCacheOverheads measures the bookkeeping constants of the cost
// function, in bytes per entry: ristretto's own per-item memory (its store,
// expiration buckets and policy maps), and the invalidation index's: a slot
// of its array of entries, the map slot of a key only one entry depends on,
// and a handle in the set of a key many entries share (index.go).
//
//	go test -run '^$' -bench CacheOverheads -benchtime=1x ./frontend/internal/dnscache/
func BenchmarkCacheOverheads(b *testing.B) {
	const n = 200_000
	entries := make([]entry, n)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("svc/default/nx-%d", i)
	}
	// fill builds what is measured and keeps it alive until measured; it
	// calls start once its fixed parts exist.
	measure := func(b *testing.B, name string, fill func(start func()) any) {
		b.Run(name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				var before uint64
				v := fill(func() { before = heapAlloc() })
				per = float64(int64(heapAlloc())-int64(before)) / n
				runtime.KeepAlive(v)
			}
			b.ReportMetric(per, "B/entry")
		})
	}
	measure(b, "ristretto-item", func(start func()) any {
		rc, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
			NumCounters: 1024, MaxCost: 1 << 40, BufferItems: 64, IgnoreInternalCost: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(rc.Close)
		start()
		for i := range entries {
			for !rc.SetWithTTL(ids[i], &entries[i], 1, time.Hour) {
				rc.Wait()
			}
		}
		rc.Wait()
		return rc
	})
	// The index's three costs: its array of entries, a key of one entry,
	// and a key all entries share.
	measure(b, "index-slot", func(start func()) any {
		start()
		slots := make([]*entry, 1)
		for i := range entries {
			slots = append(slots, &entries[i])
		}
		return slots
	})
	measure(b, "key-slot-of-one", func(start func()) any {
		start()
		m := make(map[string]keyEntries)
		for i := range entries {
			m[ids[i]] = keyEntries{one: handle(i + 1)}
		}
		return m
	})
	measure(b, "shared-key-handle", func(start func()) any {
		start()
		m := make(map[handle]struct{})
		for i := range entries {
			m[handle(i+1)] = struct{}{}
		}
		return m
	})
}
