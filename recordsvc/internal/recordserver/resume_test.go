package recordserver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// watchUntil reads messages until one carries a state digest at revision
// rev and returns them all.
func watchUntil(t *testing.T, stream grpc.ServerStreamingClient[clusterdnsv1.WatchResponse], rev uint64) []*clusterdnsv1.WatchResponse {
	t.Helper()
	var out []*clusterdnsv1.WatchResponse
	for {
		msg := recv(t, stream)
		out = append(out, msg)
		if msg.GetRevision() == rev && len(msg.GetStateDigest()) > 0 {
			return out
		}
	}
}

func TestWatchResume(t *testing.T) {
	ts := start(t, kubeindex.Config{StartRevision: 100, HistoryChanges: 4})
	other := start(t, kubeindex.Config{StartRevision: 9000})
	ctx := callCtx(t)
	for _, ix := range []*kubeindex.Index{ts.ix, other.ix} {
		ix.SetNamespace("a")
		ix.SetNamespace("b")
		ix.MarkSynced() // resuming watchers wait for it
	}
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	first := recv(t, stream)
	if !first.GetResync() || first.GetResumed() || first.GetRevision() != 102 || len(first.GetStateDigest()) != 16 {
		t.Fatalf("first message %v", first)
	}
	point := first // the resume point: revision 102 and its digest
	for _, ix := range []*kubeindex.Index{ts.ix, other.ix} {
		ix.SetNamespace("c")
		ix.SetNamespace("d")
	}

	tests := []struct {
		name    string
		ts      *testServer
		req     *clusterdnsv1.WatchRequest
		resumed bool
		keys    []string
	}{
		{"same server by revision", ts, &clusterdnsv1.WatchRequest{ResumeRevision: point.GetRevision(),
			ResumeServerId: point.GetServerId()}, true, []string{"ns/c", "ns/d"}},
		{"same server by digest", ts, &clusterdnsv1.WatchRequest{ResumeServerId: "another",
			ResumeRevision: 1, ResumeDigest: point.GetStateDigest()}, true, []string{"ns/c", "ns/d"}},
		{"other replica by digest", other, &clusterdnsv1.WatchRequest{ResumeRevision: point.GetRevision(),
			ResumeServerId: point.GetServerId(), ResumeDigest: point.GetStateDigest()}, true, []string{"ns/c", "ns/d"}},
		{"other replica by revision only", other, &clusterdnsv1.WatchRequest{ResumeRevision: point.GetRevision(),
			ResumeServerId: point.GetServerId()}, false, nil},
		{"unknown digest", ts, &clusterdnsv1.WatchRequest{ResumeDigest: []byte("0123456789abcdef")}, false, nil},
		{"malformed digest", ts, &clusterdnsv1.WatchRequest{ResumeDigest: []byte{1, 2}}, false, nil},
		{"revision ahead of the server", ts, &clusterdnsv1.WatchRequest{ResumeRevision: 1 << 40,
			ResumeServerId: ts.srv.ID()}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.ts.rs.Watch(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			msgs := watchUntil(t, s, tt.ts.ix.Revision())
			var keys []string
			for _, m := range msgs {
				keys = append(keys, m.GetKeys()...)
			}
			m := msgs[0]
			if m.GetResumed() != tt.resumed || m.GetResync() == tt.resumed || !slices.Equal(keys, tt.keys) ||
				m.GetServerId() != tt.ts.srv.ID() {
				t.Fatalf("got %v, want resumed %v with keys %v", msgs, tt.resumed, tt.keys)
			}
			if d := tt.ts.ix.Digest(); !slices.Equal(msgs[len(msgs)-1].GetStateDigest(), d[:]) {
				t.Fatalf("state digest %x, index at %v", msgs[len(msgs)-1].GetStateDigest(), d)
			}
		})
	}

	// Six more changes push revision 102 out of a history of four.
	for i := range 6 {
		ts.ix.SetNamespace(fmt.Sprintf("n%d", i))
	}
	s, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ResumeRevision: point.GetRevision(),
		ResumeServerId: point.GetServerId(), ResumeDigest: point.GetStateDigest()})
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s); !m.GetResync() || m.GetResumed() {
		t.Fatalf("resume from a forgotten point: %v, want a resync", m)
	}
}

// TestWatchResumeLargeCatchUp checks that a catch-up larger than one message
// is split, resumed on the first message and the digest on the last only.
func TestWatchResumeLargeCatchUp(t *testing.T) {
	ts := start(t, kubeindex.Config{StartRevision: 1})
	ctx := callCtx(t)
	ts.ix.SetNamespace("a")
	start := ts.ix.Revision()
	names := make([]string, 0, maxKeysPerMessage+10)
	names = append(names, "a")
	for i := range maxKeysPerMessage + 9 {
		names = append(names, fmt.Sprintf("ns%d", i))
	}
	ts.ix.Replace(kubeindex.Snapshot{Namespaces: names})
	ts.ix.MarkSynced()
	s, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ResumeRevision: start, ResumeServerId: ts.srv.ID()})
	if err != nil {
		t.Fatal(err)
	}
	msgs := watchUntil(t, s, ts.ix.Revision())
	if len(msgs) != 2 || !msgs[0].GetResumed() || msgs[1].GetResumed() || len(msgs[0].GetStateDigest()) != 0 ||
		len(msgs[0].GetKeys())+len(msgs[1].GetKeys()) != maxKeysPerMessage+9 {
		t.Fatalf("%d messages: resumed %v/%v, keys %d+%d", len(msgs), msgs[0].GetResumed(), msgs[len(msgs)-1].GetResumed(),
			len(msgs[0].GetKeys()), len(msgs[len(msgs)-1].GetKeys()))
	}
}

