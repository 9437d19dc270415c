package mtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// KeyPair is a certificate with its private key, parsed and in PEM.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// CertSpec describes a certificate to issue.
type CertSpec struct {
	// Identity is the peer identity: written as the URI SAN
	// clusterdns://<Identity> and as the subject common name.
	Identity string
	// DNSNames and IPs are the names a server certificate is valid for.
	DNSNames []string
	IPs      []net.IP
	// Server and Client select the extended key usages.
	Server, Client bool
	// Lifetime is how long the certificate is valid from issue.
	Lifetime time.Duration
}

// backdate is how far before now certificates start to be valid, so that
// peers whose clocks lag a little accept them at once.
const backdate = 5 * time.Minute

// NewCA returns a self-signed CA certificate named commonName, valid for
// lifetime from now.
func NewCA(commonName string, lifetime time.Duration, now time.Time) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, tmpl, key, key)
}

// Issue returns a certificate for spec signed by ca.
func Issue(ca KeyPair, spec CertSpec, now time.Time) (KeyPair, error) {
	if spec.Identity == "" {
		return KeyPair{}, errors.New("mtls: certificate without identity")
	}
	if !spec.Server && !spec.Client {
		return KeyPair{}, errors.New("mtls: certificate for neither server nor client use")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.Identity},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(spec.Lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
		URIs:         []*url.URL{IdentityURI(spec.Identity)},
	}
	if spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

// ParseKeyPair parses a PEM certificate (the first block of certPEM) and
// its PEM private key.
func ParseKeyPair(certPEM, keyPEM []byte) (KeyPair, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return KeyPair{}, errors.New("mtls: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: certificate: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return KeyPair{}, errors.New("mtls: no PEM private key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: private key: %w", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return KeyPair{}, errors.New("mtls: private key cannot sign")
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return KeyPair{}, errors.New("mtls: private key does not match the certificate")
	}
	return KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// NeedsRenewal reports whether c is past two thirds of its lifetime at now
// (or not yet valid): renewing then leaves a third of the lifetime for the
// new certificate to reach every pod before the old one expires.
func NeedsRenewal(c *x509.Certificate, now time.Time) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return now.Before(c.NotBefore) || now.After(c.NotBefore.Add(life*2/3))
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("mtls: serial: %w", err)
	}
	return n, nil
}

func sign(tmpl, parent *x509.Certificate, key crypto.Signer, parentKey crypto.Signer) (KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: parse: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("mtls: key: %w", err)
	}
	return KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
