package grpcresolver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/clusterdns/clusterdns/grpcresolver"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// watchers is how many resolvers (and, for contrast, client-go informers)
// the watch-count test opens.
const watchers = 20

// longRunning is the kube-apiserver gauge of requests in flight that do
// not end on their own. It has a series per verb, group, version,
// resource, subresource, scope and component; an open watch is one
// request of verb WATCH in it for as long as the watch lasts.
// (apiserver_registered_watchers, which counted watchers of the watch
// cache, no longer exists in the kube-apiserver this test runs.)
const longRunning = "apiserver_longrunning_requests"

// apiWatches is a reading of the kube-apiserver's open watches.
type apiWatches struct {
	all            float64 // every WATCH request in flight
	endpointSlices float64 // those on discovery.k8s.io EndpointSlices, of any scope
}

func (w apiWatches) String() string {
	return fmt.Sprintf("%v (%v on EndpointSlices)", w.all, w.endpointSlices)
}

// readAPIWatches scrapes the kube-apiserver's /metrics with the cluster's
// admin credentials.
func readAPIWatches(t *testing.T, ctx context.Context, c *kubecluster.Cluster) apiWatches {
	t.Helper()
	raw, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("kube-apiserver /metrics: %v", err)
	}
	m, err := stack.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("kube-apiserver /metrics: %v", err)
	}
	if !slices.Contains(m.Names(), longRunning) {
		t.Fatalf("kube-apiserver /metrics has no %s", longRunning)
	}
	return apiWatches{
		all:            m.SumWhere(longRunning, map[string]string{"verb": "WATCH"}),
		endpointSlices: m.SumWhere(longRunning, map[string]string{"verb": "WATCH", "group": "discovery.k8s.io", "resource": "endpointslices"}),
	}
}

// startInformers starts n EndpointSlice informers on namespace ns, the
// i-th following the slices of Service svc-i, each with a clientset of
// its own: what n programs that resolve through the Kubernetes API (one
// informer per followed Service) hold. It returns once every informer has
// synced; the informers stop when the test ends.
//
// A bare Watch is not the contrast: without a resource version it waits
// for the watch cache to catch up with etcd, and in this cluster, where
// nothing writes EndpointSlices, the cache never does and the API server
// ends the watch after a few seconds ("Too large resource version"). An
// informer lists first and watches from the list's version, and re-lists
// whenever a watch ends, which is what long-lived clients do.
func startInformers(t *testing.T, ctx context.Context, c *kubecluster.Cluster, ns string, n int) {
	t.Helper()
	ictx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	var synced []cache.InformerSynced
	for i := range n {
		client, err := kubernetes.NewForConfig(rest.CopyConfig(c.RESTConfig))
		if err != nil {
			t.Fatal(err)
		}
		selector := discoveryv1.LabelServiceName + "=" + fmt.Sprint("svc-", i)
		factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
		informer := factory.Discovery().V1().EndpointSlices().Informer()
		factory.Start(ictx.Done())
		t.Cleanup(factory.Shutdown) // after cancel (cleanups run last first): waits for the informer's goroutines
		synced = append(synced, informer.HasSynced)
	}
	sctx, scancel := context.WithTimeout(ictx, deadline)
	defer scancel()
	if !cache.WaitForCacheSync(sctx.Done(), synced...) {
		t.Fatalf("%d EndpointSlice informers not synced within %s", n, deadline)
	}
}

// TestResolversAddNoAPIWatches opens resolvers for many Services and checks
// that the API server's open watches do not grow, then starts as many
// client-go EndpointSlice informers (what a resolver that watches the API
// itself needs) and checks that the same reading sees each of their
// watches: without that contrast a reading that never moves would pass.
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
	streams := func(want int) func() string {
		return func() string {
			if n := stack.ScrapeMetrics(t, rsvc.MetricsAddr).Sum("clusterdns_recordsvc_discovery_watch_streams"); n != float64(want) {
				return fmt.Sprintf("%v streams, want %d", n, want)
			}
			return ""
		}
	}
	// The record service's own watches are open once it serves a Service.
	probe, err := grpc.NewClient("clusterdns:///svc-0."+ns+":grpc", grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	probe.Connect()
	eventually(t, "record service follows one stream", streams(1))
	before := readAPIWatches(t, ctx, c)

	var conns []*grpc.ClientConn
	for i := 1; i <= watchers; i++ {
		conn, err := grpc.NewClient(fmt.Sprintf("clusterdns:///svc-%d.%s:grpc", i%watchers, ns), grpc.WithResolvers(b),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Connect() // leaves idle: builds the resolver
		conns = append(conns, conn)
	}
	eventually(t, "record service follows every resolver", streams(watchers+1))
	withResolvers := readAPIWatches(t, ctx, c)
	for _, conn := range conns {
		conn.Close()
	}
	eventually(t, "record service drops the closed resolvers' streams", streams(1))

	// The contrast: one informer per followed Service. Their watches are
	// open once they have synced, but the reading is polled, bounded,
	// for the request to be counted.
	startInformers(t, ctx, c, ns, watchers)
	var withClientGo apiWatches
	eventually(t, fmt.Sprintf("kube-apiserver counts the watches of %d informers", watchers), func() string {
		withClientGo = readAPIWatches(t, ctx, c)
		if withClientGo.endpointSlices < before.endpointSlices+watchers {
			return fmt.Sprintf("open watches %v, %v before", withClientGo, before)
		}
		return ""
	})

	t.Logf("kube-apiserver %s{verb=\"WATCH\"}: %v before, %v with %d clusterdns:/// resolvers (+%v), %v with %d client-go EndpointSlice informers (+%v)",
		longRunning, before, withResolvers, watchers, withResolvers.all-before.all, withClientGo, watchers, withClientGo.all-before.all)
	if withResolvers.all > before.all || withResolvers.endpointSlices > before.endpointSlices {
		t.Errorf("%d resolvers added watches on the API server: %v before, %v with them", watchers, before, withResolvers)
	}
	if withClientGo.all < before.all+watchers {
		t.Errorf("%d informers added %v watches on the API server, want >= %d", watchers, withClientGo.all-before.all, watchers)
	}
}
