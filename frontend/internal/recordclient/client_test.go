package recordclient_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// fakeRecords is a RecordService whose Watch streams send what the test
// puts in msgs and break when the test writes to breaks.
type fakeRecords struct {
	clusterdnsv1.UnimplementedRecordServiceServer
	lookupDelay time.Duration
	result      clusterdnsv1.Result
	msgs        chan *clusterdnsv1.WatchResponse
	breaks      chan struct{}

	mu      sync.Mutex
	lookups []*clusterdnsv1.LookupRequest
}

func newFake() *fakeRecords {
	return &fakeRecords{
		result: clusterdnsv1.Result_RESULT_SUCCESS,
		msgs:   make(chan *clusterdnsv1.WatchResponse),
		breaks: make(chan struct{}),
	}
}

func (f *fakeRecords) Lookup(ctx context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	f.mu.Lock()
	f.lookups = append(f.lookups, req)
	f.mu.Unlock()
	select {
	case <-time.After(f.lookupDelay):
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &clusterdnsv1.LookupResponse{Result: f.result, Revision: 3, ServerId: "s1"}, nil
}

func (f *fakeRecords) Watch(_ *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	for {
		select {
		case m := <-f.msgs:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-f.breaks:
			return status.Error(codes.Unavailable, "stream broken by the test")
		case <-stream.Context().Done():
			return nil
		}
	}
}

// serve starts a gRPC server for f on addr ("127.0.0.1:0" for any port).
func serve(t *testing.T, f *fakeRecords, addr string) (*grpc.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(s, f)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return s, ln.Addr().String()
}

// recorder is a WatchHandler that reports calls on a channel.
type recorder struct{ events chan string }

func (r recorder) Resync(server string, rev uint64) {
	r.events <- fmt.Sprintf("resync %s %d", server, rev)
}
func (r recorder) Invalidate(server string, rev uint64, keys []string) {
	r.events <- fmt.Sprintf("invalidate %s %d %s", server, rev, strings.Join(keys, ","))
}
func (r recorder) Disconnected() { r.events <- "disconnected" }

func expect(t *testing.T, events <-chan string, want string) {
	t.Helper()
	select {
	case got := <-events:
		if got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no event, want %q", want)
	}
}

func send(t *testing.T, f *fakeRecords, m *clusterdnsv1.WatchResponse) {
	t.Helper()
	select {
	case f.msgs <- m:
	case <-time.After(10 * time.Second):
		t.Fatal("no Watch stream took the message")
	}
}

func newClient(t *testing.T, target string, timeout time.Duration) *recordclient.Client {
	t.Helper()
	c, err := recordclient.New(recordclient.Config{
		Target:        target,
		LookupTimeout: timeout,
		MinBackoff:    10 * time.Millisecond,
		MaxBackoff:    50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestWatchStream(t *testing.T) {
	f := newFake()
	_, addr := serve(t, f, "127.0.0.1:0")
	c := newClient(t, addr, time.Second)
	rec := recorder{events: make(chan string, 16)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, rec) }()

	steps := []struct {
		name  string
		act   func()
		want  string
		watch bool // WatchConnected after the step
	}{
		{"first message counts as resync",
			func() { send(t, f, &clusterdnsv1.WatchResponse{Revision: 5, ServerId: "s1"}) }, "resync s1 5", true},
		{"invalidation",
			func() {
				send(t, f, &clusterdnsv1.WatchResponse{Revision: 6, ServerId: "s1", Keys: []string{"svc/ns/a", "ns/ns"}})
			}, "invalidate s1 6 svc/ns/a,ns/ns", true},
		{"resync marker mid-stream",
			func() { send(t, f, &clusterdnsv1.WatchResponse{Revision: 7, ServerId: "s1", Resync: true}) }, "resync s1 7", true},
		{"broken stream",
			func() { f.breaks <- struct{}{} }, "disconnected", false},
		{"reconnected",
			func() { send(t, f, &clusterdnsv1.WatchResponse{Revision: 8, ServerId: "s1", Resync: true}) }, "resync s1 8", true},
	}
	for _, s := range steps {
		s.act()
		expect(t, rec.events, s.want)
		if got := c.WatchConnected(); got != s.watch {
			t.Errorf("%s: WatchConnected = %v, want %v", s.name, got, s.watch)
		}
		if s.watch && !c.Ready() {
			t.Errorf("%s: not Ready with the stream open", s.name)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	expect(t, rec.events, "disconnected")
}

// TestWatchReconnectsToRestartedServer: the record service goes away and
// comes back (a new process, new server id) on the same address.
func TestWatchReconnectsToRestartedServer(t *testing.T) {
	f := newFake()
	s, addr := serve(t, f, "127.0.0.1:0")
	c := newClient(t, addr, time.Second)
	rec := recorder{events: make(chan string, 16)}
	go func() { _ = c.Watch(t.Context(), rec) }()

	send(t, f, &clusterdnsv1.WatchResponse{Revision: 5, ServerId: "s1", Resync: true})
	expect(t, rec.events, "resync s1 5")
	s.Stop()
	expect(t, rec.events, "disconnected")

	f2 := newFake()
	serve(t, f2, addr)
	send(t, f2, &clusterdnsv1.WatchResponse{Revision: 1, ServerId: "s2", Resync: true})
	expect(t, rec.events, "resync s2 1")
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name      string
		delay     time.Duration
		timeout   time.Duration
		result    clusterdnsv1.Result
		wantCode  codes.Code
		wantReady bool
	}{
		{"answer", 0, time.Second, clusterdnsv1.Result_RESULT_SUCCESS, codes.OK, true},
		{"not ready answer", 0, time.Second, clusterdnsv1.Result_RESULT_NOT_READY, codes.OK, false},
		{"deadline", 2 * time.Second, 50 * time.Millisecond, clusterdnsv1.Result_RESULT_SUCCESS, codes.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.lookupDelay, f.result = tt.delay, tt.result
			_, addr := serve(t, f, "127.0.0.1:0")
			c := newClient(t, addr, tt.timeout)
			start := time.Now()
			resp, err := c.Lookup(t.Context(), "Web.default.svc.cluster.local.", 28, "10.244.0.7", clusterdnsv1.Transport_TRANSPORT_TCP)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("Lookup code %v (err %v), want %v", got, err, tt.wantCode)
			}
			if tt.wantCode == codes.DeadlineExceeded && time.Since(start) > time.Second {
				t.Errorf("Lookup took %v, beyond its 50ms deadline", time.Since(start))
			}
			if err == nil && resp.GetResult() != tt.result {
				t.Errorf("result %v, want %v", resp.GetResult(), tt.result)
			}
			if c.Ready() != tt.wantReady {
				t.Errorf("Ready = %v, want %v", c.Ready(), tt.wantReady)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.wantCode == codes.DeadlineExceeded && len(f.lookups) == 0 {
				// On a loaded machine the deadline may pass before the
				// connection is up: the question then never left.
				return
			}
			if len(f.lookups) != 1 {
				t.Fatalf("%d lookups reached the server, want 1", len(f.lookups))
			}
			got := f.lookups[0]
			if got.GetName() != "Web.default.svc.cluster.local." || got.GetQtype() != 28 ||
				got.GetClientIp() != "10.244.0.7" || got.GetTransport() != clusterdnsv1.Transport_TRANSPORT_TCP {
				t.Errorf("request %v", got)
			}
		})
	}
}

func TestLookupServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := newClient(t, addr, 500*time.Millisecond)
	if _, err := c.Lookup(t.Context(), "a.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP); err == nil {
		t.Fatal("Lookup to a closed port succeeded")
	}
	if c.Ready() {
		t.Error("Ready with the record service down")
	}
}

func TestNewRejectsEmptyTarget(t *testing.T) {
	if _, err := recordclient.New(recordclient.Config{Target: " "}); err == nil {
		t.Error("New accepted an empty target")
	}
}
