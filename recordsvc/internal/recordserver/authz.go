package recordserver

import (
	"context"
	"log/slog"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
)

// Reasons of the denied counter.
const (
	denyUnauthenticated = "unauthenticated"
	denyIdentity        = "unknown_identity"
	denyMethod          = "method"
	denyNamespace       = "namespace"
)

// Authorizer enforces an authz policy on the RecordService and the
// DiscoveryService through gRPC interceptors, so the handlers stay the same
// for every caller: frontends pass through untouched; a namespace-scoped
// client has its question and its answer checked against its namespaces,
// its client_ip replaced by its own address and its Watch keys filtered, and
// may ask the DiscoveryService about its namespaces only (listings of all
// namespaces are filtered by the handler through the grant in the context);
// anyone else is refused with PERMISSION_DENIED. gRPC health and reflection are open to every
// authenticated caller: they disclose no cluster state.
type Authorizer struct {
	zone   string
	policy *authz.Source
	// tls is whether the listener authenticates clients. Without it the
	// record service listens on loopback only (checked at start) and every
	// caller is a local frontend.
	tls    bool
	denied *prometheus.CounterVec
	logger *slog.Logger
}

// NewAuthorizer enforces policy for the names of zone; tlsOn tells whether
// callers present verified certificates.
func NewAuthorizer(zone string, policy *authz.Source, tlsOn bool, logger *slog.Logger) *Authorizer {
	return &Authorizer{
		zone:   zone,
		policy: policy,
		tls:    tlsOn,
		logger: logger,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_denied_total",
			Help: "RecordService calls refused with PERMISSION_DENIED, by method and reason (unauthenticated, unknown_identity, method, namespace).",
		}, []string{"method", "reason"}),
	}
}

// Collectors are the Authorizer's metrics.
func (a *Authorizer) Collectors() []prometheus.Collector { return []prometheus.Collector{a.denied} }

// grant is the caller's grant: a frontend's without TLS, the policy's for
// the verified certificate's identity otherwise.
func (a *Authorizer) grant(ctx context.Context) (authz.Grant, bool) {
	if !a.tls {
		return authz.Grant{Identity: authz.FrontendIdentity, Role: authz.RoleFrontend}, true
	}
	id, ok := identity(ctx)
	if !ok {
		return authz.Grant{}, false
	}
	return a.policy.Policy().Lookup(id), true
}

// identity is the verified certificate identity of the caller.
func identity(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", false
	}
	return mtls.Identity(info.State)
}

// peerIP is the caller's address without the port.
func peerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if ta, ok := p.Addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return ""
	}
	return host
}

// ClientOf names the client of a stream for per-client limits: its
// identity and address with TLS (all frontends share one identity, so the
// address keeps one compromised pod from using the others' share), its
// address without.
func (a *Authorizer) ClientOf(ss grpc.ServerStream) string {
	ctx := ss.Context()
	ip := peerIP(ctx)
	if !a.tls {
		return ip
	}
	id, _ := identity(ctx)
	return id + "@" + ip
}

// deny counts and returns a PERMISSION_DENIED error.
func (a *Authorizer) deny(ctx context.Context, fullMethod, reason, detail string) error {
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	a.denied.WithLabelValues(method, reason).Inc()
	a.logger.Debug("call denied", "method", method, "reason", reason, "peer", peerIP(ctx), "detail", detail)
	return status.Errorf(codes.PermissionDenied, "%s: %s", fullMethod, detail)
}

// isRecordService reports whether fullMethod belongs to the RecordService
// (health and reflection do not).
func isRecordService(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+clusterdnsv1.RecordService_ServiceDesc.ServiceName+"/")
}