// TestLameduck checks that Lameduck turns health NOT_SERVING while Lookups,
// LookupStreams and Watch streams go on, and Shutdown then ends the streams.
func TestLameduck(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	feed(ts.ix)
	ts.ix.MarkSynced()
	hc := healthpb.NewHealthClient(ts.conn)
	waitHealth := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %v %v, want %v", resp, err, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHealth(healthpb.HealthCheckResponse_SERVING)
	watch, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, watch)
	lookups, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ts.srv.Lameduck()
	if ts.srv.Ready() {
		t.Fatalf("ready in lameduck")
	}
	// Health changes at once: no polling needed after Lameduck returned.
	if resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health in lameduck: %v %v", resp, err)
	}
	q := &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1}
	if resp, err := ts.rs.Lookup(ctx, q); err != nil || resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
		t.Fatalf("Lookup in lameduck: %v %v", resp, err)
	}
	if err := lookups.Send(&clusterdnsv1.LookupStreamRequest{Id: 1, Request: q}); err != nil {
		t.Fatal(err)
	}
	if msg, err := lookups.Recv(); err != nil || msg.GetResponse().GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
		t.Fatalf("LookupStream in lameduck: %v %v", msg, err)
	}
	ts.ix.SetNamespace("new")
	if msg := recv(t, watch); !slices.Equal(msg.GetKeys(), []string{"ns/new"}) {
		t.Fatalf("Watch in lameduck: %v", msg)
	}

	ts.srv.Shutdown()
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("Watch after Shutdown: %v", err)
	}
	if _, err := lookups.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("LookupStream after Shutdown: %v", err)
	}
	requireGracefulStop(t, ts)
}

// bigHeadless adds a headless Service "big" in namespace "demo" with n
// endpoints of four named ports.
func bigHeadless(ix *kubeindex.Index, n int) {
	ports := []kubeindex.Port{{Name: "http", Protocol: "tcp", Port: 80}, {Name: "https", Protocol: "tcp", Port: 443},
		{Name: "metrics", Protocol: "tcp", Port: 9090}, {Name: "grpc", Protocol: "tcp", Port: 9091}}
	eps := make([]kubeindex.Endpoint, 0, n)
	for i := range n {
		eps = append(eps, kubeindex.Endpoint{Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})},
			Hostname: fmt.Sprintf("h%d", i), Ready: true, Ports: ports})
	}
	ix.SetNamespace("demo")
	ix.SetService(kubeindex.Service{Namespace: "demo", Name: "big", Headless: true, Ports: ports})
	ix.SetEndpointSlice(kubeindex.EndpointSlice{Namespace: "demo", Name: "big-1", Service: "big", Endpoints: eps})
}

// TestLookupStreamLargeAnswers asks a huge SRV question many times on one
// stream together with small questions: every answer arrives truncated
// under gRPC's limit, the stream stays up, and the small ones are answered.
func TestLookupStreamLargeAnswers(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	// Each of the first big answers takes a second or more with -race on a
	// loaded machine: a longer deadline than callCtx's.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	feed(ts.ix)
	bigHeadless(ts.ix, 12000)
	ts.ix.MarkSynced()
	stream, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	go func() {
		for i := range rounds {
			_ = stream.Send(&clusterdnsv1.LookupStreamRequest{Id: uint64(2 * i), Request: &clusterdnsv1.LookupRequest{
				Name: "big.demo.svc.cluster.local.", Qtype: 33}})
			_ = stream.Send(&clusterdnsv1.LookupStreamRequest{Id: uint64(2*i + 1), Request: &clusterdnsv1.LookupRequest{
				Name: "kubernetes.default.svc.cluster.local.", Qtype: 1}})
		}
	}()
	for range 2 * rounds {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		resp := msg.GetResponse()
		if msg.GetId()%2 == 0 {
			if !resp.GetTruncated() || len(resp.GetAnswer()) == 0 {
				t.Fatalf("big answer: truncated %v, %d records", resp.GetTruncated(), len(resp.GetAnswer()))
			}
		} else if got := answers(resp); !slices.Equal(got, []string{"kubernetes.default.svc.cluster.local. A 10.96.0.1"}) {
			t.Fatalf("small answer %v", got)
		}
	}
	// Every big answer after the first came from the memo: the same
	// response at the same revision.
	if r := ts.srv.memo.get(memoKey{"big.demo.svc.cluster.local.", 33}, ts.ix.Revision()); r == nil {
		t.Fatalf("large answer not memoized")
	}
	ts.ix.SetNamespace("moved")
	if r := ts.srv.memo.get(memoKey{"big.demo.svc.cluster.local.", 33}, ts.ix.Revision()); r != nil {
		t.Fatalf("memoized answer served at a later revision")
	}
}

func TestAnswerMemoBound(t *testing.T) {
	m := newAnswerMemo(3)
	for i := range 10 {
		m.answer(memoKey{fmt.Sprint(i), 1}, uint64(i/4), func() *clusterdnsv1.LookupResponse {
			return &clusterdnsv1.LookupResponse{Revision: uint64(i / 4), Truncated: true}
		})
	}
	if len(m.entries) != 3 {
		t.Fatalf("%d entries, want 3", len(m.entries))
	}
	if m.get(memoKey{"9", 1}, 2) == nil {
		t.Fatalf("newest entry gone")
	}
	if m.get(memoKey{"9", 1}, 3) != nil {
		t.Fatalf("entry of an older revision served")
	}
}
