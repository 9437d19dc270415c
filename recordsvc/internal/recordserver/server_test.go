package recordserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// The Index is the Store dnsschema answers from.
var _ dnsschema.Store = (*kubeindex.Index)(nil)

type testServer struct {
	ix   *kubeindex.Index
	srv  *Server
	gs   *grpc.Server
	conn *grpc.ClientConn
	rs   clusterdnsv1.RecordServiceClient
}

// start serves a fresh Index on 127.0.0.1:0 and dials it.
func start(t *testing.T, cfg kubeindex.Config, dialOpts ...grpc.DialOption) *testServer {
	t.Helper()
	return startSchema(t, dnsschema.Config{}, cfg, dialOpts...)
}

// startSchema is start with a schema configuration.
func startSchema(t *testing.T, schemaCfg dnsschema.Config, cfg kubeindex.Config, dialOpts ...grpc.DialOption) *testServer {
	t.Helper()
	schema, err := dnsschema.New(schemaCfg)
	if err != nil {
		t.Fatal(err)
	}
	ix := kubeindex.New(cfg)
	srv := New(schema, ix, slog.New(slog.NewTextHandler(io.Discard, nil)))
	gs := grpc.NewServer()
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(),
		append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Shutdown()
		gs.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{ix: ix, srv: srv, gs: gs, conn: conn, rs: clusterdnsv1.NewRecordServiceClient(conn)}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func feed(ix *kubeindex.Index) {
	ix.SetNamespace("default")
	ix.SetService(kubeindex.Service{
		Namespace: "default", Name: "kubernetes",
		ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.1")},
		Ports:      []kubeindex.Port{{Name: "https", Protocol: "tcp", Port: 443}},
	})
}

// answers renders the answer section in a compact presentation form.
func answers(resp *clusterdnsv1.LookupResponse) []string {
	var out []string
	for _, rr := range resp.GetAnswer() {
		switch d := rr.GetData().(type) {
		case *clusterdnsv1.ResourceRecord_A:
			out = append(out, rr.GetName()+" A "+d.A.GetAddress())
		case *clusterdnsv1.ResourceRecord_Aaaa:
			out = append(out, rr.GetName()+" AAAA "+d.Aaaa.GetAddress())
		case *clusterdnsv1.ResourceRecord_Cname:
			out = append(out, rr.GetName()+" CNAME "+d.Cname.GetTarget())
		default:
			out = append(out, fmt.Sprintf("%s %T", rr.GetName(), d))
		}
	}
	return out
}

func TestLookup(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	feed(ts.ix)

	resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetResult() != clusterdnsv1.Result_RESULT_NOT_READY {
		t.Fatalf("before sync: %v, want NOT_READY", resp.GetResult())
	}
	ts.ix.MarkSynced()

	tests := []struct {
		name    string
		qname   string
		qtype   uint32
		result  clusterdnsv1.Result
		answers []string
	}{
		{"service A", "kubernetes.default.svc.cluster.local", 1, clusterdnsv1.Result_RESULT_SUCCESS,
			[]string{"kubernetes.default.svc.cluster.local. A 10.96.0.1"}},
		{"case kept", "Kubernetes.Default.SVC.cluster.local.", 1, clusterdnsv1.Result_RESULT_SUCCESS,
			[]string{"Kubernetes.Default.SVC.cluster.local. A 10.96.0.1"}},
		{"no AAAA", "kubernetes.default.svc.cluster.local.", 28, clusterdnsv1.Result_RESULT_NO_DATA, nil},
		{"unknown type", "kubernetes.default.svc.cluster.local.", 65280, clusterdnsv1.Result_RESULT_NO_DATA, nil},
		{"unknown service", "unknown.default.svc.cluster.local.", 1, clusterdnsv1.Result_RESULT_NAME_ERROR, nil},
		{"outside the zone", "example.com.", 1, clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: tt.qtype,
				ClientIp: "10.244.0.5", Transport: clusterdnsv1.Transport_TRANSPORT_UDP})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetResult() != tt.result || !slices.Equal(answers(resp), tt.answers) {
				t.Fatalf("got %v %v, want %v %v", resp.GetResult(), answers(resp), tt.result, tt.answers)
			}
			if resp.GetServerId() != ts.srv.ID() || resp.GetServerId() == "" {
				t.Fatalf("server_id %q, want %q", resp.GetServerId(), ts.srv.ID())
			}
			if resp.GetRevision() != ts.ix.Revision() {
				t.Fatalf("revision %d, want %d", resp.GetRevision(), ts.ix.Revision())
			}
		})
	}
}

