package nodee2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/kubenode"
)

// The node-local mode (deploy/node-local) on the one-machine node: a
// DaemonSet frontend on the node's network holding 169.254.20.10 and the
// kube-dns IP on a TUN device of its own.

const (
	nodeLocalDS    = "clusterdns-node-local"
	nodeLocalPods  = "app.kubernetes.io/name=clusterdns-node-local"
	nodeLocalTable = "clusterdns-nodelocal"
	// recordsvcVIP is the record service's Service with a cluster IP, the
	// node-local frontend's --recordsvc.
	recordsvcVIP = "clusterdns-recordsvc-vip"
	// nodeLocalArg picks the node-local frontend's process out of the
	// host's processes: no other process has it on its command line.
	nodeLocalArg = "--node-local-addresses="
)

var linkLocalDNS = netip.MustParseAddr("169.254.20.10")

// The zone the test gives the node, which the node-local frontend must
// pass as its --zone.
const (
	zoneLabel     = "topology.kubernetes.io/zone"
	nodeLocalZone = "nodelocal-zone-a"
)

// The resolver options of the node-local clients, explicit so that the
// counts below say what a failure means: glibc and Go try each query
// resolvAttempts times, waiting resolvTimeout seconds for each answer; a
// lookup fails only when every attempt does.
const (
	resolvTimeout  = 2
	resolvAttempts = 2
)

// TestNodeLocal deploys deploy/node-local over clusterdns and, while client
// pods resolve through 169.254.20.10 and through the kube-dns IP:
//   - with the base frontends scaled to zero (so the kube-dns Service has no
//     endpoint and nothing but the node-local frontend can answer), does a
//     rolling update and a pod delete of the DaemonSet: no lookup may fail
//     or be wrong;
//   - with the base frontends back, SIGKILLs the node-local frontend: the
//     kernel removes its device, and lookups through the kube-dns IP fall
//     back to the Service with none failing (those through 169.254.20.10
//     have no fallback: their counts are reported);
//   - deletes the DaemonSet: no device, rule table, local route of either
//     address or frontend process is left, and the kube-dns IP still
//     answers. A failed test removes them at cleanup too.
func TestNodeLocal(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	useDNS(ctx, t, n, clusterDNS)
	guardLinkLocal(ctx, t, n)
	routeServiceFromHost(ctx, t, n, recordsvcVIP)
	dir := writeNodeLocalKustomization(t)
	p := newProcedure(t, n, "deploy node-local")
	// The node's zone reaches the frontend's --zone through the pod's
	// labels (PodTopologyLabels admission) and the downward API.
	p.kubectl(ctx, "label", "node", "--all", "--overwrite", zoneLabel+"="+nodeLocalZone)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := n.Kubectl(ctx, "label", "node", "--all", zoneLabel+"-"); err != nil {
			t.Errorf("remove the node's zone label: %v: %s", err, out)
		}
	})
	p.kubectl(ctx, "apply", "-k", dir)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, _ = n.Kubectl(ctx, "delete", "-k", dir, "--ignore-not-found", "--wait=true", "--timeout=2m")
		removeNodeLocalLeftovers(ctx, t, n)
		scaleFrontends(ctx, t, n, 2)
	})
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "daemonset/"+nodeLocalDS, "--timeout=3m")
	waitNodeLocalAnswers(ctx, t, n)
	if cmd := nodeLocalCmdline(t); !slices.Contains(cmd, "--zone="+nodeLocalZone) {
		t.Errorf("node-local frontend's command line %q lacks --zone=%s (the node's zone label)", cmd, nodeLocalZone)
	}

	w := setUpWorkload(ctx, t, n.Client, "dns-nodelocal")
	scaleFrontends(ctx, t, n, 0)
	load := startNodeLocalLoad(ctx, t, n, w)
	begin := time.Now()
	upgradeDaemonSet(ctx, t, n, "node-local", nodeLocalDS, nodeLocalPods, load)
	checkLoad(t, "node-local upgrades (rolling update, pod delete; kube-dns Service without endpoints)",
		load.stop(ctx, t), time.Since(begin))

	// SIGKILL: the base frontends are back behind the kube-dns Service.
	scaleFrontends(ctx, t, n, 2)
	load = startNodeLocalLoad(ctx, t, n, w)
	begin = time.Now()
	dev := killNodeLocal(ctx, t)
	t.Logf("SIGKILL of the node-local frontend at %s, %.1fs after the clients started",
		time.Now().UTC().Format("15:04:05.000"), time.Since(load.started).Seconds())
	viaKubeDNS, viaLinkLocal := loadThroughRestart(ctx, t, n, nodeLocalPods, load, waitNodeLocalAnswers)
	checkLoad(t, fmt.Sprintf("SIGKILL of the node-local frontend (device %s), through the kube-dns IP (falls back to the Service)", dev),
		viaKubeDNS, time.Since(begin))
	if t.Failed() {
		logDNSServerLogs(ctx, t, n, nodeLocalPods)
	}
	if bad := reportLoad(t, "SIGKILL of the node-local frontend, through 169.254.20.10 (no fallback)", viaLinkLocal, time.Since(begin)); bad > 0 {
		t.Logf("through 169.254.20.10: %d lookups failed while no node-local frontend ran (expected: the link-local address has no fallback)", bad)
	}

	// Removal: nothing left behind, and the kube-dns IP answers.
	p = newProcedure(t, n, "delete the node-local DaemonSet")
	p.kubectl(ctx, "delete", "-k", dir, "--wait=true", "--timeout=2m")
	waitNoNodeLocalPods(ctx, t, n, nodeLocalPods)
	if devs := nodeLocalDevices(ctx, t); len(devs) > 0 {
		t.Errorf("devices left after the DaemonSet was deleted: %v", devs)
	}
	if ok, err := nodeLocalTableExists(); err != nil || ok {
		t.Errorf("nftables table inet %s after the DaemonSet was deleted: exists %v, %v", nodeLocalTable, ok, err)
	}
	if pids := nodeLocalPIDs(t); len(pids) > 0 {
		t.Errorf("node-local frontend processes after the DaemonSet was deleted: %v", pids)
	}
	for _, a := range []netip.Addr{linkLocalDNS, n.Config.ClusterDNS} {
		if out, err := kubenodeRun(ctx, "ip", "route", "show", "table", "local", a.String()); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("local route of %s after the DaemonSet was deleted: %q %v", a, out, err)
		}
	}
	if err := n.WaitClusterDNS(ctx, time.Minute); err != nil {
		t.Errorf("kube-dns after node-local was removed: %v", err)
	}
}

