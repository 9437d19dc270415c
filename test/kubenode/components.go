package kubenode

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startTimeout bounds the wait for each component to report ready.
const startTimeout = 3 * time.Minute

// binaries are the executables of the node.
type binaries struct {
	etcd, kubeAPIServer, kubeControllerManager, kubeScheduler, kubelet, kubeProxy, kubectl string
	containerd, ctr                                                                        string
}

// findBinaries locates the Kubernetes binaries in binDir (default: bin/ at the
// module root) and Debian's etcd, containerd and ctr on PATH.
func findBinaries(binDir string) (binaries, error) {
	if binDir == "" {
		root, err := kubecluster.ModuleRoot()
		if err != nil {
			return binaries{}, err
		}
		binDir = filepath.Join(root, "bin")
	}
	var missing []string
	inBin := func(name string) string {
		p := filepath.Join(binDir, name)
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
		return p
	}
	onPath := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name+" (not on PATH)")
		}
		return p
	}
	b := binaries{
		etcd:                  onPath("etcd"),
		containerd:            onPath("containerd"),
		ctr:                   onPath("ctr"),
		kubeAPIServer:         inBin("kube-apiserver"),
		kubeControllerManager: inBin("kube-controller-manager"),
		kubeScheduler:         inBin("kube-scheduler"),
		kubelet:               inBin("kubelet"),
		kubeProxy:             inBin("kube-proxy"),
		kubectl:               inBin("kubectl"),
	}
	for _, p := range []string{"runc", "iptables", "conntrack", "containerd-shim-runc-v2"} {
		onPath(p)
	}
	if _, err := os.Stat(filepath.Join(cniBinDir, "bridge")); err != nil {
		missing = append(missing, filepath.Join(cniBinDir, "bridge"))
	}
	if len(missing) > 0 {
		return binaries{}, fmt.Errorf("missing %s: run `make node-deps` from the module root", strings.Join(missing, ", "))
	}
	return b, nil
}

// CannotRun says in one sentence why this machine cannot run the node's
// containers, or returns "" when it can.
func CannotRun() string {
	if os.Geteuid() != 0 {
		return "the node needs root (network namespaces, mounts, iptables)"
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
			return "no cgroup hierarchy is mounted at /sys/fs/cgroup"
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the ip command (iproute2) is missing"
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return "network namespaces are unavailable: " + strings.TrimSpace(string(out))
	}
	return ""
}

// startControlPlane starts etcd and kube-apiserver on loopback and the
// bridge gateway and waits until the API server is ready.
func (n *Node) startControlPlane(ctx context.Context) error {
	c := n.Config
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	etcd, err := n.start("etcd", n.bins.etcd,
		"--name=clusterdns-node",
		"--data-dir="+c.path("etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=clusterdns-node="+peerURL,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-outputs=stderr",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, etcd, etcdURL+"/health", func(code int, body string) bool {
		return code == http.StatusOK && strings.Contains(body, `"health":"true"`)
	}); err != nil {
		return err
	}
	pki := c.path("pki")
	api, err := n.start("kube-apiserver", n.bins.kubeAPIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address="+c.Gateway().String(),
		"--advertise-address="+c.Gateway().String(),
		fmt.Sprintf("--secure-port=%d", apiServerPort),
		"--service-cluster-ip-range="+c.ServiceCIDR.String(),
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--client-ca-file="+filepath.Join(pki, "ca.crt"),
		"--kubelet-client-certificate="+filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+filepath.Join(pki, "apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc."+c.ClusterDomain,
		"--service-account-key-file="+filepath.Join(pki, "service-account.key"),
		"--service-account-signing-key-file="+filepath.Join(pki, "service-account.key"),
		"--cert-dir="+c.path("kube-apiserver"),
		"--profiling=false",
		"--v=0",
	)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, api, c.APIServerURL()+"/readyz", func(code int, _ string) bool { return code == http.StatusOK }); err != nil {
		return err
	}
	n.RESTConfig, n.Client, err = adminClient(c)
	return err
}