// UnaryInterceptor authorizes Lookup.
func (a *Authorizer) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		g, ok := a.grant(ctx)
		if !ok {
			return nil, a.deny(ctx, info.FullMethod, denyUnauthenticated, "no verified client certificate")
		}
		if isDiscoveryService(info.FullMethod) {
			if err := a.authorizeDiscovery(ctx, g, info.FullMethod, req); err != nil {
				return nil, err
			}
			return handler(authz.NewContext(ctx, g), req)
		}
		if !isRecordService(info.FullMethod) || g.Role == authz.RoleFrontend {
			return handler(ctx, req)
		}
		if g.Role != authz.RoleScoped {
			return nil, a.deny(ctx, info.FullMethod, denyIdentity, "identity "+g.Identity+" is not in the authorization policy")
		}
		lr, ok := req.(*clusterdnsv1.LookupRequest)
		if !ok {
			return nil, a.deny(ctx, info.FullMethod, denyMethod, "not allowed for identity "+g.Identity)
		}
		// Refuse before answering when the name itself is of another
		// namespace; the answer's keys catch what leads elsewhere.
		if name, err := dnsschema.Parse(a.zone, lr.GetName()); err == nil && name.Namespace != "" && !g.AllowsNamespace(name.Namespace) {
			return nil, a.deny(ctx, info.FullMethod, denyNamespace, "namespace "+name.Namespace+" not allowed for identity "+g.Identity)
		}
		// Only frontends relay their DNS clients' addresses; anyone else
		// asks as itself, so it cannot borrow a pod's autopath or identity.
		lr.ClientIp = peerIP(ctx)
		// The grant names the caller to the visibility policy.
		resp, err := handler(authz.NewContext(ctx, g), lr)
		if err != nil {
			return nil, err
		}
		if r, ok := resp.(*clusterdnsv1.LookupResponse); ok {
			if ns, allowed := g.AnswerAllowed(r.GetKeys()); !allowed {
				return nil, a.deny(ctx, info.FullMethod, denyNamespace, "answer depends on namespace "+ns+", not allowed for identity "+g.Identity)
			}
		}
		return resp, nil
	}
}

// StreamInterceptor authorizes LookupStream (frontends only) and Watch
// (frontends, and scoped clients with filtered keys).
func (a *Authorizer) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		g, ok := a.grant(ctx)
		if !ok {
			return a.deny(ctx, info.FullMethod, denyUnauthenticated, "no verified client certificate")
		}
		if isDiscoveryService(info.FullMethod) {
			if g.Role == authz.RoleNone {
				return a.deny(ctx, info.FullMethod, denyIdentity, "identity "+g.Identity+" is not in the authorization policy")
			}
			return handler(srv, &discoveryStream{ServerStream: ss, ctx: authz.NewContext(ctx, g), a: a, grant: g, fullMethod: info.FullMethod})
		}
		if !isRecordService(info.FullMethod) || g.Role == authz.RoleFrontend {
			return handler(srv, ss)
		}
		switch {
		case g.Role != authz.RoleScoped:
			return a.deny(ctx, info.FullMethod, denyIdentity, "identity "+g.Identity+" is not in the authorization policy")
		case info.FullMethod == clusterdnsv1.RecordService_Watch_FullMethodName:
			return handler(srv, &scopedWatchStream{ServerStream: ss, grant: g})
		default:
			// LookupStream has no per-question refusal; a scoped client
			// uses Lookup, where each answer is checked.
			return a.deny(ctx, info.FullMethod, denyMethod, "only frontends may use it; use Lookup")
		}
	}
}

// scopedWatchStream filters each WatchResponse down to the keys of its
// client's namespaces. Messages left without keys are dropped, but resync
// markers always pass (the client needs them to restart its cache).
type scopedWatchStream struct {
	grpc.ServerStream
	grant authz.Grant
}

func (s *scopedWatchStream) SendMsg(m any) error {
	wr, ok := m.(*clusterdnsv1.WatchResponse)
	if !ok {
		return s.ServerStream.SendMsg(m)
	}
	keys := s.grant.FilterWatchKeys(wr.GetKeys())
	if len(keys) == 0 && !wr.GetResync() && !wr.GetResumed() {
		return nil
	}
	// The message's keys share their array with every other subscriber's
	// copy of the change: filter into a clone, never in place.
	out := proto.CloneOf(wr)
	out.Keys = keys
	return s.ServerStream.SendMsg(out)
}
