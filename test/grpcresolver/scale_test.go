package grpcresolver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/clusterdns/clusterdns/grpcresolver"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// Bounds of the scaling scenario: functional deadlines, not timings.
const (
	// scaleUpBound is how long new backends may take to receive calls.
	scaleUpBound = 10 * time.Second
	// grace follows a propagated removal before calls are counted.
	grace = time.Second
	// observe is how long calls are counted after the grace.
	observe = 2 * time.Second
	// maxCallsPerPhase bounds every call loop.
	maxCallsPerPhase = 20000
)

// outcome is what one resolver achieved in the scaling scenario.
type outcome struct {
	resolver         string
	reached          int           // new backends called within scaleUpBound, of 3
	delay            time.Duration // until the last of them was called
	toRemoved        int64         // calls to removed backends after removal + grace
	toTerminating    int64         // calls to the terminating backend after the change + grace
	failedCalls      int
	allReachedInTime bool
}

// scenario is the cluster side of the scaling test: two Services (one
// headless) over the same five backends, whose EndpointSlices the test
// writes together.
type scenario struct {
	t        *testing.T
	ctx      context.Context
	c        *kubecluster.Cluster
	ns       string
	port     int
	backends []*backend
	disc     clusterdnsv1.DiscoveryServiceClient
}

// set writes both slices with eps and waits until the record service
// serves them: from then on the change has reached every watcher. It
// returns when the write was done.
func (s *scenario) set(eps []endpoint) time.Time {
	s.t.Helper()
	written := time.Now()
	for _, svc := range []string{"echo", "echo-headless"} {
		writeSlice(s.t, s.ctx, s.c, s.ns, svc, s.port, eps)
	}
	var want []string
	for _, e := range eps {
		if e.ready {
			want = append(want, e.ip)
		}
	}
	eventually(s.t, "record service has the new endpoints", func() string {
		resp, err := s.disc.GetService(s.ctx, &clusterdnsv1.GetServiceRequest{Ref: &clusterdnsv1.ServiceRef{Namespace: s.ns, Name: "echo-headless"}})
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, e := range resp.GetState().GetEndpoints() {
			if e.GetReady() {
				got = append(got, e.GetAddresses()...)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("ready %v, want %v", got, want)
		}
		return ""
	})
	return written
}

// endpoints returns the endpoints of backends idx, all ready.
func (s *scenario) endpoints(idx ...int) []endpoint {
	var out []endpoint
	for _, i := range idx {
		out = append(out, readyEndpoint(s.backends[i].ip))
	}
	return out
}

// calls sends health checks through conn until done says stop, the
// time bound passes or maxCallsPerPhase were sent; it returns the number
// of failed calls.
func calls(ctx context.Context, conn *grpc.ClientConn, bound time.Duration, done func() bool) int {
	client := healthpb.NewHealthClient(conn)
	failed := 0
	end := time.Now().Add(bound)
	for n := 0; n < maxCallsPerPhase && time.Now().Before(end) && !done(); n++ {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := client.Check(cctx, &healthpb.HealthCheckRequest{}); err != nil {
			failed++
			time.Sleep(10 * time.Millisecond) // a failing channel fails fast; do not spin
		}
		cancel()
	}
	return failed
}

// counts snapshots the calls each backend answered.
func (s *scenario) counts() []int64 {
	out := make([]int64, len(s.backends))
	for i, b := range s.backends {
		out[i] = b.calls.Load()
	}
	return out
}

// run plays the scenario through a ClientConn of target: 2 backends, then
// 5, then 2 again, then one of the two terminating.
func (s *scenario) run(name, target string, opts ...grpc.DialOption) outcome {
	t := s.t
	t.Helper()
	out := outcome{resolver: name}
	s.set(s.endpoints(0, 1))
	conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))...)
	if err != nil {
		t.Fatalf("%s: NewClient(%s): %v", name, target, err)
	}
	defer conn.Close()

	base := s.counts()
	out.failedCalls += calls(s.ctx, conn, deadline, func() bool {
		now := s.counts()
		return now[0] > base[0] && now[1] > base[1]
	})
	if now := s.counts(); now[0] == base[0] || now[1] == base[1] {
		t.Fatalf("%s: the two first backends were not both called within %s", name, deadline)
	}

	// Scale up to five: when is each new backend first called?
	base = s.counts()
	start := s.set(s.endpoints(0, 1, 2, 3, 4))
	firstCall := map[int]time.Duration{}
	out.failedCalls += calls(s.ctx, conn, scaleUpBound, func() bool {
		now := s.counts()
		for i := 2; i < 5; i++ {
			if _, seen := firstCall[i]; !seen && now[i] > base[i] {
				firstCall[i] = time.Since(start)
			}
		}
		return len(firstCall) == 3
	})
	out.reached, out.allReachedInTime = len(firstCall), len(firstCall) == 3
	for _, d := range firstCall {
		out.delay = max(out.delay, d)
	}
	t.Logf("%s: new backends first called after %v (from the EndpointSlice write)", name, firstCall)

	// Scale down to two: the three removed backends keep running.
	s.set(s.endpoints(0, 1))
	out.failedCalls += calls(s.ctx, conn, grace, func() bool { return false })
	base = s.counts()
	out.failedCalls += calls(s.ctx, conn, observe, func() bool { return false })
	now := s.counts()
	for i := 2; i < 5; i++ {
		out.toRemoved += now[i] - base[i]
	}

	// Backend 1 terminates: not ready, still serving, its server still up.
	s.set([]endpoint{readyEndpoint(s.backends[0].ip), {ip: s.backends[1].ip, serving: true, terminating: true}})
	out.failedCalls += calls(s.ctx, conn, grace, func() bool { return false })
	base = s.counts()
	out.failedCalls += calls(s.ctx, conn, observe, func() bool { return false })
	now = s.counts()
	out.toTerminating = now[1] - base[1]
	if now[0] == base[0] {
		t.Errorf("%s: the remaining ready backend got no call while the other terminated", name)
	}
	return out
}

