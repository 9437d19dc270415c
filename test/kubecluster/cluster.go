package kubecluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// readyTimeout bounds the wait for etcd and for the API server's /readyz.
	readyTimeout = 90 * time.Second
	// startAttempts is how often a process is started on fresh ports when the
	// probed ports were taken by a parallel test in the meantime.
	startAttempts = 3
	// logTailLines is how much of a process log failure messages show.
	logTailLines = 40
	// serviceClusterIPRange is the dual-stack Service range; default/kubernetes
	// gets the first IPv4 address, 10.96.0.1.
	serviceClusterIPRange = "10.96.0.0/16,fd00:10:96::/112"
	// serviceAccountIssuer is the issuer of service-account tokens.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
)

// Cluster is a running etcd and kube-apiserver pair. Everything it started
// is stopped, and its files removed, when the test that started it ends.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig file with admin (system:masters)
	// credentials, for kubectl and for binaries started with --kubeconfig.
	Kubeconfig string
	// RESTConfig holds the same admin credentials for client-go.
	RESTConfig *rest.Config
	// Client is a clientset on RESTConfig.
	Client kubernetes.Interface
	// Server is the API server URL, https://127.0.0.1:PORT.
	Server string

	dir     string
	kubectl string
	// apiServer is the running kube-apiserver (see RestartAPIServer).
	apiServer *apiServer
}

// Start starts etcd and a kube-apiserver on free loopback ports, waits until
// the API server reports ready and its `default/kubernetes` Service exists,
// and registers cleanups that stop both and delete their files. It fails t
// (with the tail of the process logs) when anything goes wrong; a missing
// binary is a failure that names `make test-deps`, never a skip.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins, err := findBinaries()
	if err != nil {
		t.Fatalf("kubecluster: %v", err)
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			showLogs(t, dir)
		}
	})

	etcdURL := startEtcd(t, bins.etcd, dir)

	token := randomHex(t, 32)
	tokenFile := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokenFile, []byte(token+`,admin,admin,"system:masters"`+"\n"))
	keyFile := filepath.Join(dir, "service-account.key")
	writeFile(t, keyFile, rsaKeyPEM(t))

	apiServer := startAPIServer(t, bins.kubeAPIServer, dir, etcdURL, tokenFile, keyFile, token)
	server := apiServer.url

	c := &Cluster{
		Server: server,
		RESTConfig: &rest.Config{
			Host:            server,
			BearerToken:     token,
			TLSClientConfig: rest.TLSClientConfig{Insecure: true},
			QPS:             200,
			Burst:           400,
		},
		dir:       dir,
		kubectl:   bins.kubectl,
		apiServer: apiServer,
	}
	c.Kubeconfig = c.writeKubeconfig(t, "admin", token)
	c.Client, err = kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatalf("kubecluster: clientset: %v", err)
	}
	c.waitForKubernetesService(t)
	return c
}

// startEtcd starts etcd with its data in memory (/dev/shm) when possible and
// returns its client URL once it reports healthy.
func startEtcd(t testing.TB, bin, dir string) string {
	t.Helper()
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		dataDir := etcdDataDir(t, dir)
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("kubecluster: %v", err)
		}
		clientURL := "http://" + loopback(ports[0])
		peerURL := "http://" + loopback(ports[1])
		p, err := childproc.Start("etcd", filepath.Join(dir, "etcd.log"), bin,
			"--name=kubecluster",
			"--data-dir="+dataDir,
			"--listen-client-urls="+clientURL,
			"--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL,
			"--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=kubecluster="+peerURL,
			"--initial-cluster-state=new",
			"--logger=zap",
			"--log-outputs=stderr",
			"--log-level=warn",
		)
		if err != nil {
			t.Fatalf("kubecluster: %v", err)
		}
		t.Cleanup(func() { p.Stop(stopGrace) })
		lastErr = waitHealthy(p, clientURL+"/health", nil, func(status int, body string) bool {
			return status == http.StatusOK && strings.Contains(body, `"health":"true"`)
		})
		if lastErr == nil {
			return clientURL
		}
		p.Stop(stopGrace)
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	t.Fatalf("kubecluster: etcd did not become healthy: %v\netcd log:\n%s", lastErr, childproc.Tail(filepath.Join(dir, "etcd.log"), logTailLines))
	return ""
}

