package recordserver

import (
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// BenchmarkLookupStream asks what a frontend asks on cache misses of unique
// names (Services that do not exist, from a client address) over one
// LookupStream on loopback, as a frontend does: one question at a time
// (serial: a miss at a low query rate, every hand-off and wake-up paid per
// question) and 32 in flight in batches (batched: a miss under load).
func BenchmarkLookupStream(b *testing.B) {
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ix := kubeindex.New(kubeindex.Config{})
	feed(ix)
	ix.MarkSynced()
	srv := New(schema, ix, slog.New(slog.NewTextHandler(io.Discard, nil)))
	gs := grpc.NewServer(ServerOptions()...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	defer srv.Shutdown()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(4<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stream, err := clusterdnsv1.NewRecordServiceClient(conn).LookupStream(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 4096)
	for i := range names {
		names[i] = "svc-" + strconv.Itoa(i) + ".default.svc.cluster.local."
	}
	var id uint64
	question := func() *clusterdnsv1.LookupStreamRequest {
		id++
		return &clusterdnsv1.LookupStreamRequest{Id: id, AcceptBatch: true, Request: &clusterdnsv1.LookupRequest{
			Name: names[id%uint64(len(names))], Qtype: 1, ClientIp: "10.244.0.7"}}
	}
	// recv reads answers until n have come.
	recv := func(n int) {
		for n > 0 {
			msg, err := stream.Recv()
			if err != nil {
				b.Fatal(err)
			}
			n -= 1 + len(msg.GetBatch())
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := stream.Send(question()); err != nil {
				b.Fatal(err)
			}
			recv(1)
		}
	})
	b.Run("batched", func(b *testing.B) {
		const window = 32
		b.ReportAllocs()
		for b.Loop() {
			msg := question()
			for range window - 1 {
				msg.Batch = append(msg.Batch, question())
			}
			if err := stream.Send(msg); err != nil {
				b.Fatal(err)
			}
			recv(window)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*window), "ns/question")
	})
}
