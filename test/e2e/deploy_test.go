package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// deployDir is the kustomize base, relative to this package.
const deployDir = "../../deploy"

// deployObjects are the objects the base must create, as kubectl names them.
var deployObjects = []string{
	"serviceaccount/clusterdns-recordsvc",
	"clusterrole.rbac.authorization.k8s.io/clusterdns-recordsvc",
	"clusterrolebinding.rbac.authorization.k8s.io/clusterdns-recordsvc",
	"service/clusterdns-recordsvc",
	"service/clusterdns-recordsvc-vip",
	"service/kube-dns",
	"deployment.apps/clusterdns-frontend",
	"deployment.apps/clusterdns-recordsvc",
	"poddisruptionbudget.policy/clusterdns-frontend",
	"poddisruptionbudget.policy/clusterdns-recordsvc",
	"serviceaccount/clusterdns-certs",
	"role.rbac.authorization.k8s.io/clusterdns-certs",
	"rolebinding.rbac.authorization.k8s.io/clusterdns-certs",
	"job.batch/clusterdns-bootstrap-certs",
	"cronjob.batch/clusterdns-renew-certs",
	"configmap/clusterdns-authz",
	"configmap/clusterdns-recordsvc",
	"configmap/clusterdns-frontend",
	"networkpolicy.networking.k8s.io/clusterdns-recordsvc",
}

// TestDeployServerDryRun validates deploy/ with the API server's own
// admission and validation, then applies it for real and checks the objects
// that make it a drop-in for kubeadm's kube-dns.
func TestDeployServerDryRun(t *testing.T) {
	t.Parallel()
	c := kubecluster.Start(t)

	out := c.Kubectl(t, "apply", "--dry-run=server", "-k", deployDir)
	var got []string
	for line := range strings.Lines(out) {
		name, outcome, _ := strings.Cut(strings.TrimSpace(line), " ")
		if outcome != "created (server dry run)" {
			t.Errorf("dry run: %q, want `<object> created (server dry run)`", line)
		}
		got = append(got, name)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(deployObjects))
	if !slices.Equal(got, want) {
		t.Fatalf("dry run created\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	c.Kubectl(t, "apply", "-k", deployDir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("kube-dns Service", func(t *testing.T) {
		svc, err := c.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.ClusterIP != "10.96.0.10" {
			t.Errorf("ClusterIP %s, want 10.96.0.10", svc.Spec.ClusterIP)
		}
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, p.Name+" "+string(p.Protocol)+" "+p.TargetPort.String())
		}
		if want := []string{"dns UDP 53", "dns-tcp TCP 53", "metrics TCP 9153"}; !slices.Equal(ports, want) {
			t.Errorf("ports %q, want %q", ports, want)
		}
	})

	t.Run("frontends run without credentials on the node's resolvers", func(t *testing.T) {
		d, err := c.Client.AppsV1().Deployments("kube-system").Get(ctx, "clusterdns-frontend", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec := d.Spec.Template.Spec
		if spec.DNSPolicy != corev1.DNSDefault {
			t.Errorf("dnsPolicy %s, want Default", spec.DNSPolicy)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Error("the frontend pod mounts a service-account token")
		}
		caps := spec.Containers[0].SecurityContext.Capabilities
		if !slices.Contains(caps.Add, "NET_BIND_SERVICE") {
			t.Errorf("capabilities %v lack NET_BIND_SERVICE", caps.Add)
		}
	})

	t.Run("the frontends read a valid configuration file from their ConfigMap", func(t *testing.T) {
		cm, err := c.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "clusterdns-frontend", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := dnsconfig.Parse([]byte(cm.Data["frontend.yaml"]))
		if err != nil {
			t.Fatalf("ConfigMap clusterdns-frontend, frontend.yaml: %v", err)
		}
		if err := f.Validate(); err != nil {
			t.Fatalf("ConfigMap clusterdns-frontend, frontend.yaml: %v", err)
		}
		d, err := c.Client.AppsV1().Deployments("kube-system").Get(ctx, "clusterdns-frontend", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctr := d.Spec.Template.Spec.Containers[0]
		if !slices.Contains(ctr.Args, "--config=/etc/clusterdns/config/frontend.yaml") {
			t.Errorf("args %q lack --config=/etc/clusterdns/config/frontend.yaml", ctr.Args)
		}
		mounted := slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.MountPath == "/etc/clusterdns/config" && m.Name == "config"
		})
		fromCM := slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
			return v.Name == "config" && v.ConfigMap != nil && v.ConfigMap.Name == "clusterdns-frontend"
		})
		if !mounted || !fromCM {
			t.Errorf("/etc/clusterdns/config mounted %v, from ConfigMap clusterdns-frontend %v; want both", mounted, fromCM)
		}
	})

	t.Run("the record service account may only read what DNS needs", func(t *testing.T) {
		as := "--as=system:serviceaccount:kube-system:clusterdns-recordsvc"
		tests := []struct {
			verb, resource string
			allowed        bool
		}{
			{"list", "services", true},
			{"watch", "services", true},
			{"get", "services", true},
			{"list", "namespaces", true},
			{"watch", "namespaces", true},
			{"list", "pods", true},
			{"watch", "pods", true},
			{"list", "endpointslices.discovery.k8s.io", true},
			{"watch", "endpointslices.discovery.k8s.io", true},
			{"list", "endpoints", false},
			{"create", "services", false},
			{"update", "endpointslices.discovery.k8s.io", false},
			{"delete", "pods", false},
			{"get", "secrets", false},
			{"list", "configmaps", false},
			{"list", "nodes", false},
		}
		for _, tt := range tests {
			// can-i prints yes or no and exits non-zero for no.
			out, _ := c.RunKubectl(ctx, "", "auth", "can-i", tt.verb, tt.resource, "--all-namespaces", as)
			want := map[bool]string{true: "yes", false: "no"}[tt.allowed]
			if strings.TrimSpace(out) != want {
				t.Errorf("can-i %s %s = %q, want %s", tt.verb, tt.resource, strings.TrimSpace(out), want)
			}
		}
	})
}

// TestDeployRBACSufficesForRecordService runs the record service with the
// token of the ServiceAccount deploy/ creates, so its informers get exactly
// the rights the ClusterRole grants, and resolves through a frontend.
func TestDeployRBACSufficesForRecordService(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	c.Kubectl(t, "apply", "-k", deployDir)
	kubeconfig := c.ServiceAccountKubeconfig(t, "kube-system", "clusterdns-recordsvc")

	rs := stack.StartRecordService(t, bins, "--kubeconfig", kubeconfig, "--pods", "insecure")
	fe := stack.StartFrontend(t, bins, rs.Addr)
	for _, tcp := range []bool{false, true} {
		stack.Eventually(t, 30*time.Second, fe.Addr, "kube-dns.kube-system.svc.cluster.local", dns.TypeA, tcp, func(r *dns.Msg) string {
			return checkAnswer(t, r, "kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10")
		})
	}
}
