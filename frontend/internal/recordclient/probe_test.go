package recordclient_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Modes of switchHealth.
const (
	healthServing int32 = iota
	healthNotServing
	healthHang // a stopped process: the call never returns
)

// switchHealth is a gRPC health service whose answer the test switches.
type switchHealth struct {
	healthpb.UnimplementedHealthServer
	mode atomic.Int32
}

func (h *switchHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	switch h.mode.Load() {
	case healthServing:
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
	case healthNotServing:
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
	default:
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// TestReadyFollowsProbe: with a Watch stream open but silent, Ready follows
// the health probe: serving (or a server without the health service) is
// ready, NOT_SERVING or no answer is not, within a few probe intervals.
func TestReadyFollowsProbe(t *testing.T) {
	f := newFake()
	hs := &switchHealth{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(s, f)
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)

	c, err := recordclient.New(recordclient.Config{
		Target: ln.Addr().String(), LookupTimeout: time.Second,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		ProbeInterval: 50 * time.Millisecond, ReadyWindow: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if c.Ready() {
		t.Fatal("Ready before anything answered")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Watch(ctx, recorder{events: make(chan string, 16)}) }()
	t.Cleanup(func() { cancel(); <-done })

	steps := []struct {
		name  string
		mode  int32
		ready bool
	}{
		{"serving", healthServing, true},
		{"stopped", healthHang, false},
		{"serving again", healthServing, true},
		{"not serving", healthNotServing, false},
		{"serving once more", healthServing, true},
	}
	for _, st := range steps {
		hs.mode.Store(st.mode)
		deadline := time.Now().Add(10 * time.Second)
		for c.Ready() != st.ready {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Ready still %v after 10s, want %v", st.name, !st.ready, st.ready)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
