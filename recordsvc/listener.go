package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/clusterdns/clusterdns/internal/mtls"
	"github.com/clusterdns/clusterdns/recordsvc/internal/admission"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/recordserver"
)

// security is the gRPC listener's protection: mutual TLS, authorization
// and admission limits.
type security struct {
	cfg      config
	creds    credentials.TransportCredentials // nil: plaintext
	authz    *recordserver.Authorizer
	streams  *admission.StreamLimiter
	rejected *prometheus.CounterVec
}

// newSecurity loads the TLS files and the policy (failing on bad ones, with
// the flag named) and registers the metrics on reg.
func newSecurity(ctx context.Context, cfg config, zone string, reg prometheus.Registerer, logger *slog.Logger) (*security, error) {
	s := &security{cfg: cfg}
	policy := authz.StaticSource(nil)
	if cfg.TLSEnabled() {
		tc, err := mtls.ServerConfig(ctx, cfg.TLS, logger)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert: %w", err)
		}
		s.creds = credentials.NewTLS(tc)
		if cfg.AuthzPolicy != "" {
			if policy, err = authz.LoadFile(ctx, cfg.AuthzPolicy, logger); err != nil {
				return nil, fmt.Errorf("--authz-policy: %w", err)
			}
		}
	} else {
		logger.Warn("the record API is plaintext and unauthenticated: every caller is trusted as a frontend; " +
			"this is for loopback only (--listen is loopback; set --tls-cert, --tls-key and --tls-client-ca for anything else)")
	}
	s.authz = recordserver.NewAuthorizer(zone, policy, cfg.TLSEnabled(), logger)
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clusterdns_recordsvc_admission_rejected_total",
		Help: "Connections and streaming calls refused by the admission limits, by kind (connections_total, " +
			"connections_per_ip, streams_total, streams_per_client). Refused streams get RESOURCE_EXHAUSTED.",
	}, []string{"kind"})
	for _, k := range []string{admission.KindConnectionsTotal, admission.KindConnectionsPerIP, admission.KindStreamsTotal, admission.KindStreamsPerClient} {
		s.rejected.WithLabelValues(k)
	}
	s.streams = admission.NewStreamLimiter(admission.StreamLimits{Total: cfg.Limits.MaxStreams, PerClient: cfg.Limits.MaxStreamsPerClient},
		s.authz.ClientOf, s.reject)
	for _, c := range append(s.authz.Collectors(), s.rejected) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return s, nil
}

func (s *security) reject(kind string) { s.rejected.WithLabelValues(kind).Inc() }

// listener bounds the connections of lis. Its connections read as gRPC
// reads a bare TCP connection (readyListener), so an idle one pins no read
// buffer.
func (s *security) listener(lis net.Listener) net.Listener {
	return readyListener{admission.LimitListener(lis, admission.ListenerLimits{Total: s.cfg.Limits.MaxConnections,
		PerIP: s.cfg.Limits.MaxConnectionsPerIP}, s.reject)}
}

// serverOptions are the credentials, limits and interceptors. Authorization
// runs before admission, so a caller without rights cannot use up a slot.
func (s *security) serverOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(uint32(s.cfg.Limits.MaxStreamsPerConnection)),
		grpc.ChainUnaryInterceptor(s.authz.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(s.authz.StreamInterceptor(), s.streams.Interceptor()),
	}
	if s.creds != nil {
		opts = append(opts, grpc.Creds(s.creds))
	}
	return opts
}
