package grpcresolver

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// backend is a gRPC health server on loopback that counts the calls it
// answers.
type backend struct {
	port  uint32
	mu    sync.Mutex
	calls int
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{port: uint32(lis.Addr().(*net.TCPAddr).Port)}
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b.mu.Lock()
		b.calls++
		b.mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(lis) // returns when stopped
	t.Cleanup(s.Stop)
	return b
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// TestClientConnRoundRobin runs a real ClientConn through the resolver:
// round_robin reaches every ready endpoint, each on its own target port,
// then stops calling one that terminates.
func TestClientConnRoundRobin(t *testing.T) {
	one, two := startBackend(t), startBackend(t)
	f := newFakeDiscovery("server-1")
	echo := svc("demo", "echo", port("grpc", 50051))
	// Both endpoints share the loopback address; their target ports tell
	// them apart, as two EndpointSlices with different ports would.
	first := ep("127.0.0.1", "a", port("grpc", one.port))
	second := ep("127.0.0.1", "b", port("grpc", two.port))
	f.set("demo", "echo", echo, first, second)
	addr, _ := serveFake(t, f, "127.0.0.1:0")
	b, err := NewBuilder(WithRecordService(addr), WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("clusterdns:///echo.demo:"+strconv.Itoa(50051), grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	call := func() {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	eventually(t, "both backends called", func() string {
		call()
		if one.count() == 0 || two.count() == 0 {
			return "calls " + strconv.Itoa(one.count()) + "/" + strconv.Itoa(two.count())
		}
		return ""
	})

	terminating := ep("127.0.0.1", "b", port("grpc", two.port))
	terminating.Ready, terminating.Terminating = false, true
	f.set("demo", "echo", echo, first, terminating)
	// Once the change has reached the balancer, no call goes to two.
	eventually(t, "terminating backend left", func() string {
		before := two.count()
		for range 10 {
			call()
		}
		if two.count() != before {
			return "terminating backend still called"
		}
		return ""
	})
}
