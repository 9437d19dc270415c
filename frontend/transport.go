package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"

	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	"github.com/clusterdns/clusterdns/internal/mtls"
)

// recordServiceCredentials secures the connection to the record service as
// the --recordsvc-tls-* flags say: mutual TLS with files reloaded when they
// change, TLS without a client certificate when only the CA is given, or
// nil (plaintext) when none is, with a warning unless every replica is on
// loopback: without TLS anyone on the path reads the cluster's records and
// can pose as the record service.
func recordServiceCredentials(ctx context.Context, cfg Config, log *slog.Logger) (credentials.TransportCredentials, error) {
	f := cfg.RecordServiceTLS
	switch {
	case f.CA == "":
		if !loopbackTarget(cfg.RecordService) {
			log.Warn("record service connection is plaintext and not on loopback: give --recordsvc-tls-cert, "+
				"--recordsvc-tls-key and --recordsvc-tls-ca for mutual TLS", "recordsvc", cfg.RecordService)
		}
		return nil, nil
	case f.Cert == "":
		// Files were checked by parseFlags; the CA alone is read once.
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("--recordsvc-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--recordsvc-tls-ca %s: no PEM certificate", f.CA)
		}
		log.Info("record service over TLS without a client certificate", "server_name", cfg.RecordServiceServerName)
		return credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13,
			RootCAs:    pool,
			ServerName: cfg.RecordServiceServerName,
		}), nil
	}
	tc, err := mtls.ClientConfig(ctx, f, cfg.RecordServiceServerName, log)
	if err != nil {
		return nil, fmt.Errorf("--recordsvc-tls-cert, --recordsvc-tls-key, --recordsvc-tls-ca: %w", err)
	}
	log.Info("record service over mutual TLS", "cert", f.Cert, "ca", f.CA, "server_name", cfg.RecordServiceServerName)
	return credentials.NewTLS(tc), nil
}

// loopbackTarget tells whether every address of a record service target is
// a loopback address or localhost.
func loopbackTarget(target string) bool {
	addrs, isList, err := recordclient.ReplicaList(target)
	if err != nil {
		return false
	}
	if !isList {
		if strings.Contains(target, "://") {
			host, err := targetHost(target)
			if err != nil {
				return false
			}
			return loopbackHost(host)
		}
		addrs = []string{target}
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil || !loopbackHost(host) {
			return false
		}
	}
	return true
}

// loopbackHost tells whether host is a loopback IP or localhost.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
