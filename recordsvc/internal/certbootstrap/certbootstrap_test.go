package certbootstrap

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

func testConfig(now *time.Time) Config {
	return Config{
		Namespace:      "kube-system",
		ServerDNSNames: []string{"clusterdns-recordsvc.kube-system.svc"},
		ServerIPs:      []net.IP{net.ParseIP("10.96.0.11")},
		Clients:        []string{"billing"},
		CALifetime:     3 * 365 * 24 * time.Hour,
		CertLifetime:   90 * 24 * time.Hour,
		Now:            func() time.Time { return *now },
	}
}

func bundleCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// TestRunOverTime runs the bootstrap as the daily CronJob would at points of
// the certificates' and the CA's lifetimes and checks what it does.
func TestRunOverTime(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := testConfig(&now)
	logger := slog.New(slog.DiscardHandler)
	leaves := []string{RecordSvcTLS, FrontendTLS, ClientSecret("billing")}

	steps := []struct {
		name    string
		at      time.Duration // since the start
		created []string
		renewed []string
	}{
		{"install", 0, append([]string{CASecret}, leaves...), nil},
		{"next day", 24 * time.Hour, nil, nil},
		{"day 59", 59 * 24 * time.Hour, nil, nil},
		{"day 61: past two thirds of 90 days", 61 * 24 * time.Hour, nil, leaves},
		{"day 62", 62 * 24 * time.Hour, nil, nil},
		{"past two thirds of the CA", 2*365*24*time.Hour + 24*time.Hour, nil, append([]string{CASecret}, leaves...)},
		{"a day later", 2*365*24*time.Hour + 48*time.Hour, nil, nil},
	}
	var prevCA *x509.Certificate
	for _, s := range steps {
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(s.at)
		res, err := Run(ctx, client, cfg, logger)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !slices.Equal(res.Created, s.created) || !slices.Equal(res.Renewed, s.renewed) {
			t.Fatalf("%s: created %v renewed %v, want %v %v", s.name, res.Created, res.Renewed, s.created, s.renewed)
		}
		caSec, err := client.CoreV1().Secrets("kube-system").Get(ctx, CASecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ca, err := mtls.ParseKeyPair(caSec.Data[KeyCert], caSec.Data[KeyPrivateKey])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range leaves {
			sec, err := client.CoreV1().Secrets("kube-system").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			kp, err := mtls.ParseKeyPair(sec.Data[KeyCert], sec.Data[KeyPrivateKey])
			if err != nil {
				t.Fatalf("%s: %s: %v", s.name, name, err)
			}
			if err := kp.Cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Fatalf("%s: %s not signed by the current CA", s.name, name)
			}
			bundle := bundleCerts(t, sec.Data[KeyCA])
			if !slices.ContainsFunc(bundle, ca.Cert.Equal) {
				t.Fatalf("%s: %s's ca.crt lacks the current CA", s.name, name)
			}
			// After a CA renewal the old CA stays in the bundle, so peers
			// still holding certificates of it verify until they reload.
			if prevCA != nil && !prevCA.Equal(ca.Cert) && !slices.ContainsFunc(bundle, prevCA.Equal) {
				t.Fatalf("%s: %s's ca.crt lacks the previous CA", s.name, name)
			}
		}
		if prevCA == nil || !prevCA.Equal(ca.Cert) {
			if prevCA != nil {
				if got := len(bundleCerts(t, caSec.Data[KeyCA])); got != 2 {
					t.Fatalf("%s: CA bundle holds %d certificates, want 2", s.name, got)
				}
			}
			prevCA = ca.Cert
		}
	}
}

// TestNamesChanged reissues the server certificate when its names change.
func TestNamesChanged(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	now := time.Now()
	cfg := testConfig(&now)
	logger := slog.New(slog.DiscardHandler)
	if _, err := Run(ctx, client, cfg, logger); err != nil {
		t.Fatal(err)
	}
	cfg.ServerIPs = []net.IP{net.ParseIP("10.100.0.11")}
	res, err := Run(ctx, client, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Renewed, []string{RecordSvcTLS}) {
		t.Fatalf("renewed %v, want only %s", res.Renewed, RecordSvcTLS)
	}
}
