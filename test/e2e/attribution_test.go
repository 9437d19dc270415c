package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// requestsByNamespace is the record service's per-namespace request count.
const requestsByNamespace = "clusterdns_recordsvc_requests_by_namespace_total"

// TestAttribution sends real DNS packets through a frontend from the
// address of a Pod the API server knows: the record service's query log
// names the pod, its namespace and address, its per-namespace metric counts
// the namespace (and an address without a pod as unknown), and the
// namespace's series goes away with the namespace. With --pods insecure no
// pod is watched and every client is unknown.
func TestAttribution(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "verified", "--query-log")
	fe := stack.StartFrontend(t, bins, rs.Addr)
	unwatched := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "insecure", "--query-log")
	feUnwatched := stack.StartFrontend(t, bins, unwatched.Addr)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const podIP, strangerIP = "127.0.0.4", "127.0.0.5"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "attr-app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startFakePod(ctx, t, c, "attr-app", "web-0", podIP)
	waitForPodIndex(ctx, t, fe.Addr, podIP, "attr-app")

	t.Run("query log and metric name the pod's namespace", func(t *testing.T) {
		// Names never asked before, in a namespace that does not exist (a
		// frontend answers names absent from an existing one from its
		// directory), so that each question reaches the record service
		// rather than the frontend's cache.
		queryFrom(ctx, t, fe.Addr, podIP, "attr-udp.attr-none.svc.cluster.local", dns.TypeA, false)
		queryFrom(ctx, t, fe.Addr, podIP, "attr-tcp.attr-none.svc.cluster.local", dns.TypeA, true)
		queryFrom(ctx, t, fe.Addr, strangerIP, "attr-stranger.attr-none.svc.cluster.local", dns.TypeA, false)
		for _, name := range []string{"attr-udp", "attr-tcp"} {
			waitForLogLine(t, rs, "msg=lookup", "name="+name+".attr-none.svc.cluster.local.", "client_ip="+podIP,
				"namespace=attr-app", "pod=web-0")
		}
		waitForLogLine(t, rs, "name=attr-stranger.attr-none.svc.cluster.local.", "client_ip="+strangerIP, "namespace=unknown")
		waitForMetric(t, rs.MetricsAddr, requestsByNamespace, map[string]string{"namespace": "attr-app"}, 2)
		waitForMetric(t, rs.MetricsAddr, requestsByNamespace, map[string]string{"namespace": "unknown"}, 1)
	})

	t.Run("without watched pods every client is unknown", func(t *testing.T) {
		queryFrom(ctx, t, feUnwatched.Addr, podIP, "attr-unwatched.attr-none.svc.cluster.local", dns.TypeA, false)
		waitForLogLine(t, unwatched, "name=attr-unwatched.attr-none.svc.cluster.local.", "client_ip="+podIP, "namespace=unknown")
		waitForMetric(t, unwatched.MetricsAddr, requestsByNamespace, map[string]string{"namespace": "unknown"}, 1)
		if n := stack.ScrapeMetrics(t, unwatched.MetricsAddr).SumWhere(requestsByNamespace, map[string]string{"namespace": "attr-app"}); n != 0 {
			t.Fatalf("%s{namespace=attr-app} = %v without watched pods, want no series", requestsByNamespace, n)
		}
	})

	t.Run("a deleted namespace's series goes away", func(t *testing.T) {
		zero := int64(0)
		if err := c.Client.CoreV1().Pods("attr-app").Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.CoreV1().Namespaces().Delete(ctx, "attr-app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// No namespace controller runs: finalize the namespace as it would.
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, "attr-app", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Spec.Finalizers = nil
		if _, err := c.Client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(changeTimeout)
		for stack.ScrapeMetrics(t, rs.MetricsAddr).SumWhere(requestsByNamespace, map[string]string{"namespace": "attr-app"}) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s{namespace=attr-app} still exported after the namespace was deleted", requestsByNamespace)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