// upgradeDaemonSet puts the running load through a rolling update of the
// DaemonSet ds (its pods selected by pods), then a delete of its pod, and
// gives the successor a few seconds of load alone.
func upgradeDaemonSet(ctx context.Context, t *testing.T, n *kubenode.Node, what, ds, pods string, load *nodeLocalLoad) {
	t.Helper()
	p := newProcedure(t, n, "rolling update of the "+what+" DaemonSet")
	p.kubectl(ctx, "-n", "kube-system", "rollout", "restart", "daemonset/"+ds)
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "daemonset/"+ds, "--timeout=3m")
	waitOneNodeLocalPod(ctx, t, n, pods)
	t.Logf("after the rolling update: %d lookups so far", load.lookups())
	p = newProcedure(t, n, "delete the "+what+" pod")
	pod := p.kubectl(ctx, "-n", "kube-system", "get", "pod", "-l", pods, "-o", "jsonpath={.items[0].metadata.name}")
	p.kubectl(ctx, "-n", "kube-system", "delete", "pod", pod, "--wait=false")
	waitPodGone(ctx, t, n, pod)
	waitOneNodeLocalPod(ctx, t, n, pods)
	time.Sleep(5 * time.Second)
}

// loadThroughRestart keeps the load running while kubelet restarts a
// killed pod of pods (its back-off included) until answers says it serves
// again, then stops the load and splits its results by the address the
// clients ask: the kube-dns IP or 169.254.20.10.
func loadThroughRestart(ctx context.Context, t *testing.T, n *kubenode.Node, pods string, load *nodeLocalLoad,
	answers func(context.Context, *testing.T, *kubenode.Node)) (viaKubeDNS, viaLinkLocal []loopResult) {
	t.Helper()
	time.Sleep(8 * time.Second)
	waitOneNodeLocalPod(ctx, t, n, pods)
	answers(ctx, t, n)
	time.Sleep(3 * time.Second)
	for _, r := range load.stop(ctx, t) {
		if strings.HasSuffix(r.client, "-kubedns") {
			viaKubeDNS = append(viaKubeDNS, r)
		} else {
			viaLinkLocal = append(viaLinkLocal, r)
		}
	}
	return viaKubeDNS, viaLinkLocal
}

