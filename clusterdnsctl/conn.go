package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

// dial returns a client connection to the record service as the global
// flags say. The connection is lazy: an unreachable server shows up as
// UNAVAILABLE on the first call, which fails fast rather than waiting.
func dial(ctx context.Context, o globalOptions, log *slog.Logger) (*grpc.ClientConn, error) {
	creds, err := transportCredentials(ctx, o, log)
	if err != nil {
		return nil, err
	}
	// passthrough: the address is HOST:PORT and goes to the dialer as is,
	// without a DNS resolver in front that would turn a typo into a wait.
	cc, err := grpc.NewClient("passthrough:///"+o.RecordService, grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("clusterdnsctl"))
	if err != nil {
		return nil, usageError{fmt.Errorf("--recordsvc %q: %w", o.RecordService, err)}
	}
	return cc, nil
}

// withConn dials the record service, runs f with the connection and
// closes it. With timeout, f's context ends after --timeout: the bound of
// a unary call; streams and paged listings bound each call themselves.
func (e *env) withConn(ctx context.Context, timeout bool, f func(ctx context.Context, cc *grpc.ClientConn) error) error {
	cc, err := dial(ctx, e.opts, e.log)
	if err != nil {
		return err
	}
	defer cc.Close()
	if timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.opts.Timeout)
		defer cancel()
	}
	return f(ctx, cc)
}

// transportCredentials secures the connection like the frontend's: mutual
// TLS through internal/mtls when a client certificate is given, TLS with
// only a CA, plaintext when no TLS flag is set.
func transportCredentials(ctx context.Context, o globalOptions, log *slog.Logger) (credentials.TransportCredentials, error) {
	f := o.TLS
	switch {
	case f.CA == "":
		return insecure.NewCredentials(), nil
	case f.Cert == "":
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, usageError{fmt.Errorf("--recordsvc-tls-ca: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError{fmt.Errorf("--recordsvc-tls-ca %s: no PEM certificate in it", f.CA)}
		}
		return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: o.ServerName}), nil
	}
	tc, err := mtls.ClientConfig(ctx, f, o.ServerName, log)
	if err != nil {
		return nil, usageError{fmt.Errorf("--recordsvc-tls-cert, --recordsvc-tls-key, --recordsvc-tls-ca: %w", err)}
	}
	return credentials.NewTLS(tc), nil
}
