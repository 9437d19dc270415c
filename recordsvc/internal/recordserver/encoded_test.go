package recordserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/protobuf/proto"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// TestEncodedChangesBounds drives the cache of encoded changes with an
// encoder that counts its calls: a kept revision is encoded once, the
// count and byte bounds push out the oldest, and neither an oversized
// change nor a revision older than everything kept in a full cache pushes
// out what the streams that keep up need.
func TestEncodedChangesBounds(t *testing.T) {
	type step struct {
		revision uint64
		size     int
	}
	seq := func(from, n uint64, size int) []step {
		var out []step
		for r := from; r < from+n; r++ {
			out = append(out, step{r, size})
		}
		return out
	}
	tests := []struct {
		name        string
		steps       []step
		wantEncodes uint64
		wantKept    []uint64 // revisions kept, oldest first
		wantBytes   int
	}{
		{"repeated revisions are encoded once", []step{{1, 10}, {1, 10}, {2, 10}, {1, 10}, {2, 10}}, 2, []uint64{1, 2}, 20},
		{"count bound drops the oldest", seq(1, encodedKept+3, 10), encodedKept + 3, seqRevisions(4, encodedKept), encodedKept * 10},
		{"byte bound drops the oldest", seq(1, 6, encodedKeptBytes/5), 6, []uint64{2, 3, 4, 5, 6}, 5 * (encodedKeptBytes / 5)},
		{"oversized change is not kept", []step{{1, 10}, {2, encodedKeptBytes/4 + 1}, {2, encodedKeptBytes/4 + 1}, {3, 10}}, 4, []uint64{1, 3}, 20},
		{"a stream far behind does not push out newer ones",
			append(seq(10, encodedKept, 10), step{1, 10}, step{1, 10}), encodedKept + 2, seqRevisions(10, encodedKept), encodedKept * 10},
		{"a stream a little behind is kept while there is room", []step{{5, 10}, {6, 10}, {3, 10}, {3, 10}}, 3, []uint64{5, 6, 3}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e encodedChanges
			var calls uint64
			for _, s := range tt.steps {
				pm, err := e.get(s.revision, func() (*grpc.PreparedMsg, int, error) {
					calls++
					return new(grpc.PreparedMsg), s.size, nil
				})
				if err != nil || pm == nil {
					t.Fatalf("revision %d: %v, %v", s.revision, pm, err)
				}
			}
			var kept []uint64
			for _, o := range e.order {
				kept = append(kept, o.revision)
				if _, ok := e.msgs[o.revision]; !ok {
					t.Errorf("revision %d in the order but not in the map", o.revision)
				}
			}
			n, bytes := e.kept()
			if calls != tt.wantEncodes || e.encodes != calls || !slices.Equal(kept, tt.wantKept) || n != len(kept) || bytes != tt.wantBytes {
				t.Fatalf("%d encodes (counted %d), kept %v (%d in the map, %d bytes); want %d encodes, kept %v, %d bytes",
					calls, e.encodes, kept, n, bytes, tt.wantEncodes, tt.wantKept, tt.wantBytes)
			}
		})
	}

	t.Run("an encoding error is returned and not kept", func(t *testing.T) {
		var e encodedChanges
		boom := errors.New("boom")
		if _, err := e.get(1, func() (*grpc.PreparedMsg, int, error) { return nil, 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("err %v, want %v", err, boom)
		}
		if n, _ := e.kept(); n != 0 || e.encodes != 0 {
			t.Fatalf("%d kept, %d encodes after a failed encoding", n, e.encodes)
		}
	})
}

func seqRevisions(from uint64, n int) []uint64 {
	var out []uint64
	for i := range n {
		out = append(out, from+uint64(i))
	}
	return out
}

// watcher is one Watch stream of a test.
type watcher struct {
	name   string
	stream grpc.ServerStreamingClient[clusterdnsv1.WatchResponse]
}

// setNamespaces sets each namespace in turn and checks what each watcher
// receives: want(w, ns) is the message's keys, or nil when w must not see
// that change. Watchers that see a change receive the same message. It
// returns the server's count of shared encodings made.
func setNamespaces(t *testing.T, ix *kubeindex.Index, srv *Server, watchers []watcher, namespaces []string,
	want func(w watcher, ns string) []string) uint64 {
	t.Helper()
	for _, ns := range namespaces {
		ix.SetNamespace(ns)
		var first *clusterdnsv1.WatchResponse
		for _, w := range watchers {
			keys := want(w, ns)
			if keys == nil {
				continue
			}
			m := recv(t, w.stream)
			if !slices.Equal(m.GetKeys(), keys) || m.GetServerId() != srv.ID() || len(m.GetStateDigest()) != 16 || m.GetChangeTime() == nil {
				t.Fatalf("%s: change of namespace %s: %v, want keys %v", w.name, ns, m, keys)
			}
			if first == nil {
				first = m
			} else if !proto.Equal(m, first) {
				t.Fatalf("%s: %v, another watcher got %v", w.name, m, first)
			}
		}
	}
	srv.encoded.mu.Lock()
	defer srv.encoded.mu.Unlock()
	return srv.encoded.encodes
}

