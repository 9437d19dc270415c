package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

// countingListener counts the connections accepted and keeps them, so that a test can break them.
type countingListener struct {
	net.Listener
	accepted atomic.Int32

	mu    sync.Mutex
	conns []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// closeAll closes, on the server's side, every connection accepted so far.
func (l *countingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

// startStreamUpstream answers 192.0.2.1 over TCP, wrapped in TLS when cfg is set, on 127.0.0.1.
func startStreamUpstream(t *testing.T, cfg *tls.Config) (addr string, ln *countingListener) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = &countingListener{Listener: raw}
	var l net.Listener = ln
	if cfg != nil {
		l = tls.NewListener(ln, cfg)
	}
	started := make(chan struct{})
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(answerA("192.0.2.1")), NotifyStartedFunc: func() { close(started) },
		IdleTimeout: func() time.Duration { return time.Minute }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return raw.Addr().String(), ln
}

// testTLS returns a server config with a certificate for dns.test issued by a new CA, and that CA's pool.
func testTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	now := time.Now()
	ca, err := mtls.NewCA("test CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := mtls.Issue(ca, mtls.CertSpec{Identity: "dns", DNSNames: []string{"dns.test"}, Server: true, Lifetime: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, pool
}

// forwardA forwards an A question for name.
func forwardA(t *testing.T, f *Forwarder, name string) (*dns.Msg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.Forward(ctx, query(name, dns.TypeA, 1))
}

func TestStreamUpstreams(t *testing.T) {
	serverTLS, pool := testTLS(t)
	tcpAddr, tcpLn := startStreamUpstream(t, nil)
	tlsAddr, tlsLn := startStreamUpstream(t, serverTLS)
	for _, tc := range []struct {
		name, upstream string
		ln             *countingListener
		wantErr        string
	}{
		{"tcp", "tcp://" + tcpAddr, tcpLn, ""},
		{"tls", "tls://" + tlsAddr + "#dns.test", tlsLn, ""},
		{"tls wrong name", "tls://" + tlsAddr + "#other.test", nil, "certificate is valid for dns.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(Config{Upstreams: []string{tc.upstream}, Timeout: testTimeout, TLSRootCAs: pool}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			before := int32(0)
			if tc.ln != nil {
				before = tc.ln.accepted.Load()
			}
			for range 3 {
				r, err := forwardA(t, f, "a.example.")
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Forward: %v, want an error containing %q", err, tc.wantErr)
					}
					return
				}
				if err != nil || len(r.Answer) != 1 {
					t.Fatalf("Forward: %v %v", r, err)
				}
			}
			// Three queries, one connection: it was kept and reused.
			if n := tc.ln.accepted.Load() - before; n != 1 {
				t.Errorf("%d connections for 3 queries, want 1", n)
			}
		})
	}
}

// TestStreamRedial breaks the kept connection on the server's side between queries: the next query finds
// it dead, dials a new connection and still gets its answer, over TCP and TLS alike.
func TestStreamRedial(t *testing.T) {
	serverTLS, pool := testTLS(t)
	tcpAddr, tcpLn := startStreamUpstream(t, nil)
	tlsAddr, tlsLn := startStreamUpstream(t, serverTLS)
	for _, tc := range []struct {
		name, upstream string
		ln             *countingListener
	}{
		{"tcp", "tcp://" + tcpAddr, tcpLn},
		{"tls", "tls://" + tlsAddr + "#dns.test", tlsLn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(Config{Upstreams: []string{tc.upstream}, Timeout: testTimeout, TLSRootCAs: pool}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			before := tc.ln.accepted.Load()
			for i := range 3 {
				tc.ln.closeAll()
				r, err := forwardA(t, f, "a.example.")
				if err != nil || len(r.Answer) != 1 {
					t.Fatalf("query %d after the connection broke: %v %v", i, r, err)
				}
			}
			if n := tc.ln.accepted.Load() - before; n != 3 {
				t.Errorf("%d connections for 3 queries each after a break, want 3", n)
			}
			if upstreamDown(f, tc.upstream) || f.routes.Load().all[0].fails.Load() != 0 {
				t.Error("a broken kept connection counted against the upstream")
			}
		})
	}
}

// TestUpdate moves the default upstreams and a stub domain while the forwarder serves.
func TestUpdate(t *testing.T) {
	a := startUpstream(t, answerA("192.0.2.1"))
	b := startUpstream(t, answerA("192.0.2.1"))
	f, err := New(Config{Upstreams: []string{a.addr}, Timeout: testTimeout}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forwardA(t, f, "x.example."); err != nil {
		t.Fatal(err)
	}
	if err := f.Update(Update{Upstreams: []string{b.addr}, StubDomains: map[string][]string{"corp.example": {a.addr}},
		Policy: PolicySequential}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"y.example.", "db.corp.example."} {
		if _, err := forwardA(t, f, name); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(a.received()); got != 2 {
		t.Errorf("old upstream got %d queries, want 2 (x.example before, db.corp.example after)", got)
	}
	if got := b.received(); len(got) != 1 || got[0].name != "y.example." {
		t.Errorf("new upstream got %v, want y.example.", got)
	}
	for _, bad := range []Update{{Upstreams: []string{"dns.example"}}, {Policy: "fastest", Upstreams: []string{b.addr}},
		{Upstreams: []string{b.addr}, StubDomains: map[string][]string{"corp.example": nil}}} {
		if err := f.Update(bad); err == nil {
			t.Errorf("Update(%+v) accepted", bad)
		}
	}
	if got := f.Upstreams(); len(got) != 1 || got[0] != b.addr {
		t.Errorf("after failed updates: upstreams %v, want %s", got, b.addr)
	}
}
