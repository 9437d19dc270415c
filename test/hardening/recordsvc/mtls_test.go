package recordsvc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

const kubernetesName = "kubernetes.default.svc.cluster.local."

// TestMutualTLS: a frontend certificate of the right CA is answered; no
// certificate, a certificate of another CA, or plaintext are refused at the
// handshake; a server the client's CA did not issue is refused by the
// client.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t, "frontend")
	other := newPKI(t, "frontend")
	srcFile := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	rs := startRecordsvc(t, append(p.serverArgs(), "--source", "file:"+srcFile)...)

	tests := []struct {
		name string
		opts dialOpts
		ok   bool
	}{
		{"frontend certificate", dialOpts{files: p.clients["frontend"]}, true},
		{"no client certificate", dialOpts{files: mtls.Files{CA: p.server.CA}}, false},
		{"client certificate of another CA", dialOpts{files: mtls.Files{Cert: other.clients["frontend"].Cert,
			Key: other.clients["frontend"].Key, CA: p.server.CA}}, false},
		{"server not issued by the client's CA", dialOpts{files: mtls.Files{Cert: p.clients["frontend"].Cert,
			Key: p.clients["frontend"].Key, CA: other.server.CA}}, false},
		{"plaintext", dialOpts{plain: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := dial(t, rs.addr, tt.opts)
			resp, err := lookup(c, kubernetesName, 1, "")
			if tt.ok {
				if err != nil {
					t.Fatalf("lookup: %v", err)
				}
				if resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS || resp.GetAnswer()[0].GetA().GetAddress() != "10.96.0.1" {
					t.Fatalf("answer %v, want A 10.96.0.1", resp)
				}
				return
			}
			if err == nil {
				t.Fatalf("lookup answered (%v), want a refused connection", resp.GetResult())
			}
			if code := status.Code(err); code != codes.Unavailable {
				t.Fatalf("error %v, want UNAVAILABLE (handshake refused)", err)
			}
		})
	}
}

// TestCertificateRotation replaces the server's certificate, key and CA
// bundle (a new CA) while it runs: new connections must present the new
// certificate and accept clients of the new CA only, without a restart.
func TestCertificateRotation(t *testing.T) {
	p := newPKI(t, "frontend")
	srcFile := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	rs := startRecordsvc(t, append(p.serverArgs(), "--source", "file:"+srcFile)...)
	oldClient, _ := dial(t, rs.addr, dialOpts{files: p.clients["frontend"]})
	if _, err := lookup(oldClient, kubernetesName, 1, ""); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}

	// The new CA signs new server and client certificates; the server's
	// files are replaced in place (same paths), as a Secret update does.
	next := newPKI(t, "frontend")
	for _, f := range []struct{ from, to string }{{next.server.Key, p.server.Key}, {next.server.Cert, p.server.Cert}, {next.server.CA, p.server.CA}} {
		data, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, f.to, data)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		// A fresh connection each try: existing ones keep their session.
		c, cc := dial(t, rs.addr, dialOpts{files: next.clients["frontend"]})
		_, err := lookup(c, kubernetesName, 1, "")
		cc.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client of the new CA is still refused 60s after the rotation: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	c, _ := dial(t, rs.addr, dialOpts{files: p.clients["frontend"]})
	if _, err := lookup(c, kubernetesName, 1, ""); status.Code(err) != codes.Unavailable {
		t.Fatalf("new connection of a client of the old CA after the rotation: err %v, want UNAVAILABLE", err)
	}
	if !rs.proc.Running() {
		t.Fatal("recordsvc restarted or exited")
	}
	if log := readFile(rs.proc.LogPath); !strings.Contains(log, "TLS files reloaded") {
		t.Fatalf("no reload logged:\n%s", rs.proc.LogTail(20))
	}
}

// TestPlaintextGuard: plaintext on a non-loopback address is refused at
// start with exit code 2 and a message naming --listen and --tls-cert; on
// loopback it starts and warns that the API is unauthenticated.
func TestPlaintextGuard(t *testing.T) {
	bins := stack.Installed(t)
	srcFile := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			cmd := exec.Command(bins.RecordService, "--listen", listen, "--source", "file:"+srcFile)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2\n%s", err, out)
			}
			for _, want := range []string{"--listen", "--tls-cert", "not a loopback address"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("message %q does not name %q", out, want)
				}
			}
		})
	}
	t.Run("loopback", func(t *testing.T) {
		rs := startRecordsvc(t, "--source", "file:"+srcFile)
		if log := readFile(rs.proc.LogPath); !strings.Contains(log, "plaintext and unauthenticated") || !strings.Contains(log, "loopback only") {
			t.Fatalf("no warning about the unauthenticated plaintext API:\n%s", rs.proc.LogTail(20))
		}
		c, _ := dial(t, rs.addr, dialOpts{plain: true})
		if _, err := lookup(c, kubernetesName, 1, ""); err != nil {
			t.Fatalf("plaintext lookup on loopback: %v", err)
		}
	})
}