func TestLookupInvalid(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ts.ix.MarkSynced()
	ctx := callCtx(t)
	long := strings.Repeat("a.", 127) + "local" // 259 characters
	tests := []struct {
		name string
		req  *clusterdnsv1.LookupRequest
		want string
	}{
		{"empty name", &clusterdnsv1.LookupRequest{Qtype: 1}, "name: empty"},
		{"root", &clusterdnsv1.LookupRequest{Name: ".", Qtype: 1}, "name: empty"},
		{"too long", &clusterdnsv1.LookupRequest{Name: long, Qtype: 1}, "more than the 253"},
		{"empty label", &clusterdnsv1.LookupRequest{Name: "a..cluster.local.", Qtype: 1}, "label 2 is empty"},
		{"long label", &clusterdnsv1.LookupRequest{Name: strings.Repeat("x", 64) + ".cluster.local.", Qtype: 1},
			"label 1 is 64 octets long"},
		{"bad client IP", &clusterdnsv1.LookupRequest{Name: "a.cluster.local.", Qtype: 1, ClientIp: "10.0.0.1:53"},
			"client_ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ts.rs.Lookup(ctx, tt.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Fatalf("got %v, want InvalidArgument containing %q", err, tt.want)
			}
		})
	}
	// The longest valid name is accepted.
	longest := strings.Repeat("a.", 122) + "cluster.local" // 257 - 4 = 253 characters
	if _, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: longest[len(longest)-253:], Qtype: 1}); err != nil {
		t.Fatalf("253-character name rejected: %v", err)
	}
}

func recv(t *testing.T, stream grpc.ServerStreamingClient[clusterdnsv1.WatchResponse]) *clusterdnsv1.WatchResponse {
	t.Helper()
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return msg
}

func TestWatch(t *testing.T) {
	ts := start(t, kubeindex.Config{StartRevision: 500})
	ctx := callCtx(t)
	ts.ix.SetNamespace("default")

	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	first := recv(t, stream)
	if !first.GetResync() || first.GetRevision() != 501 || first.GetServerId() != ts.srv.ID() || len(first.GetKeys()) != 0 {
		t.Fatalf("first message %v, want resync at 501", first)
	}
	feed(ts.ix)
	ts.ix.DeleteNamespace("default")
	want := []struct {
		revision uint64
		keys     []string
	}{
		{502, []string{"ip/10.96.0.1", "svc/default/kubernetes", "svcs/default"}},
		{503, []string{"ns/default"}},
	}
	for _, w := range want {
		msg := recv(t, stream)
		if msg.GetResync() || msg.GetRevision() != w.revision || !slices.Equal(msg.GetKeys(), w.keys) ||
			msg.GetServerId() != ts.srv.ID() {
			t.Fatalf("got %v, want revision %d keys %v", msg, w.revision, w.keys)
		}
	}
	if first.GetChangeTime() != nil {
		t.Errorf("resync marker with change_time %v", first.GetChangeTime())
	}
}

