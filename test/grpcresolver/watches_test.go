package grpcresolver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/clusterdns/clusterdns/grpcresolver"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// watchers is how many resolvers (and, for contrast, client-go watches)
// the watch-count test opens.
const watchers = 20

// apiWatches reads the kube-apiserver's count of watchers:
// apiserver_registered_watchers (watchers of its watch cache, by kind) when
// the build has it, else the open WATCH requests of
// apiserver_longrunning_requests.
func apiWatches(t *testing.T, ctx context.Context, c *kubecluster.Cluster) (float64, string) {
	t.Helper()
	raw, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("kube-apiserver /metrics: %v", err)
	}
	m, err := stack.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("kube-apiserver /metrics: %v", err)
	}
	names := m.Names()
	if slices.Contains(names, "apiserver_registered_watchers") {
		return m.Sum("apiserver_registered_watchers"), "apiserver_registered_watchers"
	}
	if slices.Contains(names, "apiserver_longrunning_requests") {
		return m.SumWhere("apiserver_longrunning_requests", map[string]string{"verb": "WATCH"}), `apiserver_longrunning_requests{verb="WATCH"}`
	}
	t.Fatalf("kube-apiserver /metrics has neither apiserver_registered_watchers nor apiserver_longrunning_requests")
	return 0, ""
}

// TestResolversAddNoAPIWatches opens resolvers for many Services and checks
// that the API server's open watches do not grow, then opens as many
// client-go EndpointSlice watches (what a resolver that watches the API
// itself needs) to show what they would have added.
func TestResolversAddNoAPIWatches(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "many"
	createNamespace(t, ctx, c, ns)
	for i := range watchers {
		createService(t, ctx, c, ns, fmt.Sprint("svc-", i), false, 8080)
	}
	// Each resolver holds one stream, and the record service allows 16
	// per client by default.
	rsvc := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--max-streams-per-client", fmt.Sprint(2*watchers))
	b, err := grpcresolver.NewBuilder(grpcresolver.WithRecordService(rsvc.Addr), grpcresolver.WithClientName("test-watches"))
	if err != nil {
		t.Fatal(err)
	}
	// The record service's own watches are open once it serves a Service.
	probe, err := grpc.NewClient("clusterdns:///svc-0."+ns+":grpc", grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	probe.Connect()
	eventually(t, "record service follows one stream", func() string {
		if n := stack.ScrapeMetrics(t, rsvc.MetricsAddr).Sum("clusterdns_recordsvc_discovery_watch_streams"); n != 1 {
			return fmt.Sprintf("%v streams", n)
		}
		return ""
	})
	before, metric := apiWatches(t, ctx, c)

	var conns []*grpc.ClientConn
	for i := 1; i <= watchers; i++ {
		conn, err := grpc.NewClient(fmt.Sprintf("clusterdns:///svc-%d.%s:grpc", i%watchers, ns), grpc.WithResolvers(b),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		conn.Connect() // leaves idle: builds the resolver
		conns = append(conns, conn)
	}
	eventually(t, "record service follows every resolver", func() string {
		if n := stack.ScrapeMetrics(t, rsvc.MetricsAddr).Sum("clusterdns_recordsvc_discovery_watch_streams"); n != watchers+1 {
			return fmt.Sprintf("%v streams, want %d", n, watchers+1)
		}
		return ""
	})
	withResolvers, _ := apiWatches(t, ctx, c)
	for _, conn := range append(conns, probe) {
		conn.Close()
	}

	// The contrast: one client-go watch per followed Service.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ws []watch.Interface
	for i := range watchers {
		w, err := c.Client.DiscoveryV1().EndpointSlices(ns).Watch(wctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=svc-" + fmt.Sprint(i)})
		if err != nil {
			t.Fatalf("client-go watch %d: %v", i, err)
		}
		ws = append(ws, w)
	}
	var withClientGo float64
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if withClientGo, _ = apiWatches(t, ctx, c); withClientGo >= before+watchers {
			break
		}
	}
	// Not asserted: in this harness the gauge did not show the client-go
	// watches (their series stayed at 0), which is still being looked into.
	for _, w := range ws {
		w.Stop()
	}
	cancel()

	t.Logf("kube-apiserver %s: %v before, %v with %d clusterdns:/// resolvers (+%v), %v with %d client-go EndpointSlice watches (+%v)",
		metric, before, withResolvers, watchers, withResolvers-before, withClientGo, watchers, withClientGo-before)
	if withResolvers > before {
		t.Errorf("%d resolvers added %v watches on the API server", watchers, withResolvers-before)
	}
}