// guardLinkLocal keeps 169.254.20.10 on the machine: an unreachable route
// while no device holds it (the local table wins while one does), and the
// pods' way to it through the harness's egress chain. Both go at cleanup.
func guardLinkLocal(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	dst := linkLocalDNS.String() + "/32"
	if _, err := kubenodeRun(ctx, "ip", "route", "add", "unreachable", dst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kubenodeRun(context.Background(), "ip", "route", "delete", "unreachable", dst) })
	rule := []string{"-s", n.Config.PodCIDR.String(), "-d", dst, "-j", "RETURN"}
	if _, err := kubenodeRun(ctx, "iptables", append([]string{"-w", "-I", "CLUSTERDNS-NODE-EGRESS", "1"}, rule...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kubenodeRun(context.Background(), "iptables", append([]string{"-w", "-D", "CLUSTERDNS-NODE-EGRESS"}, rule...)...)
	})
}

// routeServiceFromHost lets the node's own network reach the cluster IP of
// the kube-system Service name (the record service's, node-cache's
// upstream), as any node's can: the harness routes the Service range
// nowhere (unreachable), so a host-network process's connect fails before
// kube-proxy's OUTPUT DNAT could apply. A host route for that one address
// through the node's bridge gives kube-proxy the packet; the route goes at
// cleanup.
func routeServiceFromHost(ctx context.Context, t *testing.T, n *kubenode.Node, name string) {
	t.Helper()
	svc, err := n.Client.CoreV1().Services("kube-system").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !n.Config.ServiceCIDR.Contains(ip) {
		t.Fatalf("Service %s: cluster IP %q not in %s (%v)", name, svc.Spec.ClusterIP, n.Config.ServiceCIDR, err)
	}
	dst := ip.String() + "/32"
	if _, err := kubenodeRun(ctx, "ip", "route", "add", dst, "dev", n.Config.Bridge); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kubenodeRun(context.Background(), "ip", "route", "delete", dst, "dev", n.Config.Bridge) })
}

// writeNodeLocalKustomization writes deploy/node-local with the local
// images (deploy/overlays/local) into a directory of the test.
func writeNodeLocalKustomization(t *testing.T) string {
	t.Helper()
	root, err := kubecluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	content := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\ncomponents:\n- %s\n",
		rel("deploy/node-local"), rel(kubenode.LocalOverlay))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitNodeLocalAnswers waits until both node-local addresses answer the
// kubernetes Service's name from the probe namespace over UDP and TCP, and
// a node-local device holds them.
func waitNodeLocalAnswers(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	name := "kubernetes.default.svc." + n.Config.ClusterDomain
	kubernetesIP := n.Config.ServiceCIDR.Masked().Addr().Next()
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if len(nodeLocalDevices(ctx, t)) == 0 {
			last = fmt.Errorf("no node-local device")
			return false, nil
		}
		for _, a := range []netip.Addr{linkLocalDNS, n.Config.ClusterDNS} {
			if last = kubenode.CheckDNS(ctx, a, name, kubernetesIP); last != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("node-local addresses do not answer: %v (last: %v)", err, last)
	}
}

// nodeLocalDevices lists the host's node-local TUN devices.
func nodeLocalDevices(ctx context.Context, t *testing.T) []string {
	t.Helper()
	out, err := kubenodeRun(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "cdnslocal") {
			devs = append(devs, strings.TrimSuffix(f[1], ":"))
		}
	}
	return devs
}

