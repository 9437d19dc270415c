package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/clusterdns/clusterdns/test/kubecluster"
)

// linearParams are the cluster-proportional-autoscaler's linear-mode
// parameters, as its ConfigMap's "linear" key holds them.
type linearParams struct {
	CoresPerReplica           float64 `json:"coresPerReplica"`
	NodesPerReplica           float64 `json:"nodesPerReplica"`
	Min                       int     `json:"min"`
	Max                       int     `json:"max"`
	PreventSinglePointFailure bool    `json:"preventSinglePointFailure"`
	IncludeUnschedulableNodes bool    `json:"includeUnschedulableNodes"`
}

// replicas is the autoscaler's documented linear formula:
// max(ceil(cores/coresPerReplica), ceil(nodes/nodesPerReplica)), then at
// least 2 on a cluster of several nodes when preventSinglePointFailure is
// set, then bounded by min and max (a zero max is no bound).
func (p linearParams) replicas(nodes, cores int) int {
	n := 0
	if p.CoresPerReplica > 0 {
		n = int(math.Ceil(float64(cores) / p.CoresPerReplica))
	}
	if p.NodesPerReplica > 0 {
		n = max(n, int(math.Ceil(float64(nodes)/p.NodesPerReplica)))
	}
	if p.PreventSinglePointFailure && nodes > 1 {
		n = max(n, 2)
	}
	if p.Max > 0 {
		n = min(n, p.Max)
	}
	return max(n, p.Min)
}

// TestProportionalAutoscaler applies the base with the proportional
// Component, then, for clusters of several sizes, does as the autoscaler
// does under its own ServiceAccount: lists the nodes, reads the parameters
// from its ConfigMap and sets the frontend Deployment's scale to what the
// linear formula gives. It checks the counts the shipped parameters give and
// that the ServiceAccount may scale nothing else.
func TestProportionalAutoscaler(t *testing.T) {
	t.Parallel()
	c := kubecluster.Start(t)
	c.Apply(t, renderWithComponent(t, c, "proportional"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	impersonated := *c.RESTConfig
	impersonated.Impersonate.UserName = "system:serviceaccount:kube-system:clusterdns-frontend-autoscaler"
	sa, err := kubernetes.NewForConfig(&impersonated)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		nodes, coresPerNode int
		want                int
	}{
		{1, 4, 2},         // min 2, whatever the size
		{3, 8, 2},         // 24 cores, 3 nodes: one replica by either ratio
		{17, 4, 2},        // 17 nodes: ceil(17/16) = 2
		{40, 4, 3},        // 160 cores give 1, 40 nodes give 3
		{20, 64, 5},       // 1280 cores give 5, 20 nodes give 2
		{4, 1000, 16},     // 4000 cores: ceil(4000/256) = 16
		{2, 100_000, 100}, // capped at max
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d nodes of %d cores", tc.nodes, tc.coresPerNode), func(t *testing.T) {
			setNodes(ctx, t, c, tc.nodes, tc.coresPerNode)
			got := autoscaleAs(ctx, t, sa)
			if got != tc.want {
				t.Errorf("replicas %d, want %d", got, tc.want)
			}
			d, err := c.Client.AppsV1().Deployments("kube-system").Get(ctx, "clusterdns-frontend", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != tc.want {
				t.Errorf("frontend Deployment has replicas %v after the scale update, want %d", d.Spec.Replicas, tc.want)
			}
		})
	}

	t.Run("formula", func(t *testing.T) {
		// preventSinglePointFailure matters only below min 2; these rows pin
		// the formula itself with min 1.
		p := linearParams{CoresPerReplica: 256, NodesPerReplica: 16, Min: 1, PreventSinglePointFailure: true}
		rows := []struct{ nodes, cores, want int }{
			{1, 8, 1}, {2, 8, 2}, {16, 64, 2}, {33, 132, 3}, {10, 2560, 10}, {10, 2561, 11},
		}
		for _, r := range rows {
			if got := p.replicas(r.nodes, r.cores); got != r.want {
				t.Errorf("%d nodes, %d cores: %d replicas, want %d", r.nodes, r.cores, got, r.want)
			}
		}
		p.PreventSinglePointFailure = false
		if got := p.replicas(2, 8); got != 1 {
			t.Errorf("without preventSinglePointFailure, 2 small nodes: %d replicas, want 1", got)
		}
	})

	t.Run("scope", func(t *testing.T) {
		scale := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: "clusterdns-recordsvc", Namespace: "kube-system"},
			Spec:       autoscalingv1.ScaleSpec{Replicas: 7},
		}
		if _, err := sa.AppsV1().Deployments("kube-system").UpdateScale(ctx, "clusterdns-recordsvc", scale, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("autoscaler scaling the record service: %v, want Forbidden", err)
		}
		if _, err := sa.CoreV1().ConfigMaps("kube-system").Get(ctx, "clusterdns-authz", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("autoscaler reading another ConfigMap: %v, want Forbidden", err)
		}
	})
}

// setNodes replaces the cluster's Node objects with n nodes of cores CPUs
// each (objects only: no kubelet runs).
func setNodes(ctx context.Context, t *testing.T, c *kubecluster.Cluster, n, cores int) {
	t.Helper()
	nodes := c.Client.CoreV1().Nodes()
	if err := nodes.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	cpu := resource.MustParse(fmt.Sprint(cores))
	for i := range n {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i)}}
		created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: cpu}
		created.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: cpu}
		if _, err := nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// autoscaleAs is one poll of the autoscaler with its ServiceAccount's
// rights: count nodes and cores, read the parameters, set the scale.
func autoscaleAs(ctx context.Context, t *testing.T, sa kubernetes.Interface) int {
	t.Helper()
	list, err := sa.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("autoscaler listing nodes: %v", err)
	}
	cores := 0
	for _, n := range list.Items {
		cores += int(n.Status.Capacity.Cpu().Value())
	}
	cm, err := sa.CoreV1().ConfigMaps("kube-system").Get(ctx, "clusterdns-frontend-autoscaler", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("autoscaler reading its ConfigMap: %v", err)
	}
	var p linearParams
	if err := json.Unmarshal([]byte(cm.Data["linear"]), &p); err != nil {
		t.Fatalf("ConfigMap key linear: %v", err)
	}
	if p.CoresPerReplica != 256 || p.NodesPerReplica != 16 || p.Min != 2 || !p.PreventSinglePointFailure || !p.IncludeUnschedulableNodes {
		t.Errorf("linear parameters %+v, want 256 cores and 16 nodes per replica, min 2, preventSinglePointFailure, unschedulable nodes counted", p)
	}
	want := p.replicas(len(list.Items), cores)
	deployments := sa.AppsV1().Deployments("kube-system")
	scale, err := deployments.GetScale(ctx, "clusterdns-frontend", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("autoscaler reading the frontend scale: %v", err)
	}
	scale.Spec.Replicas = int32(want)
	if _, err := deployments.UpdateScale(ctx, "clusterdns-frontend", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("autoscaler setting the frontend scale: %v", err)
	}
	return want
}