// TestScaling follows a Service scaled 2 -> 5 -> 2 and an endpoint that
// terminates, through clusterdns:/// (asserted) and through grpc-go's
// dns:/// resolver against the frontend (reported beside it).
func TestScaling(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	ips := loopbackAddrs(t, 1, 2, 3, 4, 5)
	port, backends := startBackends(t, ips)
	const ns = "scaling"
	createNamespace(t, ctx, c, ns)
	createService(t, ctx, c, ns, "echo", false, port)
	createService(t, ctx, c, ns, "echo-headless", true, port)
	rsvc := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	fe := stack.StartFrontend(t, bins, rsvc.Addr)
	discConn, err := grpc.NewClient(rsvc.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer discConn.Close()
	s := &scenario{t: t, ctx: ctx, c: c, ns: ns, port: port, backends: backends, disc: clusterdnsv1.NewDiscoveryServiceClient(discConn)}

	b, err := grpcresolver.NewBuilder(grpcresolver.WithRecordService(rsvc.Addr), grpcresolver.WithClientName("test-scaling"))
	if err != nil {
		t.Fatal(err)
	}
	ours := s.run("clusterdns:///", "clusterdns:///echo."+ns+":grpc", grpc.WithResolvers(b))
	theirs := s.run("dns:///", fmt.Sprintf("dns://%s/echo-headless.%s.svc.cluster.local:%d", fe.Addr, ns, port))

	var table strings.Builder
	fmt.Fprintf(&table, "\n%-15s %-28s %-12s %-26s %-26s %s\n", "resolver", "new backends called (of 3)", "delay", "calls to removed backends", "calls to terminating one", "failed calls")
	for _, o := range []outcome{ours, theirs} {
		delay := o.delay.Round(time.Millisecond).String()
		if !o.allReachedInTime {
			delay = "> " + scaleUpBound.String()
		}
		fmt.Fprintf(&table, "%-15s %-28d %-12s %-26d %-26d %d\n", o.resolver, o.reached, delay, o.toRemoved, o.toTerminating, o.failedCalls)
	}
	t.Logf("side by side (round_robin, calls in a loop; removed and terminating counted %s after propagation + %s):%s", observe, grace, table.String())

	if !ours.allReachedInTime {
		t.Errorf("clusterdns:///: %d of 3 new backends called within %s", ours.reached, scaleUpBound)
	}
	if ours.toRemoved != 0 {
		t.Errorf("clusterdns:///: %d calls to removed backends after the removal propagated", ours.toRemoved)
	}
	if ours.toTerminating != 0 {
		t.Errorf("clusterdns:///: %d calls to the terminating backend after the change propagated", ours.toTerminating)
	}
}
