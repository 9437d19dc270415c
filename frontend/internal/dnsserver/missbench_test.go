package dnsserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// streamRecords is a record service for the miss benchmarks: LookupStream
// answers every name as the record service answers the names of the
// bench's unique-name workload, NXDOMAIN with the zone SOA for names under
// missing.svc, one A record for the others. It does as little as it can,
// so that a profile shows the frontend's cost.
// With batching set it reads batched questions and answers each message's
// questions in one message, as the record service does.
type streamRecords struct {
	clusterdnsv1.UnimplementedRecordServiceServer
	batching bool
}

func (streamRecords) answer(name string) *clusterdnsv1.LookupResponse {
	if strings.Contains(name, ".missing.svc.") {
		return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Ttl: 5, Revision: 1, ServerId: "s1",
			Keys: []string{"ns/missing"}, Authority: []*clusterdnsv1.ResourceRecord{soaRecord()}}
	}
	return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Revision: 1, ServerId: "s1",
		Keys: []string{"svc/default/" + name}, Answer: []*clusterdnsv1.ResourceRecord{rec(name, aData("10.96.0.7"))}}
}

func (s streamRecords) LookupStream(stream grpc.BidiStreamingServer[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		resp := &clusterdnsv1.LookupStreamResponse{Id: req.GetId(), Response: s.answer(req.GetRequest().GetName()), AcceptsBatch: s.batching}
		if s.batching && req.GetAcceptBatch() {
			for _, q := range req.GetBatch() {
				resp.Batch = append(resp.Batch, &clusterdnsv1.LookupStreamResponse{Id: q.GetId(), Response: s.answer(q.GetRequest().GetName())})
			}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (s streamRecords) Watch(_ *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	if err := stream.Send(&clusterdnsv1.WatchResponse{Revision: 1, ServerId: "s1", Resync: true}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// BenchmarkServeUDPMiss is a real UDP round trip to a started server on
// 127.0.0.1 for cluster names asked once each (every query a cache miss,
// looked up over the gRPC lookup stream), nine in ten NXDOMAIN, with 32
// clients per P as a load generator keeps queries in flight: against a
// record service that reads one question per message (single) and one that
// takes batches (batched). Serial is one client asking one question at a
// time, the latency of a miss on an otherwise idle server.
func BenchmarkServeUDPMiss(b *testing.B) {
	b.Run("single", func(b *testing.B) { benchServeUDPMiss(b, streamRecords{}, 32) })
	b.Run("batched", func(b *testing.B) { benchServeUDPMiss(b, streamRecords{batching: true}, 32) })
	b.Run("serial", func(b *testing.B) { benchServeUDPMiss(b, streamRecords{batching: true}, 0) })
}

// benchServeUDPMiss runs clientsPerP clients per P, or a single one when
// clientsPerP is 0.
func benchServeUDPMiss(b *testing.B, records streamRecords, clientsPerP int) {
	target := os.Getenv("CLUSTERDNS_MISSBENCH_RECORDS")
	if target == "" {
		target = serveStreamRecords(b, records)
	} else if !records.batching {
		b.Skip("a record service of another process batches")
	}
	client, err := recordclient.New(recordclient.Config{Target: target, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Close() })
	cache, err := dnscache.New(dnscache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cache.Close)
	metrics, err := dnsserver.NewMetrics(prometheus.NewRegistry(), cache)
	if err != nil {
		b.Fatal(err)
	}
	addr := startBenchServer(b, dnsserver.Config{Listen: "127.0.0.1:0", Records: client, Cache: cache, Metrics: metrics})
	// Cleanups run last first: the watch ends before the server shuts down.
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = client.Watch(ctx, cache)
	}()
	b.Cleanup(func() {
		cancel()
		<-watchDone
	})
	c := &dns.Client{Timeout: 5 * time.Second}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("warm.default.svc.cluster.local.", dns.TypeA), addr); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Uint64
	// ask is a client asking questions while next says so.
	ask := func(next func() bool) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, dns.MaxMsgSize)
		m := new(dns.Msg)
		for next() {
			n := seq.Add(1)
			ns := "missing"
			if n%10 == 0 {
				ns = "default"
			}
			m.SetQuestion(fmt.Sprintf("s%d.%s.svc.cluster.local.", n, ns), dns.TypeA)
			m.Id = uint16(n)
			query, err := m.Pack()
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := askUDP(conn, query, buf); err != nil {
				b.Error(err)
				return
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart := processCPU(b)
	if clientsPerP == 0 {
		i := 0
		ask(func() bool { i++; return i <= b.N })
	} else {
		b.SetParallelism(clientsPerP)
		b.RunParallel(func(pb *testing.PB) { ask(pb.Next) })
	}
	// The process's CPU time per query (server, record service and
	// clients alike) says more than wall time on a shared machine.
	b.ReportMetric(float64((processCPU(b)-cpuStart).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serveStreamRecords serves records on a port of 127.0.0.1 until the test
// ends and returns its address.
func serveStreamRecords(tb testing.TB, records streamRecords) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gs := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(gs, records)
	go func() { _ = gs.Serve(ln) }()
	tb.Cleanup(gs.Stop)
	return ln.Addr().String()
}

// TestServeStreamRecords serves the miss benchmarks' record service (batching
// unless CLUSTERDNS_MISSBENCH_SINGLE is set) for
// CLUSTERDNS_MISSBENCH_SERVE (a duration), printing its address, so that
// BenchmarkServeUDPMiss can reach it from another process
// (CLUSTERDNS_MISSBENCH_RECORDS) as the frontend reaches the record service.
func TestServeStreamRecords(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("CLUSTERDNS_MISSBENCH_SERVE"))
	if err != nil {
		t.Skip("CLUSTERDNS_MISSBENCH_SERVE is not a duration")
	}
	fmt.Println(serveStreamRecords(t, streamRecords{batching: os.Getenv("CLUSTERDNS_MISSBENCH_SINGLE") == ""}))
	time.Sleep(d)
}

// startBenchServer starts a DNS server with cfg for the benchmark's
// duration and returns its UDP address.
func startBenchServer(b *testing.B, cfg dnsserver.Config) string {
	b.Helper()
	srv, err := dnsserver.New(cfg)
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
	return srv.UDPAddr().String()
}

// askUDP is the round trip of the UDP benchmarks: query out on conn, the
// reply read into buf (its length returned).
func askUDP(conn net.Conn, query, buf []byte) (int, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(query); err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		return n, fmt.Errorf("read: %w", err)
	}
	if n < 12 {
		return n, fmt.Errorf("read: a reply of %d bytes", n)
	}
	return n, nil
}
