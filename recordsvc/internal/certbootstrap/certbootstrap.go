// Package certbootstrap creates and renews the clusterdns CA and the
// certificates of the record service and the frontends in Kubernetes
// Secrets, so a deploy needs no manual step. Each Secret holds tls.crt,
// tls.key and ca.crt (the CA bundle peers are verified against); the pods
// mount them and the binaries reload the files when the kubelet updates
// them. Running it again changes nothing until a certificate is past two
// thirds of its lifetime, is missing or invalid, or names the wrong hosts.
package certbootstrap

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

// Secret names and the keys inside them.
const (
	CASecret       = "clusterdns-ca"
	RecordSvcTLS   = "clusterdns-recordsvc-tls"
	FrontendTLS    = "clusterdns-frontend-tls"
	KeyCert        = corev1.TLSCertKey       // tls.crt
	KeyPrivateKey  = corev1.TLSPrivateKeyKey // tls.key
	KeyCA          = "ca.crt"
	recordsvcIdent = "recordsvc"
)

// Config says what to issue.
type Config struct {
	Namespace string
	// ServerDNSNames and ServerIPs are the names of the record service's
	// certificate: its Services' names and the frontends' fixed VIP.
	ServerDNSNames []string
	ServerIPs      []net.IP
	// Clients are the identities of extra client certificates, each in
	// Secret clusterdns-client-<identity>-tls (for the authorization
	// policy's namespace-scoped clients).
	Clients      []string
	CALifetime   time.Duration
	CertLifetime time.Duration
	Now          func() time.Time
}

// ClientSecret is the Secret of an extra client identity.
func ClientSecret(identity string) string { return "clusterdns-client-" + identity + "-tls" }

// Result lists what a run did, by Secret name.
type Result struct {
	Created, Renewed, Unchanged []string
}

// Run makes the Secrets of cfg exist and be current.
func Run(ctx context.Context, client kubernetes.Interface, cfg Config, logger *slog.Logger) (Result, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &bootstrap{client: client, cfg: cfg, logger: logger}
	ca, bundle, err := b.ensureCA(ctx)
	if err != nil {
		return b.res, err
	}
	leaves := []struct {
		secret string
		spec   mtls.CertSpec
	}{
		{RecordSvcTLS, mtls.CertSpec{Identity: recordsvcIdent, DNSNames: cfg.ServerDNSNames, IPs: cfg.ServerIPs, Server: true}},
		{FrontendTLS, mtls.CertSpec{Identity: "frontend", Client: true}},
	}
	for _, id := range cfg.Clients {
		leaves = append(leaves, struct {
			secret string
			spec   mtls.CertSpec
		}{ClientSecret(id), mtls.CertSpec{Identity: id, Client: true}})
	}
	for _, l := range leaves {
		l.spec.Lifetime = cfg.CertLifetime
		if err := b.ensureLeaf(ctx, l.secret, l.spec, ca, bundle); err != nil {
			return b.res, err
		}
	}
	return b.res, nil
}

type bootstrap struct {
	client kubernetes.Interface
	cfg    Config
	logger *slog.Logger
	res    Result
}

// ensureCA returns the current CA and the bundle to distribute: the CA and,
// after a CA renewal, the previous CA until it expires, so that peers still
// presenting certificates of the old CA verify while the new ones roll out.
func (b *bootstrap) ensureCA(ctx context.Context) (mtls.KeyPair, []byte, error) {
	now := b.cfg.Now()
	sec, err := b.get(ctx, CASecret)
	if err != nil {
		return mtls.KeyPair{}, nil, err
	}
	var old *mtls.KeyPair
	if sec != nil {
		kp, perr := mtls.ParseKeyPair(sec.Data[KeyCert], sec.Data[KeyPrivateKey])
		switch {
		case perr != nil:
			b.logger.Warn("CA Secret unusable, replacing it", "secret", CASecret, "err", perr)
		case !kp.Cert.IsCA:
			b.logger.Warn("CA Secret holds no CA certificate, replacing it", "secret", CASecret)
		case !mtls.NeedsRenewal(kp.Cert, now):
			b.res.Unchanged = append(b.res.Unchanged, CASecret)
			return kp, caBundle(sec.Data[KeyCA], kp, now), nil
		default:
			old = &kp
		}
	}
	ca, err := mtls.NewCA("clusterdns CA", b.cfg.CALifetime, now)
	if err != nil {
		return mtls.KeyPair{}, nil, err
	}
	bundle := ca.CertPEM
	if old != nil && now.Before(old.Cert.NotAfter) {
		bundle = append(slices.Clone(bundle), old.CertPEM...)
	}
	data := map[string][]byte{KeyCert: ca.CertPEM, KeyPrivateKey: ca.KeyPEM, KeyCA: bundle}
	if err := b.put(ctx, CASecret, sec, data); err != nil {
		return mtls.KeyPair{}, nil, err
	}
	return ca, bundle, nil
}