// startContainerd starts the node's containerd and waits for its socket.
func (n *Node) startContainerd(ctx context.Context) error {
	p, err := n.start("containerd", n.bins.containerd, "--config", n.Config.path("containerd", "config.toml"))
	if err != nil {
		return err
	}
	return poll(ctx, p, "containerd answering on its socket", func() bool {
		_, err := run(ctx, n.bins.ctr, "--address", n.Config.containerdSocket(), "version")
		return err == nil
	})
}

// startNodeComponents starts the controller manager, the scheduler, kubelet
// and kube-proxy.
func (n *Node) startNodeComponents(ctx context.Context) error {
	c := n.Config
	pki := c.path("pki")
	kubeconfig := func(name string) string { return "--kubeconfig=" + filepath.Join(pki, name+".kubeconfig") }
	if _, err := n.start("kube-controller-manager", n.bins.kubeControllerManager,
		kubeconfig("kube-controller-manager"),
		"--authentication-kubeconfig="+filepath.Join(pki, "kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(pki, "kube-controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-cluster-ip-range="+c.ServiceCIDR.String(),
		"--cluster-cidr="+c.PodCIDR.String(),
		"--controllers=*",
		"--profiling=false",
		"--v=0",
	); err != nil {
		return err
	}
	if _, err := n.start("kube-scheduler", n.bins.kubeScheduler,
		kubeconfig("kube-scheduler"),
		"--authentication-kubeconfig="+filepath.Join(pki, "kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(pki, "kube-scheduler.kubeconfig"),
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--profiling=false",
		"--v=0",
	); err != nil {
		return err
	}
	if _, err := n.start("kubelet", n.bins.kubelet,
		"--config="+c.path("kubelet", "config.yaml"),
		kubeconfig("kubelet"),
		"--root-dir="+c.path("kubelet", "root"),
		"--cert-dir="+c.path("kubelet", "pki"),
		"--hostname-override="+c.NodeName,
		"--node-ip="+c.Gateway().String(),
		"--v=0",
	); err != nil {
		return err
	}
	_, err := n.start("kube-proxy", n.bins.kubeProxy, "--config="+c.path("kube-proxy", "config.yaml"), "--v=0")
	return err
}

// waitNodeReady waits until the Node is Ready, kube-proxy has programmed the
// kubernetes Service, and the default namespace has its ServiceAccount and
// root CA (a pod needs both to start).
func (n *Node) waitNodeReady(ctx context.Context) error {
	c := n.Config
	return poll(ctx, nil, "the node Ready with its ServiceAccount and root CA", func() bool {
		for _, p := range n.procs {
			if !p.Running() {
				return true // poll reports the exit below
			}
		}
		node, err := n.Client.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
		if err != nil || !nodeReady(node) {
			return false
		}
		if _, err := n.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false
		}
		if _, err := n.Client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			return false
		}
		out, err := run(ctx, "iptables", "-w", "-t", "nat", "-S", "KUBE-SERVICES")
		return err == nil && strings.Contains(out, c.firstServiceIP().String()+"/32")
	}, n.procs...)
}

// nodeReady reports the Node's Ready condition.
func nodeReady(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poll calls ok every 250ms until it returns true, a watched process exits,
// ctx ends or startTimeout passes.
func poll(ctx context.Context, p *childproc.Process, what string, ok func() bool, watch ...*childproc.Process) error {
	if p != nil {
		watch = append(watch, p)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		for _, w := range watch {
			if !w.Running() {
				return fmt.Errorf("waiting for %s: %w\n%s log:\n%s", what, w.ExitError(), w.Name, w.LogTail(30))
			}
		}
		if ok() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitHTTP polls url (TLS unverified: the check is for readiness, not
// identity) until ok accepts the answer.
func waitHTTP(ctx context.Context, p *childproc.Process, url string, ok func(code int, body string) bool) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext:     (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
	}
	defer client.CloseIdleConnections()
	return poll(ctx, p, p.Name+" at "+url, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body := make([]byte, 4096)
		k, _ := resp.Body.Read(body)
		return ok(resp.StatusCode, string(body[:k]))
	})
}
