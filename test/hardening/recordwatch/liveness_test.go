package recordwatch

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// healthz is the status code of a record service's /healthz (0 when it
// cannot be reached).
func healthz(p *stack.Process) int {
	resp, err := http.Get("http://" + p.MetricsAddr + "/healthz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitHealthz(t *testing.T, p *stack.Process, want int) {
	t.Helper()
	eventually(t, fmt.Sprintf("/healthz %d", want), func() string {
		if got := healthz(p); got != want {
			return fmt.Sprintf("/healthz %d", got)
		}
		return ""
	})
}

// TestLivenessStuckInformers stops the API server under a synced record
// service: once its watches have failed for --healthz-source-failure,
// /healthz fails (the kubelet would restart it), and it recovers when the
// API server is back.
func TestLivenessStuckInformers(t *testing.T) {
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rsvc := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--healthz-source-failure", "3s")
	waitHealthz(t, rsvc, http.StatusOK)
	c.StopAPIServer(t)
	waitHealthz(t, rsvc, http.StatusServiceUnavailable)
	c.StartAPIServer(t)
	waitHealthz(t, rsvc, http.StatusOK)
}

// TestLivenessNeverSynced points a record service at an API server address
// where nothing listens: /healthz fails after --healthz-sync-timeout.
func TestLivenessNeverSynced(t *testing.T) {
	bins := stack.Installed(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close() // nothing listens there any more
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
users:
- name: nobody
  user: {token: none}
contexts:
- name: dead
  context: {cluster: dead, user: nobody}
current-context: dead
`, dead)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rsvc := stack.StartRecordService(t, bins, "--kubeconfig", kubeconfig, "--healthz-sync-timeout", "2s",
		"--healthz-source-failure", "1h")
	waitHealthz(t, rsvc, http.StatusServiceUnavailable)
}