// TestWatchChangeTime checks that every change is dated: by the
// EndpointSlice trigger time when the writer has one, else by the time the
// index observed it.
func TestWatchChangeTime(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, stream)
	slice := func(ip string) kubeindex.EndpointSlice {
		return kubeindex.EndpointSlice{Namespace: "default", Name: "web-abc", Service: "web", Endpoints: []kubeindex.Endpoint{
			{Addresses: []netip.Addr{netip.MustParseAddr(ip)}, Ready: true}}}
	}
	triggered := time.Now().Add(-1500 * time.Millisecond).Truncate(time.Microsecond)
	tests := []struct {
		name  string
		write func()
		// want is the expected change_time; zero means "observed": between
		// the write's start and end.
		want time.Time
	}{
		{"observed", func() { ts.ix.SetNamespace("default") }, time.Time{}},
		{"triggered", func() { ts.ix.SetEndpointSliceAt(slice("10.244.0.1"), triggered) }, triggered},
		{"untriggered slice", func() { ts.ix.SetEndpointSliceAt(slice("10.244.0.2"), time.Time{}) }, time.Time{}},
		{"trigger in the future", func() {
			ts.ix.SetEndpointSliceAt(slice("10.244.0.3"), time.Now().Add(time.Hour))
		}, time.Time{}},
	}
	for _, tt := range tests {
		before := time.Now()
		tt.write()
		after := time.Now()
		got := recv(t, stream).GetChangeTime()
		switch {
		case got == nil || !got.IsValid():
			t.Errorf("%s: change_time %v", tt.name, got)
		case !tt.want.IsZero() && !got.AsTime().Equal(tt.want):
			t.Errorf("%s: change_time %v, want %v", tt.name, got.AsTime(), tt.want)
		case tt.want.IsZero() && (got.AsTime().Before(before) || got.AsTime().After(after)):
			t.Errorf("%s: change_time %v, want within [%v, %v]", tt.name, got.AsTime(), before, after)
		}
	}
}

// TestReplicas runs two record services on the same cluster state, as two
// replicas behind a headless Service: each is independent, with its own
// server_id on every Lookup and Watch message, so that a client can tell
// their revisions apart even when they coincide.
func TestReplicas(t *testing.T) {
	a := start(t, kubeindex.Config{StartRevision: 100})
	b := start(t, kubeindex.Config{StartRevision: 100})
	ctx := callCtx(t)
	for _, ts := range []*testServer{a, b} {
		feed(ts.ix)
		ts.ix.MarkSynced()
	}
	if a.srv.ID() == b.srv.ID() {
		t.Fatalf("replicas share server_id %q", a.srv.ID())
	}
	for _, ts := range []*testServer{a, b} {
		resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1})
		if err != nil {
			t.Fatal(err)
		}
		stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{})
		if err != nil {
			t.Fatal(err)
		}
		first := recv(t, stream)
		if resp.GetServerId() != ts.srv.ID() || first.GetServerId() != ts.srv.ID() ||
			resp.GetRevision() != first.GetRevision() {
			t.Fatalf("lookup %q@%d and watch %q@%d, want both from %q at one revision",
				resp.GetServerId(), resp.GetRevision(), first.GetServerId(), first.GetRevision(), ts.srv.ID())
		}
	}
	// A change reaches the replica whose index it is made in only.
	sa, err := a.rs.Watch(ctx, &clusterdnsv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, sa)
	b.ix.SetNamespace("only-b")
	a.ix.SetNamespace("only-a")
	if msg := recv(t, sa); !slices.Equal(msg.GetKeys(), []string{"ns/only-a"}) {
		t.Fatalf("replica a announced %v", msg.GetKeys())
	}
}

// TestWatchOverflow stops reading a Watch stream while changes pour in: the
// server must end the stream with Unavailable after delivering a gapless
// prefix, and the writers must not block.
func TestWatchOverflow(t *testing.T) {
	// A fixed flow-control window keeps the server from buffering without
	// bound on behalf of a client that does not read.
	ts := start(t, kubeindex.Config{SubscriberBuffer: 8},
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	ctx := callCtx(t)
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	next := recv(t, stream).GetRevision() + 1
	const changes = 50000
	for i := range changes {
		ts.ix.SetNamespace(fmt.Sprintf("ns-%d", i))
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want Unavailable", err)
			}
			break
		}
		if msg.GetRevision() != next {
			t.Fatalf("revision %d, want %d (gap)", msg.GetRevision(), next)
		}
		next++
	}
	if delivered := next - (ts.ix.Revision() - changes + 1); delivered >= changes {
		t.Fatalf("all %d changes delivered: no overflow", delivered)
	}
}

