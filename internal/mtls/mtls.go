// Package mtls provides mutually authenticated TLS between the clusterdns
// binaries: server and client tls.Configs whose certificates, keys and CA
// bundles come from PEM files reloaded when they change on disk (so a
// Kubernetes Secret volume, cert-manager or a CSI driver can rotate them
// without restarts), the identity of a verified peer, and the issuing of a
// small CA and its certificates for the deploy bootstrap.
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
)

// IdentityScheme is the URI scheme of an identity in a certificate's URI
// SAN: clusterdns://<name>.
const IdentityScheme = "clusterdns"

// Files names the PEM files of one end: its certificate chain, its private
// key and the CA bundle its peers are verified against. They are re-read
// when their content changes; a bad new set keeps the last good one.
type Files struct{ Cert, Key, CA string }

// ServerConfig returns a TLS 1.3 server configuration that presents f.Cert
// and requires every client to present a certificate issued by a CA of
// f.CA. Each handshake takes the files' current content (checked at most
// once a second), so rotated certificates and CAs apply to new connections
// while existing ones keep theirs. It fails when the files cannot be loaded
// at start. ctx is accepted for symmetry with future watchers; the reload
// itself needs no goroutine.
func ServerConfig(ctx context.Context, f Files, logger *slog.Logger) (*tls.Config, error) {
	r, err := newReloader(ctx, f, logger)
	if err != nil {
		return nil, err
	}
	// The record API is gRPC, which needs ALPN h2; the returned per-handshake
	// config replaces the one gRPC prepared, so it must offer h2 itself.
	base := &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}}
	// GetConfigForClient rather than GetCertificate alone: ClientCAs is read
	// from the config of the handshake, so a fresh config per handshake is
	// how a rotated CA bundle reaches client verification.
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := r.current()
		return &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{m.cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    m.pool,
			NextProtos:   []string{"h2"},
		}, nil
	}
	return base, nil
}

// ClientConfig returns a TLS 1.3 client configuration that presents f.Cert
// and verifies the server's certificate against f.CA for serverName. Like
// ServerConfig it follows rotations of the files.
func ClientConfig(ctx context.Context, f Files, serverName string, logger *slog.Logger) (*tls.Config, error) {
	if serverName == "" {
		return nil, errors.New("mtls: empty server name")
	}
	r, err := newReloader(ctx, f, logger)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := r.current()
			return &m.cert, nil
		},
		// crypto/tls reads RootCAs once from the config and gRPC clones the
		// config per connection, so a rotated CA bundle cannot reach the
		// built-in verification. The built-in check is therefore replaced,
		// not skipped: VerifyConnection verifies the chain and the name
		// against the current bundle on every handshake, and a failure
		// aborts it exactly as the built-in check would.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, r.current().pool, serverName)
		},
	}, nil
}

// verifyServer checks the server's chain against pool and its name against
// serverName (the one configured, not whatever the connection says).
func verifyServer(cs tls.ConnectionState, pool *x509.CertPool, serverName string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("mtls: server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		DNSName:       serverName,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("mtls: server certificate: %w", err)
	}
	return nil
}

// Identity returns the identity of the connection's verified peer: the host
// of its first clusterdns:// URI SAN, else its subject common name. It
// returns false when the peer certificate was not verified (no client
// certificate, or plaintext) or names nobody.
func Identity(cs tls.ConnectionState) (string, bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	return CertIdentity(cs.VerifiedChains[0][0])
}

// CertIdentity is the identity a certificate names, whether or not it has
// been verified.
func CertIdentity(c *x509.Certificate) (string, bool) {
	for _, u := range c.URIs {
		if u.Scheme == IdentityScheme && u.Host != "" {
			return u.Host, true
		}
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName, true
	}
	return "", false
}

// IdentityURI is the URI SAN that carries identity name.
func IdentityURI(name string) *url.URL {
	return &url.URL{Scheme: IdentityScheme, Host: name}
}