// TestWatchSharedEncoding watches with plain streams and with one whose
// client compresses (and so gets compressed responses), the compressing
// one first to see each change: every stream receives every change whole
// and alike, and the plain streams' messages are encoded once per change.
func TestWatchSharedEncoding(t *testing.T) {
	ts := start(t, kubeindex.Config{StartRevision: 1})
	feed(ts.ix)
	ts.ix.MarkSynced()
	ctx := callCtx(t)
	var watchers []watcher
	for _, w := range []struct {
		name string
		opts []grpc.CallOption
	}{
		{"gzip", []grpc.CallOption{grpc.UseCompressor(gzip.Name)}},
		{"plain-1", nil},
		{"plain-2", nil},
		{"plain-3", nil},
	} {
		s, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: w.name}, w.opts...)
		if err != nil {
			t.Fatal(err)
		}
		recv(t, s) // the resync marker
		watchers = append(watchers, watcher{w.name, s})
	}
	namespaces := []string{"a", "b", "c", "d"}
	encodes := setNamespaces(t, ts.ix, ts.srv, watchers, namespaces, func(_ watcher, ns string) []string { return []string{"ns/" + ns} })
	// The gzip stream encodes for itself, outside the shared cache.
	if encodes != uint64(len(namespaces)) {
		t.Fatalf("%d shared encodings for %d changes to three plain streams, want one per change", encodes, len(namespaces))
	}
}

// TestWatchScopedNotShared: over mutual TLS with the authorization
// interceptor, a namespace-scoped client's Watch (whose stream filters keys)
// never sends the encoding shared by the frontends, which would carry every
// namespace's keys. The scoped client watches first, so that it is the
// first stream to handle every change.
func TestWatchScopedNotShared(t *testing.T) {
	srv, ix, dial := startMTLS(t, "clients: [{identity: frontend, role: frontend}, {identity: billing, namespaces: [billing]}]")
	ix.SetNamespace("default")
	ix.MarkSynced()
	ctx := callCtx(t)
	var watchers []watcher
	for _, name := range []string{"billing", "frontend", "frontend"} {
		s, err := dial(name).Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: name})
		if err != nil {
			t.Fatal(err)
		}
		if m := recv(t, s); !m.GetResync() {
			t.Fatalf("%s: first message %v, want the resync marker", name, m)
		}
		watchers = append(watchers, watcher{name, s})
	}
	namespaces := []string{"other", "billing", "secret"}
	encodes := setNamespaces(t, ix, srv, watchers, namespaces, func(w watcher, ns string) []string {
		if w.name == "billing" && ns != "billing" {
			return nil
		}
		return []string{"ns/" + ns}
	})
	if encodes != uint64(len(namespaces)) {
		t.Fatalf("%d shared encodings for %d changes to two frontends, want one per change", encodes, len(namespaces))
	}
}

// startMTLS serves a fresh Index over mutual TLS with the authorization
// interceptor and policy, on 127.0.0.1:0; dial connects with a client
// certificate of the identity given.
func startMTLS(t *testing.T, policyYAML string) (*Server, *kubeindex.Index, func(identity string) clusterdnsv1.RecordServiceClient) {
	t.Helper()
	now := time.Now()
	ca, err := mtls.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	certificate := func(spec mtls.CertSpec) tls.Certificate {
		spec.Lifetime = time.Hour
		kp, err := mtls.Issue(ca, spec, now)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	policy, err := authz.ParsePolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ix := kubeindex.New(kubeindex.Config{StartRevision: 1})
	srv := New(schema, ix, logger)
	a := NewAuthorizer("cluster.local.", authz.StaticSource(policy), true, logger)
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{certificate(mtls.CertSpec{Identity: "recordsvc", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool})),
		grpc.ChainStreamInterceptor(a.StreamInterceptor()))
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		srv.Shutdown()
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	dial := func(identity string) clusterdnsv1.RecordServiceClient {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13, RootCAs: pool,
			Certificates: []tls.Certificate{certificate(mtls.CertSpec{Identity: identity, Client: true})}})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return clusterdnsv1.NewRecordServiceClient(conn)
	}
	return srv, ix, dial
}

// BenchmarkWatchFanout delivers one change per iteration to streams Watch
// streams, each on its own connection, and waits until the last has it:
// with the encoding shared, and without (an interceptor's transparent
// wrapper turns sharing off, which is how every stream sent before
// sharing). cpu-ns/op is the whole process's CPU time per change, the
// receiving clients included (the same in both).
func BenchmarkWatchFanout(b *testing.B) {
	for _, streams := range []int{100, 1000} {
		for _, shared := range []bool{true, false} {
			b.Run(fmt.Sprintf("streams=%d/shared=%v", streams, shared), func(b *testing.B) { benchmarkWatchFanout(b, streams, shared) })
		}
	}
}

// wrappedStream is a transparent wrapper, as an interceptor would make.
type wrappedStream struct{ grpc.ServerStream }

func benchmarkWatchFanout(b *testing.B, streams int, shared bool) {
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ix := kubeindex.New(kubeindex.Config{StartRevision: 1})
	ix.SetNamespace("default")
	ix.MarkSynced()
	srv := New(schema, ix, slog.New(slog.DiscardHandler))
	var opts []grpc.ServerOption
	if !shared {
		opts = append(opts, grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(s, wrappedStream{ss})
		}))
	}
	gs := grpc.NewServer(append(ServerOptions(), opts...)...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go gs.Serve(lis)
	defer func() {
		srv.Shutdown()
		gs.Stop()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var received, want atomic.Int64
	done := make(chan struct{}, 1)
	for i := range streams {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		s, err := clusterdnsv1.NewRecordServiceClient(conn).Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: fmt.Sprint("bench-", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				if _, err := s.Recv(); err != nil {
					return
				}
				if received.Add(1) == want.Load() {
					done <- struct{}{}
				}
			}
		}()
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	b.ResetTimer()
	for i := range b.N {
		want.Store(int64(i+1) * int64(streams))
		ix.SetNamespace(fmt.Sprint("bench-", i))
		select {
		case <-done:
		case <-ctx.Done():
			b.Fatalf("change %d: %d of %d deliveries", i, received.Load(), want.Load())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	srv.encoded.mu.Lock()
	b.ReportMetric(float64(srv.encoded.encodes)/float64(b.N), "encodes/op")
	srv.encoded.mu.Unlock()
}