// caBundle is the stored bundle without its expired certificates, always
// holding ca.
func caBundle(stored []byte, ca mtls.KeyPair, now time.Time) []byte {
	out := slices.Clone(ca.CertPEM)
	for rest := stored; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil || c.Equal(ca.Cert) || now.After(c.NotAfter) {
			continue
		}
		out = append(out, pem.EncodeToMemory(blk)...)
	}
}

// ensureLeaf issues the certificate of secret unless the stored one is
// current: signed by ca, for spec's names, not past two thirds of its life.
func (b *bootstrap) ensureLeaf(ctx context.Context, secret string, spec mtls.CertSpec, ca mtls.KeyPair, bundle []byte) error {
	now := b.cfg.Now()
	sec, err := b.get(ctx, secret)
	if err != nil {
		return err
	}
	if sec != nil {
		reason := staleReason(sec, spec, ca, bundle, now)
		if reason == "" {
			b.res.Unchanged = append(b.res.Unchanged, secret)
			return nil
		}
		b.logger.Info("reissuing certificate", "secret", secret, "reason", reason)
	}
	kp, err := mtls.Issue(ca, spec, now)
	if err != nil {
		return err
	}
	return b.put(ctx, secret, sec, map[string][]byte{KeyCert: kp.CertPEM, KeyPrivateKey: kp.KeyPEM, KeyCA: bundle})
}

// staleReason says why the Secret's certificate must be reissued, or "".
func staleReason(sec *corev1.Secret, spec mtls.CertSpec, ca mtls.KeyPair, bundle []byte, now time.Time) string {
	kp, err := mtls.ParseKeyPair(sec.Data[KeyCert], sec.Data[KeyPrivateKey])
	if err != nil {
		return err.Error()
	}
	if err := kp.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		return "not issued by the current CA"
	}
	if mtls.NeedsRenewal(kp.Cert, now) {
		return "past two thirds of its lifetime"
	}
	if !slices.Equal(kp.Cert.DNSNames, spec.DNSNames) || !slices.EqualFunc(kp.Cert.IPAddresses, spec.IPs, net.IP.Equal) {
		return "names changed"
	}
	if id, _ := mtls.CertIdentity(kp.Cert); id != spec.Identity {
		return "identity changed"
	}
	if !bytes.Equal(sec.Data[KeyCA], bundle) {
		return "CA bundle changed"
	}
	return ""
}

// get returns the Secret, or nil when it does not exist.
func (b *bootstrap) get(ctx context.Context, name string) (*corev1.Secret, error) {
	sec, err := b.client.CoreV1().Secrets(b.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", b.cfg.Namespace, name, err)
	}
	return sec, nil
}

// put creates the Secret (prev nil) or updates prev; the update carries
// prev's resourceVersion, so two concurrent runs cannot both win.
func (b *bootstrap) put(ctx context.Context, name string, prev *corev1.Secret, data map[string][]byte) error {
	secrets := b.client.CoreV1().Secrets(b.cfg.Namespace)
	if prev == nil {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.cfg.Namespace, Labels: map[string]string{
				"app.kubernetes.io/part-of":    "clusterdns",
				"app.kubernetes.io/managed-by": "clusterdns-bootstrap-certs",
			}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create secret %s/%s: %w", b.cfg.Namespace, name, err)
		}
		b.res.Created = append(b.res.Created, name)
		b.logger.Info("secret created", "secret", name)
		return nil
	}
	sec := prev.DeepCopy()
	sec.Data = data
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update secret %s/%s: %w", b.cfg.Namespace, name, err)
	}
	b.res.Renewed = append(b.res.Renewed, name)
	b.logger.Info("secret renewed", "secret", name)
	return nil
}
