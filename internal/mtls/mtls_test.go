package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA with a server and a client certificate written to dir.
type testPKI struct {
	ca             KeyPair
	server, client Files
}

func writeFiles(t *testing.T, dir, name string, kp, ca KeyPair) Files {
	t.Helper()
	f := Files{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, name+"-ca.crt")}
	for p, b := range map[string][]byte{f.Cert: kp.CertPEM, f.Key: kp.KeyPEM, f.CA: ca.CertPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	now := time.Now()
	ca, err := NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Issue(ca, CertSpec{Identity: "recordsvc", DNSNames: []string{"recordsvc.test"}, Server: true, Lifetime: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Issue(ca, CertSpec{Identity: "frontend", Client: true, Lifetime: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{ca: ca, server: writeFiles(t, dir, "server", srv, ca), client: writeFiles(t, dir, "client", cli, ca)}
}

// serveTLS accepts TLS connections on loopback and reports each client's
// identity (or handshake error) on the returned channel.
func serveTLS(t *testing.T, cfg *tls.Config) (string, <-chan string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	ids := make(chan string, 16)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := tc.HandshakeContext(ctx); err != nil {
					ids <- "error: " + err.Error()
					return
				}
				id, ok := Identity(tc.ConnectionState())
				if !ok {
					id = "(none)"
				}
				ids <- id
				_, _ = tc.Write([]byte("x"))
			}()
		}
	}()
	return lis.Addr().String(), ids
}

// dial handshakes with addr and reads one byte, returning the server's leaf.
func dial(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// In TLS 1.3 a rejected client certificate shows on the first read.
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestHandshake(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	other := newTestPKI(t, t.TempDir()) // a CA the server does not trust
	srvCfg, err := ServerConfig(ctx, pki.server, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, ids := serveTLS(t, srvCfg)

	noCert := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: "recordsvc.test", RootCAs: x509.NewCertPool()}
	noCert.RootCAs.AddCert(pki.ca.Cert)
	tests := []struct {
		name    string
		client  func() (*tls.Config, error)
		wantErr bool
		wantID  string
	}{
		{"valid client", func() (*tls.Config, error) { return ClientConfig(ctx, pki.client, "recordsvc.test", nil) }, false, "frontend"},
		{"no client certificate", func() (*tls.Config, error) { return noCert, nil }, true, "error"},
		{"client of another CA", func() (*tls.Config, error) {
			return ClientConfig(ctx, Files{Cert: other.client.Cert, Key: other.client.Key, CA: pki.client.CA}, "recordsvc.test", nil)
		}, true, "error"},
		{"server not of the client's CA", func() (*tls.Config, error) {
			return ClientConfig(ctx, Files{Cert: pki.client.Cert, Key: pki.client.Key, CA: other.client.CA}, "recordsvc.test", nil)
		}, true, "error"},
		{"wrong server name", func() (*tls.Config, error) { return ClientConfig(ctx, pki.client, "elsewhere.test", nil) }, true, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.client()
			if err != nil {
				t.Fatal(err)
			}
			_, err = dial(addr, cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("dial: err = %v, want error %v", err, tt.wantErr)
			}
			got := <-ids
			if tt.wantID == "error" {
				if len(got) < 6 || got[:6] != "error:" {
					t.Fatalf("server saw %q, want a handshake error", got)
				}
				return
			}
			if got != tt.wantID {
				t.Fatalf("identity = %q, want %q", got, tt.wantID)
			}
		})
	}
}

// TestRotation rewrites every file of both ends with a new CA: new
// connections must use the new certificates and verify against the new CA.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	srvCfg, err := ServerConfig(ctx, pki.server, nil)
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := ClientConfig(ctx, pki.client, "recordsvc.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, ids := serveTLS(t, srvCfg)
	go func() {
		for range ids { // drained; identities are checked in TestHandshake
		}
	}()
	first, err := dial(addr, cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	rotated := newTestPKI(t, dir) // same paths, new CA and certificates
	deadline := time.Now().Add(30 * time.Second)
	for {
		leaf, err := dial(addr, cliCfg)
		if err == nil && leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if err := leaf.CheckSignatureFrom(rotated.ca.Cert); err != nil {
				t.Fatalf("new server certificate not from the rotated CA: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not picked up within 30s (last err %v)", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// TestReloadKeepsLastGood covers the reloader's decisions directly, with
// the check interval at zero.
func TestReloadKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	r, err := newReloader(context.Background(), pki.server, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0
	serial := func() string { return r.current().cert.Leaf.SerialNumber.String() }
	orig := serial()

	steps := []struct {
		name    string
		write   func()
		changed bool // whether the serial must differ from the previous step's
	}{
		{"unchanged files", func() {}, false},
		{"garbage certificate", func() { mustWrite(t, pki.server.Cert, []byte("not pem")) }, false},
		{"missing key", func() { _ = os.Remove(pki.server.Key) }, false},
		{"good set again", func() {
			ca := rewriteCA(t, pki.server)
			kp, err := Issue(ca, CertSpec{Identity: "recordsvc", Server: true, Lifetime: time.Hour}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, pki.server.Key, kp.KeyPEM)
			mustWrite(t, pki.server.Cert, kp.CertPEM)
		}, true},
		{"key of another certificate", func() {
			other := newTestPKI(t, t.TempDir())
			b, _ := os.ReadFile(other.server.Key)
			mustWrite(t, pki.server.Key, b)
		}, false},
	}
	prev := orig
	for _, s := range steps {
		s.write()
		got := serial()
		if (got != prev) != s.changed {
			t.Fatalf("%s: serial %s -> %s, want changed=%v", s.name, prev, got, s.changed)
		}
		prev = got
	}
}

// rewriteCA writes a fresh CA as f.CA and returns it, to sign a new
// certificate for f with.
func rewriteCA(t *testing.T, f Files) KeyPair {
	t.Helper()
	ca, err := NewCA("second CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.CA, ca.CertPEM)
	return ca
}

// TestSecretVolumeSwap mimics the kubelet's atomic update of a Secret
// volume: the files are symlinks through ..data, which is swapped to a new
// directory in one rename.
func TestSecretVolumeSwap(t *testing.T) {
	vol := t.TempDir()
	write := func(name string) KeyPair {
		d := filepath.Join(vol, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		ca, err := NewCA("ca "+name, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		kp, err := Issue(ca, CertSpec{Identity: name, Client: true, Lifetime: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(d, "tls.crt"), kp.CertPEM)
		mustWrite(t, filepath.Join(d, "tls.key"), kp.KeyPEM)
		mustWrite(t, filepath.Join(d, "ca.crt"), ca.CertPEM)
		tmp := filepath.Join(vol, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(vol, "..data")); err != nil {
			t.Fatal(err)
		}
		return kp
	}
	write("first")
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(vol, f)); err != nil {
			t.Fatal(err)
		}
	}
	files := Files{Cert: filepath.Join(vol, "tls.crt"), Key: filepath.Join(vol, "tls.key"), CA: filepath.Join(vol, "ca.crt")}
	r, err := newReloader(context.Background(), files, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0
	if id, _ := CertIdentity(r.current().cert.Leaf); id != "first" {
		t.Fatalf("identity %q, want first", id)
	}
	write("second")
	if id, _ := CertIdentity(r.current().cert.Leaf); id != "second" {
		t.Fatalf("after the swap: identity %q, want second", id)
	}
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCertIdentity(t *testing.T) {
	tests := []struct {
		name   string
		cert   *x509.Certificate
		want   string
		wantOK bool
	}{
		{"uri SAN", &x509.Certificate{URIs: []*url.URL{IdentityURI("frontend")}, Subject: pkix.Name{CommonName: "cn"}}, "frontend", true},
		{"other scheme ignored", &x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "x"}}, Subject: pkix.Name{CommonName: "cn"}}, "cn", true},
		{"common name", &x509.Certificate{Subject: pkix.Name{CommonName: "billing"}}, "billing", true},
		{"nothing", &x509.Certificate{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CertIdentity(tt.cert)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("got %q %v, want %q %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if _, ok := Identity(tls.ConnectionState{}); ok {
		t.Fatal("Identity of an unverified connection: ok")
	}
}

func TestNeedsRenewal(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &x509.Certificate{NotBefore: start, NotAfter: start.Add(90 * time.Hour)}
	tests := []struct {
		at   time.Duration
		want bool
	}{{-time.Hour, true}, {0, false}, {59 * time.Hour, false}, {61 * time.Hour, true}, {100 * time.Hour, true}}
	for _, tt := range tests {
		if got := NeedsRenewal(c, start.Add(tt.at)); got != tt.want {
			t.Errorf("at +%v: %v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestParseKeyPair(t *testing.T) {
	ca, err := NewCA("ca", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyPair(ca.CertPEM, ca.KeyPEM); err != nil {
		t.Fatalf("matching pair: %v", err)
	}
	if _, err := ParseKeyPair(ca.CertPEM, other.KeyPEM); err == nil {
		t.Fatal("mismatched pair accepted")
	}
	if _, err := ParseKeyPair([]byte("x"), ca.KeyPEM); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("garbage certificate: %v", err)
	}
}
