package nodee2e

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/clusterdns/clusterdns/test/kubenode"
)

// The two cluster DNS servers the tests switch between.
type dnsServer string

const (
	coreDNS    dnsServer = "CoreDNS"
	clusterDNS dnsServer = "clusterdns"
)

// Names of the objects the procedures act on.
const (
	frontendDeploy   = "clusterdns-frontend"
	recordsvcDeploy  = "clusterdns-recordsvc"
	corednsDeploy    = "coredns"
	corednsReplicas  = 2
	corednsPods      = "k8s-app=kube-dns,!app.kubernetes.io/name"
	frontendPods     = "app.kubernetes.io/name=clusterdns-frontend"
	recordsvcPods    = "app.kubernetes.io/name=clusterdns-recordsvc"
	procedureTimeout = 5 * time.Minute
)

// testdata returns the absolute path of a file under testdata.
func testdata(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "testdata"}, elem...)...)
}

// cutoverOverlay is deploy/cutover/ with the node's local images: what an
// operator's overlay of deploy/cutover/ is on a real cluster.
func cutoverOverlay() string { return testdata("cutover-local") }

// step runs one documented kubectl command of a procedure and logs it with
// the time since the procedure began, so that a failed lookup can be placed.
type procedure struct {
	t     *testing.T
	n     *kubenode.Node
	name  string
	start time.Time
}

func newProcedure(t *testing.T, n *kubenode.Node, name string) *procedure {
	t.Logf("%s: begins at %s", name, time.Now().UTC().Format("15:04:05.000"))
	return &procedure{t: t, n: n, name: name, start: time.Now()}
}

func (p *procedure) kubectl(ctx context.Context, args ...string) string {
	p.t.Helper()
	out, err := p.n.Kubectl(ctx, args...)
	p.t.Logf("%s: +%5.1fs kubectl %s", p.name, time.Since(p.start).Seconds(), strings.Join(args, " "))
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return out
}

func (p *procedure) logf(format string, args ...any) {
	p.t.Helper()
	p.t.Logf("%s: +%5.1fs %s", p.name, time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// waitKubeDNSEndpoints polls until every ready endpoint of kube-dns is a
// pod whose name starts with want, or, with others true, until those pods
// are among the endpoints beside others. It returns the endpoint pods.
func (p *procedure) waitKubeDNSEndpoints(ctx context.Context, prefix string, count int) []string {
	p.t.Helper()
	var eps []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		eps = readyEndpoints(ctx, p.n.Client, "kube-system", "kube-dns")
		n := 0
		for _, e := range eps {
			if strings.HasPrefix(e, prefix) {
				n++
			}
		}
		return n >= count, nil
	})
	if err != nil {
		p.t.Fatalf("%s: kube-dns never had %d ready endpoints named %s*: has %v", p.name, count, prefix, eps)
	}
	slices.Sort(eps)
	p.logf("kube-dns endpoints: %s", strings.Join(eps, " "))
	return eps
}

// cutover switches the cluster from CoreDNS to clusterdns exactly as
// deploy/README.md says ("Cutover from CoreDNS").
func cutover(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	p := newProcedure(t, n, "cutover")
	if sel := p.kubectl(ctx, "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.selector}"); sel != `{"k8s-app":"kube-dns"}` {
		t.Fatalf("kube-dns selects %s, want k8s-app: kube-dns", sel)
	}
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+corednsDeploy, "--timeout=2m")
	p.kubectl(ctx, "apply", "-k", cutoverOverlay())
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+recordsvcDeploy, "--timeout=5m")
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+frontendDeploy, "--timeout=5m")
	p.waitKubeDNSEndpoints(ctx, frontendDeploy+"-", 2)
	retireCoreDNS(ctx, p)
}