func TestHealth(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	hc := healthpb.NewHealthClient(ts.conn)
	services := []string{"", "clusterdns.v1.RecordService"}
	check := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, svc := range services {
			deadline := time.Now().Add(60 * time.Second)
			for {
				resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil {
					t.Fatalf("Check(%q): %v", svc, err)
				}
				if resp.GetStatus() == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Check(%q) = %v, want %v", svc, resp.GetStatus(), want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	check(healthpb.HealthCheckResponse_NOT_SERVING)
	ts.ix.MarkSynced()
	check(healthpb.HealthCheckResponse_SERVING)
	ts.srv.Shutdown()
	check(healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestReflectionRegistered(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	info := ts.gs.GetServiceInfo()
	for _, name := range []string{"clusterdns.v1.RecordService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if _, ok := info[name]; !ok {
			t.Errorf("service %s not registered", name)
		}
	}
}

// TestShutdownEndsWatch checks that Shutdown ends Watch streams so that
// GracefulStop can complete.
func TestShutdownEndsWatch(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, stream)
	ts.srv.Shutdown()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Shutdown: %v, want Unavailable", err)
	}
	requireGracefulStop(t, ts)
}

// requireGracefulStop fails the test when the gRPC server's GracefulStop
// does not complete: a stream still open holds it.
func requireGracefulStop(t *testing.T, ts *testServer) {
	t.Helper()
	stopped := make(chan struct{})
	go func() { ts.gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatalf("GracefulStop did not complete")
	}
}

func TestMetrics(t *testing.T) {
	ts := start(t, kubeindex.Config{StartRevision: 7})
	reg := prometheus.NewRegistry()
	if err := ts.srv.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx := callCtx(t)
	feed(ts.ix)
	slice := func(ip string) kubeindex.EndpointSlice {
		return kubeindex.EndpointSlice{Namespace: "default", Name: "kubernetes", Service: "kubernetes",
			Endpoints: []kubeindex.Endpoint{{Addresses: []netip.Addr{netip.MustParseAddr(ip)}, Ready: true}}}
	}
	// The programming delay counts triggered changes after the first sync
	// only.
	triggered := time.Now().Add(-time.Second)
	ts.ix.SetEndpointSliceAt(slice("192.168.0.10"), triggered)
	ts.ix.MarkSynced()
	ts.ix.SetEndpointSliceAt(slice("192.168.0.11"), triggered)
	ts.ix.SetEndpointSlice(slice("192.168.0.12"))
	for _, name := range []string{"kubernetes.default.svc.cluster.local.", "nope.default.svc.cluster.local.", ""} {
		_, _ = ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: name, Qtype: 1}) // results counted below
	}
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, stream)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"clusterdns_recordsvc_lookups_total{result=success}":          1,
		"clusterdns_recordsvc_lookups_total{result=name_error}":       1,
		"clusterdns_recordsvc_lookups_total{result=invalid_argument}": 1,
		"clusterdns_recordsvc_lookups_total{result=not_ready}":        0,
		"clusterdns_recordsvc_lookup_duration_seconds":                2,
		"clusterdns_recordsvc_watch_streams":                          1,
		"clusterdns_recordsvc_revision":                               12,
		"clusterdns_recordsvc_synced":                                 1,
		"clusterdns_recordsvc_autopath_completions_total":             0,
		"clusterdns_recordsvc_programming_delay_seconds":              1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestWatchLargeChange checks that a change with more keys than fit one
// message arrives whole, split over messages of its revision.
func TestWatchLargeChange(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rev := recv(t, stream).GetRevision() + 1
	var snap kubeindex.Snapshot
	const namespaces = 2*maxKeysPerMessage + 10
	for i := range namespaces {
		snap.Namespaces = append(snap.Namespaces, fmt.Sprintf("ns-%05d", i))
	}
	ts.ix.Replace(snap)
	var got []string
	for len(got) < namespaces {
		msg := recv(t, stream)
		if msg.GetRevision() != rev || len(msg.GetKeys()) > maxKeysPerMessage {
			t.Fatalf("message at %d with %d keys, want revision %d and at most %d keys",
				msg.GetRevision(), len(msg.GetKeys()), rev, maxKeysPerMessage)
		}
		got = append(got, msg.GetKeys()...)
	}
	if len(got) != namespaces || got[0] != "ns/ns-00000" || got[namespaces-1] != fmt.Sprintf("ns/ns-%05d", namespaces-1) {
		t.Fatalf("received %d keys", len(got))
	}
}
