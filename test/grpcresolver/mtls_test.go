package grpcresolver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/grpcresolver"
	"github.com/clusterdns/clusterdns/internal/mtls"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// recordServiceName is the name the record service's certificate is
// issued for and the resolver's TLS configuration verifies.
const recordServiceName = "clusterdns-recordsvc.kube-system.svc"

// mtlsPolicy scopes identity team-a to its own namespace; frontend, which
// may read every namespace, shows that team-b's Service does resolve, so
// that team-a's refusal comes from the policy and not from missing data.
const mtlsPolicy = `clients:
- identity: frontend
  role: frontend
- identity: team-a
  namespaces: [team-a]
`

// mtlsFiles issues a CA, the record service's certificate and one client
// certificate per identity into dir, and returns the server's files and
// the clients' by identity.
func mtlsFiles(t *testing.T, dir string, identities ...string) (mtls.Files, map[string]mtls.Files) {
	t.Helper()
	now := time.Now()
	ca, err := mtls.NewCA("grpcresolver test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, spec mtls.CertSpec) mtls.Files {
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
	server := write("recordsvc", mtls.CertSpec{Identity: "recordsvc", DNSNames: []string{recordServiceName},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, Lifetime: time.Hour})
	clients := map[string]mtls.Files{}
	for _, id := range identities {
		clients[id] = write("client-"+id, mtls.CertSpec{Identity: id, Client: true, Lifetime: time.Hour})
	}
	return server, clients
}

// TestMutualTLSNamespaceScope resolves through a record service that
// requires client certificates and enforces a policy: a Builder with a
// namespace-scoped identity resolves a Service of its namespace and calls
// reach its backend, while a Service of another namespace fails calls with
// the refusal and never reaches that Service's backend.
func TestMutualTLSNamespaceScope(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	ips := loopbackAddrs(t, 11, 12)
	port, backends := startBackends(t, ips)
	backendOf := map[string]*backend{"team-a": backends[0], "team-b": backends[1]}
	for _, ns := range []string{"team-a", "team-b"} {
		createNamespace(t, ctx, c, ns)
		createService(t, ctx, c, ns, "echo", false, port)
		writeSlice(t, ctx, c, ns, "echo", port, []endpoint{readyEndpoint(backendOf[ns].ip)})
	}

	dir := t.TempDir()
	server, clients := mtlsFiles(t, dir, "team-a", "frontend")
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(mtlsPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	rsvc := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig,
		"--tls-cert", server.Cert, "--tls-key", server.Key, "--tls-client-ca", server.CA, "--authz-policy", policy)

	builders := map[string]*grpcresolver.Builder{}
	for id, files := range clients {
		cfg, err := mtls.ClientConfig(ctx, files, recordServiceName, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := grpcresolver.NewBuilder(grpcresolver.WithRecordService(rsvc.Addr),
			grpcresolver.WithTransportCredentials(credentials.NewTLS(cfg)), grpcresolver.WithClientName("test-mtls-"+id))
		if err != nil {
			t.Fatal(err)
		}
		builders[id] = b
	}

	// In order: frontend's success shows that the record service serves
	// team-b's endpoints before team-a is refused them.
	cases := []struct {
		name     string
		identity string
		ns       string
		allowed  bool
	}{
		{"scoped identity, own namespace", "team-a", "team-a", true},
		{"frontend, any namespace", "frontend", "team-b", true},
		{"scoped identity, other namespace", "team-a", "team-b", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The backends are plaintext: only the record service's
			// connection, inside the resolver, is mutual TLS.
			conn, err := grpc.NewClient("clusterdns:///echo."+tc.ns+":grpc", grpc.WithResolvers(builders[tc.identity]),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := healthpb.NewHealthClient(conn)
			b := backendOf[tc.ns]
			base := b.calls.Load()
			check := func(timeout time.Duration) error {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				_, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
				return err
			}

			if tc.allowed {
				// The first calls may fail while the resolver opens its stream.
				eventually(t, "a call through clusterdns:///echo."+tc.ns, func() string {
					if err := check(2 * time.Second); err != nil {
						return err.Error()
					}
					return ""
				})
				if b.calls.Load() == base {
					t.Fatalf("the call succeeded but backend %s of %s got none", b.ip, tc.ns)
				}
				return
			}

			// A call fails as soon as the resolver reports its error; the
			// deadline only bounds a resolver that reported nothing, which
			// is a failure too. The resolver reports the record service's
			// status wrapped, and grpc-go ends a call whose pick failed
			// with a status error with that status: PERMISSION_DENIED, not
			// the UNAVAILABLE of a resolver error without a status.
			err = check(deadline)
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(strings.ToLower(status.Convert(err).Message()), "permission") {
				t.Fatalf("call through clusterdns:///echo.%s as %s: %v, want PERMISSION_DENIED naming the refusal", tc.ns, tc.identity, err)
			}
			if n := b.calls.Load() - base; n != 0 {
				t.Fatalf("backend %s of %s got %d calls through a refused resolver", b.ip, tc.ns, n)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
}