// Merge patches of kube-dns's selector: the cutover narrows it to the
// frontends so CoreDNS's pods leave the Service while they still answer; the
// switch back restores kubeadm's selector (a null deletes the key, so the
// patch is the same whether or not the key is there).
const (
	selectFrontendsOnly = `{"spec":{"selector":{"k8s-app":"kube-dns","app.kubernetes.io/name":"clusterdns-frontend"}}}`
	selectKubeadm       = `{"spec":{"selector":{"k8s-app":"kube-dns","app.kubernetes.io/name":null}}}`
	// kubeProxySettle covers kube-proxy's sync after an endpoint change,
	// which also deletes the UDP conntrack flows of removed endpoints.
	kubeProxySettle = 3 * time.Second
)

// retireCoreDNS is the cutover's last step: kube-dns stops selecting
// CoreDNS's pods, and only once they have left its endpoints (kube-proxy then
// deletes the conntrack flows that point at them while they still answer)
// are they scaled away. Scaling them away at once would leave those flows
// until their readiness probe fails (kubeadm probes every 10 s, CoreDNS
// answers for 5 s after SIGTERM), and a client socket that reuses a flow's
// source port meanwhile gets an ICMP port unreachable: a failed lookup.
func retireCoreDNS(ctx context.Context, p *procedure) {
	p.kubectl(ctx, "-n", "kube-system", "patch", "service", "kube-dns", "--type=merge", "-p", selectFrontendsOnly)
	p.waitKubeDNSOnly(ctx, frontendDeploy+"-")
	time.Sleep(kubeProxySettle)
	p.kubectl(ctx, "-n", "kube-system", "scale", "deployment/"+corednsDeploy, "--replicas=0")
	p.kubectl(ctx, "-n", "kube-system", "wait", "--for=delete", "pod", "-l", corednsPods, "--timeout=2m")
	p.logf("done")
}

// waitKubeDNSOnly polls until every endpoint of kube-dns, ready or not, is
// a pod whose name starts with prefix.
func (p *procedure) waitKubeDNSOnly(ctx context.Context, prefix string) {
	p.t.Helper()
	var eps []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		eps = allEndpoints(ctx, p.n.Client, "kube-system", "kube-dns")
		return len(eps) > 0 && allNamed(eps, prefix), nil
	})
	if err != nil {
		p.t.Fatalf("%s: kube-dns still has endpoints other than %s*: %v", p.name, prefix, eps)
	}
	slices.Sort(eps)
	p.logf("kube-dns endpoints: %s", strings.Join(eps, " "))
}

// switchBack returns the cluster from clusterdns to CoreDNS as
// deploy/README.md says ("Switching back to CoreDNS").
func switchBack(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	p := newProcedure(t, n, "switch back")
	p.kubectl(ctx, "-n", "kube-system", "scale", "deployment/"+corednsDeploy, fmt.Sprintf("--replicas=%d", corednsReplicas))
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+corednsDeploy, "--timeout=5m")
	retireClusterDNS(ctx, p)
}

// retireClusterDNS is the last steps of the switch back: kubeadm's selector
// again, so CoreDNS's ready pods join the frontends behind kube-dns; then the
// frontends go, each answering through its lameduck.
func retireClusterDNS(ctx context.Context, p *procedure) {
	p.kubectl(ctx, "-n", "kube-system", "patch", "service", "kube-dns", "--type=merge", "-p", selectKubeadm)
	p.waitKubeDNSEndpoints(ctx, corednsDeploy+"-", corednsReplicas)
	p.kubectl(ctx, "-n", "kube-system", "scale", "deployment/"+frontendDeploy, "--replicas=0")
	p.kubectl(ctx, "-n", "kube-system", "wait", "--for=delete", "pod", "-l", frontendPods, "--timeout=2m")
	p.kubectl(ctx, "delete", "-k", cutoverOverlay())
	p.logf("done")
}

// running says which servers have replicas: a Deployment that does not
// exist or is scaled to zero does not run.
func running(ctx context.Context, n *kubenode.Node) (core, cd bool, err error) {
	has := func(name string) (bool, error) {
		dep, err := n.Client.AppsV1().Deployments("kube-system").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("get deployment %s: %w", name, err)
		}
		return dep.Spec.Replicas == nil || *dep.Spec.Replicas > 0, nil
	}
	if core, err = has(corednsDeploy); err != nil {
		return false, false, err
	}
	cd, err = has(frontendDeploy)
	return core, cd, err
}

