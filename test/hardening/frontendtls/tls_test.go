package frontendtls

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// handshakeLog is what the frontend logs when the record service refuses
// its certificate or presents one it does not trust.
const handshakeLog = "record service TLS handshake failed"

// startTLSRecordService runs the record service with mutual TLS: its
// certificate from p, client certificates verified against p's CA.
func startTLSRecordService(t *testing.T, bins stack.Binaries, p *pki) *stack.Process {
	t.Helper()
	return stack.StartRecordService(t, bins, "--source", "file:"+clusterFile(t),
		"--tls-cert", p.serverCert, "--tls-key", p.serverKey, "--tls-client-ca", p.caFile)
}

// TestMutualTLS: with the record service on mutual TLS, a frontend with a
// certificate of the trusted CA answers cluster names; one without a
// certificate, with one of another CA, that does not trust the record
// service's CA, or that speaks plaintext gets SERVFAIL for them, never
// NXDOMAIN, and (for the TLS cases) logs the failed handshake.
func TestMutualTLS(t *testing.T) {
	bins := stack.Installed(t)
	good := newPKI(t, "clusterdns test CA")
	other := newPKI(t, "another CA")
	rs := startTLSRecordService(t, bins, good)
	goodCert, goodKey := good.clientCert(t, "frontend", "frontend")
	otherCert, otherKey := other.clientCert(t, "frontend", "frontend")

	tests := []struct {
		name    string
		args    []string
		works   bool
		wantLog bool
	}{
		{"valid certificate", []string{"--recordsvc-tls-cert", goodCert, "--recordsvc-tls-key", goodKey,
			"--recordsvc-tls-ca", good.caFile, "--recordsvc-tls-server-name", serverName}, true, false},
		{"server name from --recordsvc (127.0.0.1)", []string{"--recordsvc-tls-cert", goodCert, "--recordsvc-tls-key", goodKey,
			"--recordsvc-tls-ca", good.caFile}, true, false},
		{"no client certificate", []string{"--recordsvc-tls-ca", good.caFile, "--recordsvc-tls-server-name", serverName}, false, true},
		{"certificate of another CA", []string{"--recordsvc-tls-cert", otherCert, "--recordsvc-tls-key", otherKey,
			"--recordsvc-tls-ca", good.caFile, "--recordsvc-tls-server-name", serverName}, false, true},
		{"record service's CA not trusted", []string{"--recordsvc-tls-cert", goodCert, "--recordsvc-tls-key", goodKey,
			"--recordsvc-tls-ca", other.caFile, "--recordsvc-tls-server-name", serverName}, false, true},
		{"plaintext", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := stack.StartFrontend(t, bins, rs.Addr, append([]string{"--lookup-timeout", "1s"}, tt.args...)...)
			if tt.works {
				waitFor(t, waitLong, clusterName+" answered over mutual TLS", func() bool {
					return answersIP(ask(t, fe.Addr, clusterName, false), clusterIP)
				})
				if r := ask(t, fe.Addr, clusterName, true); !answersIP(r, clusterIP) {
					t.Errorf("tcp %s: %v", clusterName, r)
				}
				if logHas(fe, handshakeLog) {
					t.Errorf("frontend logged a failed handshake with a valid certificate:\n%s", fe.LogTail(20))
				}
				return
			}
			// Several names, never cached, over both transports: each is
			// SERVFAIL, never NXDOMAIN.
			for i, name := range []string{clusterName, "absent.default.svc.cluster.local.", "web.demo.svc.cluster.local."} {
				tcp := i%2 == 1
				if r := ask(t, fe.Addr, name, tcp); r.Rcode != dns.RcodeServerFailure {
					t.Errorf("%s %s: %s, want SERVFAIL", stack.Transport(tcp), name, dns.RcodeToString[r.Rcode])
				}
			}
			if tt.wantLog {
				waitFor(t, waitLong, "the frontend logs the failed handshake", func() bool { return logHas(fe, handshakeLog) })
			}
		})
	}
}

// TestCertificateRotation: a frontend whose certificate the record service
// refuses starts working, without a restart, once its certificate and key
// files are replaced by a certificate of the trusted CA.
func TestCertificateRotation(t *testing.T) {
	bins := stack.Installed(t)
	good := newPKI(t, "clusterdns test CA")
	other := newPKI(t, "another CA")
	rs := startTLSRecordService(t, bins, good)
	// The frontend's files start as a certificate of the wrong CA.
	otherCert, otherKey := other.clientCert(t, "frontend", "frontend")
	goodCert, goodKey := good.clientCert(t, "frontend", "frontend")
	dir := t.TempDir()
	cert, key := dir+"/tls.crt", dir+"/tls.key"
	replaceFile(t, otherCert, cert)
	replaceFile(t, otherKey, key)
	fe := stack.StartFrontend(t, bins, rs.Addr, "--lookup-timeout", "1s",
		"--recordsvc-tls-cert", cert, "--recordsvc-tls-key", key, "--recordsvc-tls-ca", good.caFile,
		"--recordsvc-tls-server-name", serverName)
	if r := ask(t, fe.Addr, clusterName, false); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("%s with a refused certificate: %s, want SERVFAIL", clusterName, dns.RcodeToString[r.Rcode])
	}
	waitFor(t, waitLong, "the frontend logs the refused certificate", func() bool { return logHas(fe, handshakeLog) })

	// Rotate: key first, then the certificate, as two separate renames; a
	// half-rotated pair must not stick.
	replaceFile(t, goodKey, key)
	replaceFile(t, goodCert, cert)
	pid := fe.PID()
	waitFor(t, waitLong, clusterName+" answered after the rotation", func() bool {
		return answersIP(ask(t, fe.Addr, clusterName, false), clusterIP)
	})
	if fe.PID() != pid {
		t.Errorf("frontend restarted (pid %d, was %d)", fe.PID(), pid)
	}
	if !logHas(fe, "TLS files reloaded") {
		t.Errorf("frontend did not log the reload:\n%s", fe.LogTail(20))
	}
	start := time.Now()
	if r := ask(t, fe.Addr, "absent.default.svc.cluster.local.", true); r.Rcode != dns.RcodeNameError {
		t.Errorf("absent name after the rotation: %s (after %v), want NXDOMAIN", dns.RcodeToString[r.Rcode], time.Since(start))
	}
}
