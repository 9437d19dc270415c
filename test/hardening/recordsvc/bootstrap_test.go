package recordsvc

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

var bootstrapSecrets = []string{"clusterdns-ca", "clusterdns-recordsvc-tls", "clusterdns-frontend-tls"}

// TestBootstrapCerts runs `recordsvc bootstrap-certs` against a real API
// server with deploy/'s ServiceAccount and Role: it creates the Secrets, a
// second run changes nothing, a certificate past two thirds of its lifetime
// is renewed (and only that one), and the issued certificates work for
// mutual TLS between the record service and a frontend identity.
func TestBootstrapCerts(t *testing.T) {
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	c.Kubectl(t, "apply", "-f", filepath.Join("..", "..", "..", "deploy", "rbac.yaml"))
	kubeconfig := c.ServiceAccountKubeconfig(t, "kube-system", "clusterdns-certs")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	run := func() {
		t.Helper()
		out, err := exec.CommandContext(ctx, bins.RecordService, "bootstrap-certs", "--kubeconfig", kubeconfig,
			"--namespace", "kube-system").CombinedOutput()
		if err != nil {
			t.Fatalf("bootstrap-certs: %v\n%s", err, out)
		}
	}
	secrets := func() map[string]*corev1.Secret {
		t.Helper()
		out := map[string]*corev1.Secret{}
		for _, name := range bootstrapSecrets {
			s, err := c.Client.CoreV1().Secrets("kube-system").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("secret %s: %v", name, err)
			}
			out[name] = s
		}
		return out
	}

	run()
	first := secrets()
	ca := parseCert(t, first["clusterdns-ca"].Data["tls.crt"])
	for name, s := range first {
		for _, k := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(s.Data[k]) == 0 {
				t.Fatalf("secret %s has no %s", name, k)
			}
		}
		if s.Type != corev1.SecretTypeTLS {
			t.Errorf("secret %s type %s, want %s", name, s.Type, corev1.SecretTypeTLS)
		}
	}
	server := parseCert(t, first["clusterdns-recordsvc-tls"].Data["tls.crt"])
	frontend := parseCert(t, first["clusterdns-frontend-tls"].Data["tls.crt"])
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range []string{"clusterdns-recordsvc.kube-system.svc", "clusterdns-recordsvc.kube-system.svc.cluster.local",
		"clusterdns-recordsvc-vip.kube-system.svc", "10.96.0.11"} {
		if _, err := server.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := frontend.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("frontend certificate: %v", err)
	}
	if id, _ := mtls.CertIdentity(frontend); id != "frontend" {
		t.Errorf("frontend certificate identity %q, want frontend", id)
	}

	t.Run("idempotent", func(t *testing.T) {
		run()
		for name, s := range secrets() {
			if s.ResourceVersion != first[name].ResourceVersion {
				t.Errorf("secret %s changed on a second run", name)
			}
		}
	})

	t.Run("renewal past two thirds", func(t *testing.T) {
		caKP, err := mtls.ParseKeyPair(first["clusterdns-ca"].Data["tls.crt"], first["clusterdns-ca"].Data["tls.key"])
		if err != nil {
			t.Fatal(err)
		}
		old, err := mtls.Issue(caKP, mtls.CertSpec{Identity: "frontend", Client: true, Lifetime: 90 * 24 * time.Hour},
			time.Now().Add(-70*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		s := secrets()["clusterdns-frontend-tls"]
		s.Data["tls.crt"], s.Data["tls.key"] = old.CertPEM, old.KeyPEM
		if _, err := c.Client.CoreV1().Secrets("kube-system").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := secrets()
		run()
		after := secrets()
		renewed := parseCert(t, after["clusterdns-frontend-tls"].Data["tls.crt"])
		if renewed.SerialNumber.Cmp(old.Cert.SerialNumber) == 0 || time.Since(renewed.NotBefore) > time.Hour {
			t.Fatalf("frontend certificate not renewed (not before %v)", renewed.NotBefore)
		}
		for _, name := range []string{"clusterdns-ca", "clusterdns-recordsvc-tls"} {
			if after[name].ResourceVersion != before[name].ResourceVersion {
				t.Errorf("secret %s changed though current", name)
			}
		}
	})

	t.Run("mutual TLS with the issued certificates", func(t *testing.T) {
		dir := t.TempDir()
		files := func(secret string) mtls.Files {
			s := secrets()[secret]
			f := mtls.Files{Cert: filepath.Join(dir, secret+".crt"), Key: filepath.Join(dir, secret+".key"), CA: filepath.Join(dir, secret+"-ca.crt")}
			writeAtomic(t, f.Cert, s.Data["tls.crt"])
			writeAtomic(t, f.Key, s.Data["tls.key"])
			writeAtomic(t, f.CA, s.Data["ca.crt"])
			return f
		}
		srv, cli := files("clusterdns-recordsvc-tls"), files("clusterdns-frontend-tls")
		src := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
		rs := startRecordsvc(t, "--tls-cert", srv.Cert, "--tls-key", srv.Key, "--tls-client-ca", srv.CA, "--source", "file:"+src)
		client, _ := dial(t, rs.addr, dialOpts{files: cli})
		resp, err := lookup(client, kubernetesName, typeA, "")
		if err != nil || resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
			t.Fatalf("lookup with the bootstrap certificates: %v %v", resp, err)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{{"--server-ip", "not-an-ip"}, {"--cert-lifetime", "1m"}, {"--client", "frontend"}} {
			cmd := exec.CommandContext(ctx, bins.RecordService, append([]string{"bootstrap-certs"}, args...)...)
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), args[0]) {
				t.Errorf("bootstrap-certs %v: %v, want exit 2 naming %s\n%s", args, err, args[0], out)
			}
		}
	})
}

func parseCert(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemData)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