// etcdDataDir returns a fresh, empty etcd data directory, in /dev/shm when
// that is writable (fsync on tmpfs is free), else under dir.
func etcdDataDir(t testing.TB, dir string) string {
	t.Helper()
	if d, err := os.MkdirTemp("/dev/shm", "kubecluster-etcd-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	d, err := os.MkdirTemp(dir, "etcd-data-")
	if err != nil {
		t.Fatalf("kubecluster: etcd data dir: %v", err)
	}
	return d
}

// startAPIServer starts kube-apiserver with the flags of DESIGN.md section 8
// and returns it once /readyz answers 200. A cleanup stops whichever
// kube-apiserver process is current when the test ends (see RestartAPIServer).
func startAPIServer(t testing.TB, bin, dir, etcdURL, tokenFile, keyFile, token string) *apiServer {
	t.Helper()
	logPath := filepath.Join(dir, "kube-apiserver.log")
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatalf("kubecluster: %v", err)
		}
		a := &apiServer{
			bin:     bin,
			logPath: logPath,
			url:     "https://" + loopback(ports[0]),
			header:  http.Header{"Authorization": []string{"Bearer " + token}},
			args: []string{
				"--etcd-servers=" + etcdURL,
				fmt.Sprintf("--secure-port=%d", ports[0]),
				"--bind-address=127.0.0.1",
				"--advertise-address=127.0.0.1",
				// The endpoint reconciler refuses a loopback advertise address.
				"--endpoint-reconciler-type=none",
				"--service-cluster-ip-range=" + serviceClusterIPRange,
				"--token-auth-file=" + tokenFile,
				"--authorization-mode=RBAC",
				"--service-account-issuer=" + serviceAccountIssuer,
				"--service-account-key-file=" + keyFile,
				"--service-account-signing-key-file=" + keyFile,
				"--cert-dir=" + filepath.Join(dir, "certs"),
				// Quiet and light: no profiling endpoints, no API priority and
				// fairness bookkeeping, nothing a DNS test looks at.
				"--profiling=false",
				"--enable-priority-and-fairness=false",
				"--v=0",
			},
		}
		lastErr = a.start()
		if lastErr == nil {
			t.Cleanup(a.stop)
			return a
		}
		if !errors.Is(lastErr, errPortTaken) {
			break
		}
	}
	t.Fatalf("kubecluster: kube-apiserver did not become ready: %v\nkube-apiserver log:\n%s", lastErr, childproc.Tail(logPath, logTailLines))
	return nil
}

// waitHealthy polls url until ok accepts the reply, the process exits, or
// readyTimeout passes. An exit caused by a taken port wraps errPortTaken.
func waitHealthy(p *childproc.Process, url string, header http.Header, ok func(status int, body string) bool) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if !p.Running() {
			if addrInUse(p) {
				return fmt.Errorf("%w: %w", errPortTaken, p.ExitError())
			}
			return p.ExitError()
		}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", url, err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err == nil {
			body := make([]byte, 4096)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if ok(resp.StatusCode, string(body[:n])) {
				return nil
			}
			last = fmt.Sprintf("%s answered %d: %s", url, resp.StatusCode, lastLines(string(body[:n]), 5))
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v (last probe: %s)", readyTimeout, last)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitForKubernetesService waits until the API server has created
// default/kubernetes, which its bootstrap controller does shortly after
// /readyz turns green.
func (c *Cluster) waitForKubernetesService(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err == nil {
			return
		}
		if ctx.Err() != nil || !apierrors.IsNotFound(err) {
			t.Fatalf("kubecluster: service default/kubernetes: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeKubeconfig writes a kubeconfig with a bearer token into the cluster
// directory and returns its path.
func (c *Cluster) writeKubeconfig(t testing.TB, user, token string) string {
	t.Helper()
	path := filepath.Join(c.dir, user+".kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubecluster
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: %s
  user:
    token: %s
contexts:
- name: %s@kubecluster
  context:
    cluster: kubecluster
    user: %s
current-context: %s@kubecluster
`, c.Server, user, token, user, user, user)
	writeFile(t, path, []byte(content))
	return path
}

// showLogs logs the tail of every process log in dir.
func showLogs(t testing.TB, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		t.Logf("kubecluster: %s:\n%s", filepath.Base(l), childproc.Tail(l, logTailLines))
	}
}

// rsaKeyPEM returns a fresh 2048-bit RSA private key in PKCS#1 PEM form, the
// service-account signing key.
func rsaKeyPEM(t testing.TB) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("kubecluster: generate service-account key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// randomHex returns n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("kubecluster: random token: %v", err)
	}
	return hex.EncodeToString(b)
}

// writeFile writes data to path with owner-only permissions.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("kubecluster: %v", err)
	}
}
