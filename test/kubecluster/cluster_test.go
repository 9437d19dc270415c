package kubecluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStart(t *testing.T) {
	t.Parallel()
	c := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("default/kubernetes has the first IP of the range", func(t *testing.T) {
		svc, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.ClusterIP != "10.96.0.1" {
			t.Errorf("ClusterIP = %q, want 10.96.0.1", svc.Spec.ClusterIP)
		}
	})

	t.Run("kubectl uses the kubeconfig", func(t *testing.T) {
		out := c.Kubectl(t, "get", "namespace", "kube-system", "-o", "name")
		if strings.TrimSpace(out) != "namespace/kube-system" {
			t.Errorf("kubectl get namespace kube-system = %q", out)
		}
	})

	t.Run("kubectl failure is reported with its output", func(t *testing.T) {
		_, err := c.RunKubectl(ctx, "", "get", "service", "no-such-service")
		if err == nil || !strings.Contains(err.Error(), "NotFound") {
			t.Errorf("RunKubectl for a missing object: err = %v, want a NotFound error", err)
		}
	})

	t.Run("Pods get IPs and phase Running", func(t *testing.T) {
		pod := `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: podtest
spec:
  containers:
  - name: web
    image: registry.invalid/web:1
`
		c.Apply(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podtest\n")
		if _, err := c.RunKubectl(ctx, pod, "apply", "-f", "-"); err == nil || !strings.Contains(err.Error(), `serviceaccount "default" not found`) {
			t.Fatalf("Pod apply before its namespace has a default ServiceAccount: err = %v, want ServiceAccount admission to refuse it", err)
		}
		c.CreateServiceAccount(t, "podtest", "default")
		c.CreateServiceAccount(t, "podtest", "default") // exists: no error
		c.Apply(t, pod)
		c.SetPodIPs(t, "podtest", "web", []string{"10.244.1.5", "fd00:10:244:1::5"})
		got, err := c.Client.CoreV1().Pods("podtest").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ips []string
		for _, ip := range got.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		if got.Status.Phase != corev1.PodRunning || got.Status.PodIP != "10.244.1.5" ||
			!slices.Equal(ips, []string{"10.244.1.5", "fd00:10:244:1::5"}) {
			t.Errorf("pod status = phase %s podIP %s podIPs %v", got.Status.Phase, got.Status.PodIP, ips)
		}
	})

	t.Run("ServiceAccount kubeconfig carries only that account's rights", func(t *testing.T) {
		c.CreateServiceAccount(t, "default", "reader")
		kubeconfig := c.ServiceAccountKubeconfig(t, "default", "reader")
		out, err := c.RunKubectl(ctx, "", "--kubeconfig", kubeconfig, "get", "services")
		if err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Errorf("unbound ServiceAccount listed services: out %q err %v", out, err)
		}
		who := c.Kubectl(t, "--kubeconfig", kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		if who != "system:serviceaccount:default:reader" {
			t.Errorf("whoami = %q", who)
		}
	})
}

func TestStartInParallel(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a.Server == b.Server || a.Kubeconfig == b.Kubeconfig {
		t.Fatalf("two clusters share an address or kubeconfig: %s %s", a.Server, b.Server)
	}
	for _, c := range []*Cluster{a, b} {
		if out := c.Kubectl(t, "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"); out != "10.96.0.1" {
			t.Errorf("%s: kubernetes ClusterIP = %q", c.Server, out)
		}
	}
}

func TestDeclaredModule(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"plain", "module github.com/clusterdns/clusterdns\n\ngo 1.26.0\n", "github.com/clusterdns/clusterdns"},
		{"quoted", "// comment\nmodule \"github.com/clusterdns/clusterdns\"\n", "github.com/clusterdns/clusterdns"},
		{"nested module", "module github.com/clusterdns/clusterdns/test/kubeapiserver\n", "github.com/clusterdns/clusterdns/test/kubeapiserver"},
		{"no module line", "go 1.26.0\n", ""},
		{"modulename is not a module line", "modulex foo\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := declaredModule(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("declaredModule = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestModuleRootFindsBinDir(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "kubecluster")); err != nil {
		t.Errorf("module root %s does not hold test/kubecluster: %v", root, err)
	}
}
