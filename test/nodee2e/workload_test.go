package nodee2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/clusterdns/clusterdns/test/kubenode"
)

// workload is what the client pods resolve: two backend pods (the pause
// image) behind a ClusterIP Service "web" and a headless Service "backends"
// that names them by hostname, in a namespace of the test's own.
type workload struct {
	ns        string
	clusterIP netip.Addr
	backends  []netip.Addr // backend-0's, then backend-1's
}

// backendCount is how many pods back the workload's Services.
const backendCount = 2

// setUpWorkload creates the workload in namespace ns and waits until both
// Services have their endpoints. The namespace is deleted at cleanup.
func setUpWorkload(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) *workload {
	t.Helper()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	// The namespace of the same test's previous run (go test -count) may
	// still be terminating: wait for it to go.
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		// Not waited for: the next test uses a namespace of its own.
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	labels := map[string]string{"app": "backend"}
	for i := range backendCount {
		name := fmt.Sprintf("backend-%d", i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: corev1.PodSpec{
				Hostname:                      name,
				Subdomain:                     "backends",
				TerminationGracePeriodSeconds: new(int64),
				Containers: []corev1.Container{{
					Name:            "pause",
					Image:           "localhost/pause:test",
					ImagePullPolicy: corev1.PullNever,
				}},
			},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
	}
	port := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(80)}}
	web := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: port},
	}
	web, err = cs.CoreV1().Services(ns).Create(ctx, web, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service web: %v", err)
	}
	headless := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "backends"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels, Ports: port},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, headless, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Service backends: %v", err)
	}
	w := &workload{ns: ns}
	if w.clusterIP, err = netip.ParseAddr(web.Spec.ClusterIP); err != nil {
		t.Fatalf("Service web's cluster IP %q: %v", web.Spec.ClusterIP, err)
	}
	w.backends = waitReadyIPs(ctx, t, cs, ns, backendCount)
	waitServiceEndpoints(ctx, t, cs, ns, "backends", backendCount)
	waitServiceEndpoints(ctx, t, cs, ns, "web", backendCount)
	return w
}

// waitReadyIPs waits until backend-0..n-1 are Ready and returns their IPs.
func waitReadyIPs(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, n int) []netip.Addr {
	t.Helper()
	ips := make([]netip.Addr, n)
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for i := range n {
			pod, err := cs.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("backend-%d", i), metav1.GetOptions{})
			if err != nil || !podReady(pod) {
				return false, nil
			}
			if ips[i], err = netip.ParseAddr(pod.Status.PodIP); err != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("backend pods in %s not ready: %v", ns, err)
	}
	return ips
}

// waitServiceEndpoints waits until the Service's EndpointSlices hold n
// ready endpoints.
func waitServiceEndpoints(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, svc string, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return len(readyEndpoints(ctx, cs, ns, svc)) >= n, nil
	})
	if err != nil {
		t.Fatalf("Service %s/%s never had %d ready endpoints: %v", ns, svc, n, err)
	}
}

// readyEndpoints returns the names of the pods behind the Service's ready
// endpoints (the address when an endpoint names no pod).
func readyEndpoints(ctx context.Context, cs kubernetes.Interface, ns, svc string) []string {
	return endpointNames(ctx, cs, ns, svc, true)
}

// allEndpoints is readyEndpoints with the endpoints that are not ready
// (terminating ones among them) too.
func allEndpoints(ctx context.Context, cs kubernetes.Interface, ns, svc string) []string {
	return endpointNames(ctx, cs, ns, svc, false)
}

func endpointNames(ctx context.Context, cs kubernetes.Interface, ns, svc string, readyOnly bool) []string {
	list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc,
	})
	if err != nil {
		return nil
	}
	var names []string
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if readyOnly && (ep.Conditions.Ready == nil || !*ep.Conditions.Ready) {
				continue
			}
			if ep.TargetRef != nil {
				names = append(names, ep.TargetRef.Name)
			} else if len(ep.Addresses) > 0 {
				names = append(names, ep.Addresses[0])
			}
		}
	}
	return names
}

func podReady(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targets are the NAME=EXPECT arguments of the loop clients: cluster names
// as applications write them (a short name through the ndots:5 search list,
// a partial name, an FQDN, a headless Service, a pod's hostname under its
// subdomain, a dashed pod name, the kubernetes Service), a name that must
// not exist, and names of the node's upstream, outside the cluster.
func (w *workload) targets() []string {
	ips := make([]string, len(w.backends))
	for i, a := range w.backends {
		ips[i] = a.String()
	}
	dashed := strings.ReplaceAll(ips[0], ".", "-")
	ext := strings.TrimSuffix(kubenode.UpstreamName, ".")
	return []string{
		"web=" + w.clusterIP.String(),
		"web." + w.ns + "=" + w.clusterIP.String(),
		"web." + w.ns + ".svc.cluster.local.=" + w.clusterIP.String(),
		"backends." + w.ns + ".svc.cluster.local=" + strings.Join(ips, ","),
		"backend-1.backends=" + ips[1],
		dashed + "." + w.ns + ".pod.cluster.local.=" + ips[0],
		"kubernetes.default=10.96.0.1",
		"nosuch." + w.ns + ".svc.cluster.local.=NXDOMAIN",
		ext + "=" + kubenode.UpstreamA.String() + "," + kubenode.UpstreamAAAA.String(),
		"nosuch." + strings.TrimSuffix(kubenode.UpstreamZone, ".") + ".=NXDOMAIN",
	}
}
