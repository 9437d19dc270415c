package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

// TestRecordServiceCredentials: no TLS flags give plaintext, with a warning
// unless the record service is on loopback; the CA alone gives TLS without a
// client certificate; all three give mutual TLS; files that do not hold
// what they should fail with the flags named.
func TestRecordServiceCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, err := mtls.NewCA("test CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := mtls.Issue(ca, mtls.CertSpec{Identity: "frontend", Client: true, Lifetime: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caFile, cert, key := write("ca.crt", ca.CertPEM), write("tls.crt", kp.CertPEM), write("tls.key", kp.KeyPEM)
	garbage := write("garbage.pem", []byte("not PEM"))

	tests := []struct {
		name     string
		target   string
		files    mtls.Files
		wantTLS  bool
		wantWarn bool
		wantErr  string
	}{
		{"plaintext on loopback", "127.0.0.1:9090", mtls.Files{}, false, false, ""},
		{"plaintext to replicas on loopback", "127.0.0.1:9090,[::1]:9090", mtls.Files{}, false, false, ""},
		{"plaintext across the network", "recordsvc.kube-system.svc:9090", mtls.Files{}, false, true, ""},
		{"TLS without a client certificate", "recordsvc:9090", mtls.Files{CA: caFile}, true, false, ""},
		{"mutual TLS", "recordsvc:9090", mtls.Files{Cert: cert, Key: key, CA: caFile}, true, false, ""},
		{"CA file without a certificate", "recordsvc:9090", mtls.Files{CA: garbage}, false, false, "--recordsvc-tls-ca"},
		{"key that is not a key", "recordsvc:9090", mtls.Files{Cert: cert, Key: garbage, CA: caFile}, false, false, "--recordsvc-tls-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			log := slog.New(slog.NewTextHandler(&logs, nil))
			cfg := Config{RecordService: tt.target, RecordServiceTLS: tt.files, RecordServiceServerName: "recordsvc"}
			creds, err := recordServiceCredentials(context.Background(), cfg, log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("recordServiceCredentials: %v", err)
			}
			if gotTLS := creds != nil && creds.Info().SecurityProtocol == "tls"; gotTLS != tt.wantTLS {
				t.Errorf("TLS %v, want %v", gotTLS, tt.wantTLS)
			}
			if gotWarn := strings.Contains(logs.String(), "level=WARN"); gotWarn != tt.wantWarn {
				t.Errorf("warning logged %v, want %v:\n%s", gotWarn, tt.wantWarn, logs.String())
			}
		})
	}
}