// removeNodeLocalLeftovers runs at cleanup, after the DaemonSet's delete,
// so that a failed test leaves nothing of the node-local mode on the host:
// it waits for the frontends' processes to end (their devices go with
// them) and deletes the rule table a SIGKILLed frontend leaves (inert, but
// not the host's).
func removeNodeLocalLeftovers(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: nodeLocalPods})
		return err == nil && len(pods.Items) == 0 && len(nodeLocalPIDs(t)) == 0, nil
	})
	if err != nil {
		t.Errorf("node-local frontends still running at cleanup (processes %v): %v", nodeLocalPIDs(t), err)
	}
	if ok, err := nodeLocalTableExists(); err != nil || !ok {
		return
	}
	c, err := nftables.New()
	if err == nil {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: nodeLocalTable})
		err = c.Flush()
	}
	if err != nil {
		t.Errorf("delete nftables table inet %s at cleanup: %v", nodeLocalTable, err)
	}
}

// nodeLocalTableExists reports whether the host has the node-local
// frontend's nftables table.
func nodeLocalTableExists() (bool, error) {
	return nftTableExists(nftables.TableFamilyINet, nodeLocalTable)
}

// scaleFrontends sets the base frontends' replicas and waits for them.
func scaleFrontends(ctx context.Context, t *testing.T, n *kubenode.Node, replicas int) {
	t.Helper()
	p := newProcedure(t, n, fmt.Sprintf("scale the base frontends to %d", replicas))
	p.kubectl(ctx, "-n", "kube-system", "scale", "deployment/"+frontendDeploy, "--replicas="+strconv.Itoa(replicas))
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: frontendPods})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp != nil {
				return false, nil
			}
			if podReady(&pod) {
				ready++
			}
		}
		return ready == replicas && len(pods.Items) == replicas &&
			len(readyEndpoints(ctx, n.Client, "kube-system", "kube-dns")) == replicas, nil
	})
	if err != nil {
		t.Fatalf("base frontends not at %d: %v", replicas, err)
	}
}

// waitOneNodeLocalPod waits until the DaemonSet of the pods sel selects has
// exactly one pod, Ready and not terminating (an old pod's lameduck is over).
func waitOneNodeLocalPod(ctx context.Context, t *testing.T, n *kubenode.Node, sel string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil || len(pods.Items) != 1 {
			return false, nil
		}
		return podReady(&pods.Items[0]), nil
	})
	if err != nil {
		t.Fatalf("the node-local DaemonSet did not settle on one Ready pod: %v", err)
	}
}

// logDNSServerLogs logs what the pods sel selects (a killed container
// too) and the base frontends said lately, with timestamps, to place the
// failed lookups.
func logDNSServerLogs(ctx context.Context, t *testing.T, n *kubenode.Node, sel string) {
	t.Helper()
	since, tail := int64(180), int64(40)
	for _, s := range []string{sel, frontendPods} {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: s})
		if err != nil {
			t.Logf("list pods %s: %v", s, err)
			continue
		}
		for _, p := range pods.Items {
			for _, previous := range []bool{true, false} {
				if previous && (len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount == 0) {
					continue
				}
				opts := &corev1.PodLogOptions{Previous: previous, Timestamps: true, SinceSeconds: &since, TailLines: &tail}
				out, err := n.Client.CoreV1().Pods("kube-system").GetLogs(p.Name, opts).DoRaw(ctx)
				t.Logf("log of %s (previous container %v): %v\n%s", p.Name, previous, err, out)
			}
		}
	}
}

// waitNoNodeLocalPods waits until the pods sel selects are gone.
func waitNoNodeLocalPods(ctx context.Context, t *testing.T, n *kubenode.Node, sel string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("node-local pods still there: %v", err)
	}
}

// waitPodGone waits until the pod no longer exists.
func waitPodGone(ctx context.Context, t *testing.T, n *kubenode.Node, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := n.Client.CoreV1().Pods("kube-system").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod %s still there: %v", name, err)
	}
}

// killNodeLocal SIGKILLs the node-local frontend's process, waits until the
// kernel has removed its device, and returns the device's name.
func killNodeLocal(ctx context.Context, t *testing.T) string {
	t.Helper()
	devs := nodeLocalDevices(ctx, t)
	if len(devs) != 1 {
		t.Fatalf("node-local devices before SIGKILL: %v, want one", devs)
	}
	pid := nodeLocalPID(t)
	if _, err := kubenodeRun(ctx, "kill", "-KILL", strconv.Itoa(pid)); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, d := range nodeLocalDevices(ctx, t) {
			if d == devs[0] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("device %s still there after SIGKILL of pid %d: %v", devs[0], pid, err)
	}
	return devs[0]
}

