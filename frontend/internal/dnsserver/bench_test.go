package dnsserver

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// benchName is the cluster name the benchmarks ask: one A record.
const benchName = "kubernetes.default.svc.cluster.local."

// benchRecords answers every name with one A record, exact (keys, revision
// and server of the Watch stream the benchmarks' cache follows).
type benchRecords struct{}

func (benchRecords) Lookup(_ context.Context, name string, _ uint16, _ string, _ clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	return &clusterdnsv1.LookupResponse{
		Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Revision: 1, ServerId: "s1",
		Keys: []string{"svc/default/kubernetes"},
		Answer: []*clusterdnsv1.ResourceRecord{{Name: name, Ttl: 30,
			Data: &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: "10.96.0.1"}}}},
	}, nil
}

// benchConfig is a server configuration with a cache following server s1
// and metrics, as the frontend runs.
func benchConfig(b *testing.B) Config {
	b.Helper()
	cache, err := dnscache.New(dnscache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cache.Close)
	cache.Resync("s1", 1)
	metrics, err := NewMetrics(prometheus.NewRegistry(), cache)
	if err != nil {
		b.Fatal(err)
	}
	return Config{Listen: "127.0.0.1:0", Records: benchRecords{}, Cache: cache, Metrics: metrics}
}

// benchWriter is a UDP ResponseWriter that packs like miekg's and keeps
// the last reply.
type benchWriter struct {
	buf  []byte
	last []byte
}

var benchRemote = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (w *benchWriter) LocalAddr() net.Addr  { return benchRemote }
func (w *benchWriter) RemoteAddr() net.Addr { return benchRemote }
func (w *benchWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *benchWriter) Write(b []byte) (int, error) {
	w.last = append(w.last[:0], b...)
	return len(b), nil
}
func (w *benchWriter) Close() error        { return nil }
func (w *benchWriter) TsigStatus() error   { return nil }
func (w *benchWriter) TsigTimersOnly(bool) {}
func (w *benchWriter) Hijack()             {}

// warm asks the handler once so that the answer is cached.
func warm(b *testing.B, h *Handler, cache *dnscache.Cache, req *dns.Msg) {
	b.Helper()
	w := &benchWriter{buf: make([]byte, dns.MaxMsgSize)}
	h.ServeDNS(w, req)
	cache.Wait()
	before := cache.Stats().Hits
	h.ServeDNS(w, req)
	if cache.Stats().Hits != before+1 {
		b.Fatal("second query was not a cache hit")
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(w.last); err != nil || len(resp.Answer) != 1 {
		b.Fatalf("reply %v: %v", resp, err)
	}
}

// BenchmarkPack builds the reply bytes for a cache hit: the answer from
// the cache, the header, EDNS and truncation, and the wire form.
func BenchmarkPack(b *testing.B) {
	cfg := benchConfig(b)
	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	req := new(dns.Msg).SetQuestion(benchName, dns.TypeA)
	warm(b, h, cfg.Cache, req)
	w := &benchWriter{}
	buf := make([]byte, dns.MaxMsgSize)
	b.ReportAllocs()
	for b.Loop() {
		x := &exchange{w: w, req: req, transport: clusterdnsv1.Transport_TRANSPORT_UDP, source: sourceLocal}
		resp := h.answer(x)
		h.finish(req, resp, x.transport)
		if _, err := resp.PackBuffer(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandlerHit is the whole handler for a cached cluster A query
// through a ResponseWriter that packs like miekg's UDP writer.
func BenchmarkHandlerHit(b *testing.B) {
	cfg := benchConfig(b)
	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	req := new(dns.Msg).SetQuestion(benchName, dns.TypeA)
	warm(b, h, cfg.Cache, req)
	w := &benchWriter{buf: make([]byte, dns.MaxMsgSize)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(w, req)
	}
}

// BenchmarkServeUDPHit is a real UDP round trip to a started server on
// 127.0.0.1 for a cached cluster A query, one client per P.
func BenchmarkServeUDPHit(b *testing.B) {
	cfg := benchConfig(b)
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	addr := srv.UDPAddr().String()
	query, err := new(dns.Msg).SetQuestion(benchName, dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	// Fill the cache.
	c := &dns.Client{Timeout: 5 * time.Second}
	for range 2 {
		if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(benchName, dns.TypeA), addr); err != nil {
			b.Fatal(err)
		}
		cfg.Cache.Wait()
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, dns.MaxMsgSize)
		for pb.Next() {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(query); err != nil {
				b.Error(err)
				return
			}
			n, err := conn.Read(buf)
			if err != nil || n < 12 {
				b.Errorf("read: %d bytes, %v", n, err)
				return
			}
		}
	})
}

// BenchmarkPackHot builds the reply bytes for a cache hit on the hot path:
// the question read from the query's wire form, the cache entry found and
// its pre-packed reply patched for the query.
func BenchmarkPackHot(b *testing.B) {
	cfg := benchConfig(b)
	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	req := new(dns.Msg).SetQuestion(benchName, dns.TypeA)
	warm(b, h, cfg.Cache, req)
	query, err := req.Pack()
	if err != nil {
		b.Fatal(err)
	}
	s := new(hitScratch)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if !parseRaw(query, s) {
			b.Fatal("query not parsed")
		}
		if _, _, ok := h.packHit(s, now); !ok {
			b.Fatal("not answered on the hot path")
		}
	}
}

// nxRecords answers every name NXDOMAIN with the zone SOA, as the record
// service answers a Service that does not exist.
type nxRecords struct{}

func (nxRecords) Lookup(_ context.Context, _ string, _ uint16, _ string, _ clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	return &clusterdnsv1.LookupResponse{
		Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Ttl: 5, Revision: 1, ServerId: "s1",
		Keys: []string{"ns/default"},
		Authority: []*clusterdnsv1.ResourceRecord{{Name: "cluster.local.", Ttl: 5,
			Data: &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{
				Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1,
				Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5,
			}}}},
	}, nil
}

// BenchmarkHandlerMiss is the whole handler for cluster names asked once
// each (NXDOMAIN from the record service, cached) through a ResponseWriter
// that packs like miekg's UDP writer: the miss path's own CPU, without
// I/O or the record service's stream.
func BenchmarkHandlerMiss(b *testing.B) {
	cfg := benchConfig(b)
	cfg.Records = nxRecords{}
	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	w := &benchWriter{buf: make([]byte, dns.MaxMsgSize)}
	names := make([]string, 1<<16)
	for i := range names {
		names[i] = "svc-" + strconv.Itoa(i) + ".default.svc.cluster.local."
	}
	req := new(dns.Msg)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.SetQuestion(names[i%len(names)], dns.TypeA)
		i++
		h.ServeDNS(w, req)
	}
}
