package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// TestZoneAwareAnswers runs a record service with --zone-aware and --pods
// verified against a real kube-apiserver holding two zoned Nodes, a client
// Pod on each, and headless Services whose endpoints lie in both zones.
// Real DNS packets over UDP and TCP, from each client's address, through a
// frontend without --zone: each client gets its own zone's addresses first
// (only those for a Service with trafficDistribution PreferClose); moving
// a node to the other zone moves its client's answers at once. A second
// frontend with --zone caches its zone's answer and an EndpointSlice's zone
// update reaches it through the Watch stream, well before the 30 s TTL.
func TestZoneAwareAnswers(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "verified", "--zone-aware")
	fe := stack.StartFrontend(t, bins, rs.Addr)
	feB := stack.StartFrontend(t, bins, rs.Addr, "--zone", "zone-b")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns, clientA, clientB = "zoned", "127.0.0.31", "127.0.0.32"
	createNamespace(t, c, ns)
	createNode(ctx, t, c, "node-a", "zone-a")
	createNode(ctx, t, c, "node-b", "zone-b")
	startPodOn(ctx, t, c, ns, "client-a", "node-a", clientA)
	startPodOn(ctx, t, c, ns, "client-b", "node-b", clientB)
	waitForPodIndex(ctx, t, fe.Addr, clientA, ns)
	waitForPodIndex(ctx, t, fe.Addr, clientB, ns)

	eps := []discoveryv1.Endpoint{
		zonedEndpoint("10.40.0.1", "zone-a"), zonedEndpoint("10.40.0.2", "zone-b"), zonedEndpoint("10.40.0.3", "zone-a"),
	}
	createService(t, c, headlessService(ns, "spread", tcpPort("http", 80)))
	createSlice(t, c, endpointSlice(ns, "spread-1", "spread", "http", 80, eps...))
	nearSvc := headlessService(ns, "near", tcpPort("http", 80))
	preferClose := corev1.ServiceTrafficDistributionPreferClose
	nearSvc.Spec.TrafficDistribution = &preferClose
	createService(t, c, nearSvc)
	createSlice(t, c, endpointSlice(ns, "near-1", "near", "http", 80, eps...))
	spread, near := svcName(ns, "spread"), svcName(ns, "near")

	for _, tcp := range []bool{false, true} {
		t.Run(stack.Transport(tcp), func(t *testing.T) {
			cases := []struct {
				client, name string
				want         []string
			}{
				{clientA, spread, []string{"10.40.0.1", "10.40.0.3", "10.40.0.2"}},
				{clientB, spread, []string{"10.40.0.2", "10.40.0.1", "10.40.0.3"}},
				{clientA, near, []string{"10.40.0.1", "10.40.0.3"}},
				{clientB, near, []string{"10.40.0.2"}},
			}
			for _, tc := range cases {
				waitForAddresses(ctx, t, fe.Addr, tc.client, tc.name, tcp, tc.want)
			}
		})
	}

	t.Run("a node moving zone moves its client's answers", func(t *testing.T) {
		setNodeZone(ctx, t, c, "node-a", "zone-b")
		waitForAddresses(ctx, t, fe.Addr, clientA, spread, false, []string{"10.40.0.2", "10.40.0.1", "10.40.0.3"})
		waitForAddresses(ctx, t, fe.Addr, clientA, near, true, []string{"10.40.0.2"})
	})

	t.Run("a frontend's --zone is cached and follows slice updates", func(t *testing.T) {
		// Any client of the zone-b frontend is in zone-b, even one without
		// a pod.
		waitForAddresses(ctx, t, feB.Addr, "127.0.0.1", spread, false, []string{"10.40.0.2", "10.40.0.1", "10.40.0.3"})
		q := question{name: spread, qtype: dns.TypeA}
		waitCached(t, feB, q, false, ask(t, feB, q, false))
		updateSlice(t, c, ns, "spread-1", func(s *discoveryv1.EndpointSlice) {
			zone := "zone-b"
			s.Endpoints[2].Zone = &zone // 10.40.0.3
		})
		start := time.Now()
		waitForAddresses(ctx, t, feB.Addr, "127.0.0.1", spread, true, []string{"10.40.0.2", "10.40.0.3", "10.40.0.1"})
		if d := time.Since(start); d > propagationBound {
			t.Errorf("zone update took %v to reach the frontend's cache, bound %v", d, propagationBound)
		}
	})
}

// zonedEndpoint is a ready endpoint with one address in zone.
func zonedEndpoint(ip, zone string) discoveryv1.Endpoint {
	e := endpoint(ip, true, "")
	e.Zone = &zone
	return e
}

// createNode creates a Node carrying the topology.kubernetes.io/zone label.
func createNode(ctx context.Context, t *testing.T, c *kubecluster.Cluster, name, zone string) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Node %s: %v", name, err)
	}
}

// setNodeZone relabels a Node.
func setNodeZone(ctx context.Context, t *testing.T, c *kubecluster.Cluster, name, zone string) {
	t.Helper()
	node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Labels[corev1.LabelTopologyZone] = zone
	if _, err := c.Client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("relabel Node %s: %v", name, err)
	}
}

// startPodOn creates a running Pod bound to node with address ip; nothing
// runs it (no kubelet), the API server only records it.
func startPodOn(ctx context.Context, t *testing.T, c *kubecluster.Cluster, ns, name, node, ip string) {
	t.Helper()
	c.CreateServiceAccount(t, ns, "default")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "client.invalid/none"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.SetPodIPs(t, ns, name, []string{ip})
}

// waitForAddresses asks name A from src until the answer's addresses come
// in the order want, within propagationBound, and then checks that the
// next answers keep that order: the frontend rotates other A answers from
// one reply to the next, never a zone-aware one.
func waitForAddresses(ctx context.Context, t *testing.T, addr, src, name string, tcp bool, want []string) {
	t.Helper()
	deadline := time.Now().Add(propagationBound)
	var got []string
	for {
		got = addressesOf(queryFrom(ctx, t, addr, src, name, dns.TypeA, tcp))
		if slices.Equal(got, want) {
			for range 3 {
				if again := addressesOf(queryFrom(ctx, t, addr, src, name, dns.TypeA, tcp)); !slices.Equal(again, want) {
					t.Fatalf("%s A from %s over %s at %s: %v after %v: the order moved", name, src, stack.Transport(tcp), addr, again, want)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s A from %s over %s at %s: %v, want %v", name, src, stack.Transport(tcp), addr, got, want)
		}
		time.Sleep(propagationPoll)
	}
}

// addressesOf lists the A and AAAA addresses of a reply in answer order.
func addressesOf(r *dns.Msg) []string {
	out := []string{}
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		default:
			out = append(out, fmt.Sprintf("unexpected %s", dns.TypeToString[rr.Header().Rrtype]))
		}
	}
	return out
}