// currentDNS says which server the cluster runs, when exactly one does.
func currentDNS(ctx context.Context, n *kubenode.Node) (dnsServer, error) {
	core, cd, err := running(ctx, n)
	switch {
	case err != nil:
		return "", err
	case core && !cd:
		return coreDNS, nil
	case cd && !core:
		return clusterDNS, nil
	}
	return "", fmt.Errorf("not exactly one cluster DNS runs (CoreDNS %v, clusterdns %v)", core, cd)
}

// useDNS makes want the cluster DNS with the procedures of deploy/README.md
// (unmeasured here; TestCutover measures them), from whatever the node runs:
// nothing yet (CoreDNS is installed first, as kubeadm would have), one
// server, or both (an interrupted switch, or clusterdns deployed over
// CoreDNS by another test; the switch is completed).
func useDNS(ctx context.Context, t *testing.T, n *kubenode.Node, want dnsServer) {
	t.Helper()
	core, cd, err := running(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if !core && !cd {
		installCoreDNS(ctx, t, n)
		core = true
	}
	if _, err := n.Client.AppsV1().Deployments("kube-system").Get(ctx, corednsDeploy, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		installCoreDNS(ctx, t, n)
		p := newProcedure(t, n, "CoreDNS installed beside clusterdns")
		retireCoreDNS(ctx, p) // as the cutover leaves it
		core = false
	}
	switch {
	case want == clusterDNS && !cd:
		cutover(ctx, t, n)
	case want == clusterDNS && core:
		retireCoreDNS(ctx, newProcedure(t, n, "complete the cutover"))
	case want == coreDNS && !core:
		switchBack(ctx, t, n)
	case want == coreDNS && cd:
		retireClusterDNS(ctx, newProcedure(t, n, "complete the switch back"))
	}
	if err := waitDNSReady(ctx, n, want); err != nil {
		t.Fatal(err)
	}
}

// installCoreDNS installs kubeadm's CoreDNS from testdata and waits for it.
// Client-side apply, as every other manifest of kube-dns on this node: with
// a last-applied annotation on both sides, the Service's two ports numbered
// 53 are left alone (kubernetes/kubernetes#105610).
func installCoreDNS(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	p := newProcedure(t, n, "install CoreDNS as kubeadm does")
	p.kubectl(ctx, "apply", "-f", testdata("coredns.yaml"))
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+corednsDeploy, "--timeout=5m")
}

// waitDNSReady waits until the server's Deployment is fully rolled out and
// its pods are the only ready endpoints of kube-dns.
func waitDNSReady(ctx context.Context, n *kubenode.Node, s dnsServer) error {
	deploy, prefix := corednsDeploy, corednsDeploy+"-"
	if s == clusterDNS {
		deploy, prefix = frontendDeploy, frontendDeploy+"-"
	}
	var eps []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, procedureTimeout, true, func(ctx context.Context) (bool, error) {
		dep, err := n.Client.AppsV1().Deployments("kube-system").Get(ctx, deploy, metav1.GetOptions{})
		if err != nil || dep.Spec.Replicas == nil {
			return false, nil
		}
		want := *dep.Spec.Replicas
		if dep.Status.ReadyReplicas != want || dep.Status.UpdatedReplicas != want || dep.Status.Replicas != want {
			return false, nil
		}
		eps = readyEndpoints(ctx, n.Client, "kube-system", "kube-dns")
		return len(eps) == int(want) && allNamed(eps, prefix), nil
	})
	if err != nil {
		return fmt.Errorf("%s is not settled as the cluster DNS (kube-dns endpoints %v): %w", s, eps, err)
	}
	return nil
}

// allNamed reports whether every endpoint pod's name starts with prefix.
func allNamed(eps []string, prefix string) bool {
	for _, e := range eps {
		if !strings.HasPrefix(e, prefix) {
			return false
		}
	}
	return true
}
