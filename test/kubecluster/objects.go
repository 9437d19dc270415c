package kubecluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// kubectlTimeout bounds one kubectl invocation.
const kubectlTimeout = 60 * time.Second

// RunKubectl runs kubectl against the cluster with stdin as its input and
// returns its standard output. On failure the error carries stdout and stderr.
// It may be called from any goroutine.
func (c *Cluster) RunKubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, kubectlTimeout)
	defer cancel()
	full := append([]string{"--kubeconfig", c.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, c.kubectl, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// Kubectl runs kubectl with args and returns its standard output; it fails t
// with kubectl's output when kubectl fails.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.RunKubectl(context.Background(), "", args...)
	if err != nil {
		t.Fatalf("kubecluster: %v", err)
	}
	return out
}

// Apply runs `kubectl apply -f -` on manifest (one or more YAML documents).
func (c *Cluster) Apply(t testing.TB, manifest string) {
	t.Helper()
	if _, err := c.RunKubectl(context.Background(), manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubecluster: %v", err)
	}
}

// SetPodIPs plays the kubelet for Pod ns/name: it patches the status
// subresource to phase Running, Ready, with podIP ips[0] and podIPs ips.
func (c *Cluster) SetPodIPs(t testing.TB, ns, name string, ips []string) {
	t.Helper()
	if len(ips) == 0 {
		t.Fatalf("kubecluster: SetPodIPs %s/%s: no IPs", ns, name)
	}
	podIPs := make([]corev1.PodIP, 0, len(ips))
	for _, ip := range ips {
		podIPs = append(podIPs, corev1.PodIP{IP: ip})
	}
	now := metav1.Now()
	patch := map[string]any{
		"status": map[string]any{
			"phase":     corev1.PodRunning,
			"podIP":     ips[0],
			"podIPs":    podIPs,
			"startTime": now,
			"conditions": []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
		},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		t.Fatalf("kubecluster: SetPodIPs %s/%s: %v", ns, name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("kubecluster: SetPodIPs %s/%s %v: %v", ns, name, ips, err)
	}
}

// CreateServiceAccount creates ServiceAccount ns/name unless it exists. There
// is no controller manager, so each namespace's `default` ServiceAccount must
// be created this way before Pods can be admitted there.
func (c *Cluster) CreateServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubecluster: create ServiceAccount %s/%s: %v", ns, name, err)
	}
}

// ServiceAccountKubeconfig requests a one-hour token for the existing
// ServiceAccount ns/name and writes a kubeconfig that authenticates with it,
// so a binary can be run with exactly the rights RBAC grants that account.
func (c *Cluster) ServiceAccountKubeconfig(t testing.TB, ns, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	expiry := int64(3600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubecluster: token for ServiceAccount %s/%s: %v", ns, name, err)
	}
	return c.writeKubeconfig(t, "sa-"+ns+"-"+name, tr.Status.Token)
}