// nodeLocalPID finds the one process whose command line has nodeLocalArg.
func nodeLocalPID(t *testing.T) int {
	t.Helper()
	pids := nodeLocalPIDs(t)
	if len(pids) != 1 {
		t.Fatalf("node-local frontend processes: %v, want one", pids)
	}
	return pids[0]
}

// nodeLocalCmdline is the command line of the one node-local frontend.
func nodeLocalCmdline(t *testing.T) []string {
	t.Helper()
	cmd, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(nodeLocalPID(t)), "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
}

// nodeLocalPIDs lists the processes whose command line has nodeLocalArg.
func nodeLocalPIDs(t *testing.T) []int {
	t.Helper()
	return pidsOf(t, func(cmdline string) bool { return strings.Contains(cmdline, nodeLocalArg) })
}

// pidsOf lists the processes whose command line (arguments separated by
// NUL bytes) match accepts.
func pidsOf(t *testing.T, match func(cmdline string) bool) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && match(string(cmd)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// nodeLocalClients are the client pods of the node-local tests: glibc and
// Go resolvers, each through one of the two addresses.
var nodeLocalClients = []struct {
	name, image string
	server      func(n *kubenode.Node) netip.Addr
}{
	{"glibc-kubedns", "localhost/dnsclient-glibc:test", func(n *kubenode.Node) netip.Addr { return n.Config.ClusterDNS }},
	{"go-kubedns", "localhost/dnsclient-go:test", func(n *kubenode.Node) netip.Addr { return n.Config.ClusterDNS }},
	{"glibc-linklocal", "localhost/dnsclient-glibc:test", func(*kubenode.Node) netip.Addr { return linkLocalDNS }},
	{"go-linklocal", "localhost/dnsclient-go:test", func(*kubenode.Node) netip.Addr { return linkLocalDNS }},
}

// startNodeLocalLoad starts the node-local clients with the resolver
// options of kubelet's resolv.conf plus explicit timeout and attempts, and
// follows their output as startLoad does.
func startNodeLocalLoad(ctx context.Context, t *testing.T, n *kubenode.Node, w *workload) *nodeLocalLoad {
	t.Helper()
	cs := n.Client
	domain := n.Config.ClusterDomain
	for _, c := range nodeLocalClients {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "client-" + c.name, Labels: map[string]string{"app": "dnsloop"}},
			Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: new(int64(20)),
				DNSPolicy:                     corev1.DNSNone,
				DNSConfig: &corev1.PodDNSConfig{
					Nameservers: []string{c.server(n).String()},
					Searches:    []string{w.ns + ".svc." + domain, "svc." + domain, domain},
					Options: []corev1.PodDNSConfigOption{
						{Name: "ndots", Value: new("5")},
						{Name: "timeout", Value: new(strconv.Itoa(resolvTimeout))},
						{Name: "attempts", Value: new(strconv.Itoa(resolvAttempts))},
					},
				},
				Containers: []corev1.Container{{
					Name:            "dnsloop",
					Image:           c.image,
					ImagePullPolicy: corev1.PullNever,
					Command:         dnsloop(w),
				}},
			},
		}
		if _, err := cs.CoreV1().Pods(w.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create client pod %s: %v", pod.Name, err)
		}
	}
	names := make([]string, 0, len(nodeLocalClients))
	for _, c := range nodeLocalClients {
		names = append(names, c.name)
	}
	r := &nodeLocalLoad{followLoad(ctx, t, cs, w.ns, names, 3*time.Minute)}
	t.Logf("node-local clients resolving, resolver options ndots:5 timeout:%d attempts:%d", resolvTimeout, resolvAttempts)
	return r
}

// nodeLocalLoad is a loadRun of nodeLocalClients.
type nodeLocalLoad struct{ *loadRun }

// stop ends the runs as loadRun.stop does and waits until the client pods
// are gone, since the next run reuses their names.
func (r *nodeLocalLoad) stop(ctx context.Context, t *testing.T) []loopResult {
	t.Helper()
	out := r.loadRun.stop(ctx, t)
	for _, name := range r.clients {
		_ = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := r.cs.CoreV1().Pods(r.ns).Get(ctx, "client-"+name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	}
	return out
}
