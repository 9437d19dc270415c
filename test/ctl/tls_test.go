package ctl

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/internal/mtls"
	"github.com/clusterdns/clusterdns/test/stack"
)

// serverName is the DNS name of the test record service's certificate.
const serverName = "clusterdns-recordsvc.kube-system.svc"

// policy lets identity "frontend" see everything and "demo-reader" only
// namespace demo.
const policy = `clients:
- identity: frontend
  role: frontend
- identity: demo-reader
  namespaces: [demo]
`

// TestMutualTLS runs clusterdnsctl against a record service that requires
// client certificates: a frontend identity is answered, a namespace-scoped
// identity only in its namespace, and a client without a certificate or
// with a wrong server name is refused (exit 3).
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	bins := stack.InstalledCtl(t)
	dir := t.TempDir()
	now := time.Now()
	ca, err := mtls.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string, spec mtls.CertSpec) mtls.Files {
		kp, err := mtls.Issue(ca, spec, now)
		if err != nil {
			t.Fatal(err)
		}
		f := mtls.Files{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
		for path, data := range map[string][]byte{f.Cert: kp.CertPEM, f.Key: kp.KeyPEM, f.CA: ca.CertPEM} {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	server := issue("server", mtls.CertSpec{Identity: "recordsvc", DNSNames: []string{serverName},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, Lifetime: time.Hour})
	frontend := issue("frontend", mtls.CertSpec{Identity: "frontend", Client: true, Lifetime: time.Hour})
	reader := issue("demo-reader", mtls.CertSpec{Identity: "demo-reader", Client: true, Lifetime: time.Hour})
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := fileRecordService(t, bins, "--tls-cert", server.Cert, "--tls-key", server.Key, "--tls-client-ca", server.CA,
		"--authz-policy", policyFile)
	as := func(f mtls.Files, extra ...string) []string {
		return append([]string{"--recordsvc", rs.Addr, "--recordsvc-tls-cert", f.Cert, "--recordsvc-tls-key", f.Key,
			"--recordsvc-tls-ca", f.CA}, extra...)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"frontend by IP", as(frontend, "lookup", "kubernetes.default.svc.cluster.local"), 0, "10.96.0.1", ""},
		{"frontend by name", as(frontend, "--recordsvc-tls-server-name", serverName, "get", "service", "default/kubernetes"), 0, "10.96.0.1", ""},
		{"scoped in its namespace", as(reader, "get", "service", "demo/web"), 0, "10.96.0.20", ""},
		{"scoped listing", as(reader, "list", "services"), 0, "demo", ""},
		{"scoped elsewhere", as(reader, "get", "service", "default/kubernetes"), 3, "", "PermissionDenied"},
		{"wrong server name", as(frontend, "--recordsvc-tls-server-name", "other.example", "lookup", "kubernetes.default.svc.cluster.local"), 3, "", "Unavailable"},
		{"no client certificate", []string{"--recordsvc", rs.Addr, "--recordsvc-tls-ca", frontend.CA, "lookup", "kubernetes.default.svc.cluster.local"}, 3, "", ""},
		{"plaintext", []string{"--recordsvc", rs.Addr, "lookup", "kubernetes.default.svc.cluster.local"}, 3, "", "Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ctl(t, bins, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("want exit %d, stdout with %q, stderr with %q; got %v", tc.code, tc.stdout, tc.stderr, r)
			}
		})
	}
	// A namespace-scoped listing holds only its namespace.
	r := ctl(t, bins, as(reader, "list", "services")...)
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		if !strings.HasPrefix(l, "demo ") {
			t.Errorf("demo-reader sees %q", l)
		}
	}
}
