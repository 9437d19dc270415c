package frontendtls

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

// serverName is the name the record service's test certificate is issued
// for, and the frontends' --recordsvc-tls-server-name.
const serverName = "recordsvc.test"

// pki is a test CA with the record service's certificate, written as PEM
// files in a directory of the test.
type pki struct {
	ca                    mtls.KeyPair
	caFile                string
	serverCert, serverKey string
	dir                   string
}

// newPKI creates a CA (x509, ECDSA P-256) named cn and the record service's
// server certificate, valid for serverName and 127.0.0.1.
func newPKI(t *testing.T, cn string) *pki {
	t.Helper()
	now := time.Now()
	ca, err := mtls.NewCA(cn, time.Hour, now)
	if err != nil {
		t.Fatalf("CA: %v", err)
	}
	p := &pki{ca: ca, dir: t.TempDir()}
	p.caFile = p.write(t, "ca.crt", ca.CertPEM)
	p.serverCert, p.serverKey = p.issue(t, "server", mtls.CertSpec{
		Identity: "recordsvc", DNSNames: []string{serverName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		Server: true, Lifetime: time.Hour,
	})
	return p
}

// clientCert issues a client certificate for identity and writes it as
// NAME.crt and NAME.key.
func (p *pki) clientCert(t *testing.T, name, identity string) (cert, key string) {
	t.Helper()
	return p.issue(t, name, mtls.CertSpec{Identity: identity, Client: true, Lifetime: time.Hour})
}

func (p *pki) issue(t *testing.T, name string, spec mtls.CertSpec) (cert, key string) {
	t.Helper()
	kp, err := mtls.Issue(p.ca, spec, time.Now())
	if err != nil {
		t.Fatalf("issue %s: %v", name, err)
	}
	return p.write(t, name+".crt", kp.CertPEM), p.write(t, name+".key", kp.KeyPEM)
}

func (p *pki) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile puts src's content at dst by writing a new file and renaming
// it over dst, as a Secret volume update or an editor replaces files.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}
