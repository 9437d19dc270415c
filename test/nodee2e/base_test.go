package nodee2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/kubenode"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The base tests put deploy/overlays/local on the node and check what a
// cluster's users see: the clusterdns pods Ready, the record service allowed
// to read what it watches, kube-dns answering at its cluster IP through
// kube-proxy, and a pod with kubelet's resolv.conf resolving short names,
// FQDNs and external names.

// TestNodeNetworkSafety checks the node's guard rails before anything runs
// in it: the pod and Service ranges are unreachable from the host except
// through the node's own rules, and the harness's chain refuses pod traffic
// to anywhere else. Nothing is sent: the kernel's route lookup is asked, and
// an unreachable route answers it with "No route to host".
func TestNodeNetworkSafety(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := n.Config
	tests := []struct {
		name string
		dst  netip.Addr
		want string
	}{
		{name: "an unused Service address", dst: c.ServiceCIDR.Masked().Addr().Next().Next().Next().Next().Next(), want: "No route to host"},
		{name: "another node's pod range", dst: netip.MustParseAddr("10.244.99.1"), want: "No route to host"},
		{name: "this node's pods", dst: netip.MustParseAddr("10.244.0.50"), want: "dev " + c.Bridge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := kubenodeRun(ctx, "ip", "-4", "route", "get", tt.dst.String())
			if !strings.Contains(out, tt.want) {
				t.Fatalf("ip route get %s = %q, want %q in it", tt.dst, out, tt.want)
			}
		})
	}
	out, err := kubenodeRun(ctx, "iptables", "-w", "-S", "CLUSTERDNS-NODE-EGRESS")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("-A CLUSTERDNS-NODE-EGRESS -s %s -j REJECT", c.PodCIDR); !strings.Contains(out, want) {
		t.Fatalf("egress chain:\n%s\nwant a rule %q", out, want)
	}
}

// TestClusterDNSDeployed applies deploy/overlays/local and checks the
// clusterdns pods are Ready, the record service's ServiceAccount may list
// and watch what it serves, and kube-dns answers at its cluster IP over UDP
// and TCP through kube-proxy.
func TestClusterDNSDeployed(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := n.DeployClusterDNS(ctx); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"clusterdns-frontend", "clusterdns-recordsvc"} {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + app})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if podIsReady(&p) {
				ready++
			}
		}
		if ready < 2 {
			t.Errorf("%s: %d of %d pods Ready, want 2", app, ready, len(pods.Items))
		}
	}
	sa := "system:serviceaccount:kube-system:clusterdns-recordsvc"
	for _, res := range []string{"services", "endpointslices.discovery.k8s.io", "namespaces", "pods"} {
		for _, verb := range []string{"list", "watch"} {
			out, err := n.Kubectl(ctx, "auth", "can-i", verb, res, "--as="+sa)
			// The answer is the last line; kubectl may warn before it.
			if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "yes") {
				t.Errorf("%s may not %s %s: %s %v", sa, verb, res, out, err)
			}
		}
	}
	if out, _ := n.Kubectl(ctx, "auth", "can-i", "create", "services", "--as="+sa); !strings.HasSuffix(strings.TrimSpace(out), "no") {
		t.Errorf("%s may create services: %s", sa, out)
	}
	fqdn := "kubernetes.default.svc." + n.Config.ClusterDomain
	kubernetesIP := n.Config.ServiceCIDR.Masked().Addr().Next()
	if err := kubenode.CheckDNS(ctx, n.Config.ClusterDNS, fqdn, kubernetesIP); err != nil {
		t.Fatal(err)
	}
	resp, err := kubenode.QueryFromProbe(ctx, n.Config.ClusterDNS.String(), "udp", kubenode.UpstreamName, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 || !strings.HasSuffix(resp.Answer[0].String(), kubenode.UpstreamA.String()) {
		t.Fatalf("A %s through kube-dns: %v, want %s", kubenode.UpstreamName, resp.Answer, kubenode.UpstreamA)
	}
}

// TestPodResolvesThroughKubeletResolvConf runs a glibc client pod with
// dnsPolicy ClusterFirst and resolves, through kubelet's resolv.conf (ndots:5
// and the search list), the kubernetes Service by short name and FQDN, its
// address back to its name, and an external name of the node's upstream.
func TestPodResolvesThroughKubeletResolvConf(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := n.WaitClusterDNS(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	pod := startClientPod(ctx, t, n, "default", "dnsclient-base", "localhost/dnsclient-glibc:test")

	conf, err := n.Kubectl(ctx, "-n", "default", "exec", pod, "--", "cat", "/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	domain := n.Config.ClusterDomain
	for _, want := range []string{
		"nameserver " + n.Config.ClusterDNS.String(),
		fmt.Sprintf("search default.svc.%s svc.%s %s", domain, domain, domain),
		"options ndots:5",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("resolv.conf of the pod lacks %q:\n%s", want, conf)
		}
	}
	kubernetesIP := n.Config.ServiceCIDR.Masked().Addr().Next().String()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "short name", args: []string{"getent", "hosts", "kubernetes"}, want: kubernetesIP},
		{name: "namespace-qualified", args: []string{"getent", "hosts", "kubernetes.default"}, want: kubernetesIP},
		{name: "FQDN", args: []string{"getent", "hosts", "kubernetes.default.svc." + domain}, want: kubernetesIP},
		{name: "external name", args: []string{"getent", "ahostsv4", strings.TrimSuffix(kubenode.UpstreamName, ".")}, want: kubenode.UpstreamA.String()},
		{name: "dig over TCP", args: []string{"dig", "+tcp", "+short", "kubernetes.default.svc." + domain}, want: kubernetesIP},
		// Reverse names: glibc's gethostbyaddr and dig ask the PTR of the
		// kubernetes Service's address.
		{name: "reverse name", args: []string{"getent", "hosts", kubernetesIP}, want: "kubernetes.default.svc." + domain},
		{name: "dig reverse", args: []string{"dig", "+short", "-x", kubernetesIP}, want: "kubernetes.default.svc." + domain + "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := n.Kubectl(ctx, append([]string{"-n", "default", "exec", pod, "--"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("%s = %q, want %s", strings.Join(tt.args, " "), out, tt.want)
			}
		})
	}
}

// startClientPod runs image (which sleeps by default) as a pod in namespace
// and waits until it is Ready; the pod is deleted when the test ends.
func startClientPod(ctx context.Context, t *testing.T, n *kubenode.Node, namespace, name, image string) string {
	t.Helper()
	pods := n.Client.CoreV1().Pods(namespace)
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "client",
				Image:           image,
				ImagePullPolicy: corev1.PullNever,
			}},
			TerminationGracePeriodSeconds: &grace,
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("delete pod %s: %v", name, err)
		}
	})
	for {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err == nil && podIsReady(p) {
			return name
		}
		select {
		case <-ctx.Done():
			var status any
			if p != nil {
				status = p.Status
			}
			t.Fatalf("pod %s not Ready: %v (status %+v)", name, ctx.Err(), status)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// podIsReady reports the pod's Ready condition.
func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
