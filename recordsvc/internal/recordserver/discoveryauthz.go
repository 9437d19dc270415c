package recordserver

import (
	"context"
	"strings"

	"google.golang.org/grpc"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
)

// isDiscoveryService reports whether fullMethod belongs to the
// DiscoveryService.
func isDiscoveryService(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+clusterdnsv1.DiscoveryService_ServiceDesc.ServiceName+"/")
}

// requestNamespaces lists the namespaces a DiscoveryService request names.
func requestNamespaces(req any) []string {
	switch r := req.(type) {
	case *clusterdnsv1.GetServiceRequest:
		return []string{r.GetRef().GetNamespace()}
	case *clusterdnsv1.ListServicesRequest:
		if r.GetNamespace() == "" {
			return nil
		}
		return []string{r.GetNamespace()}
	case *clusterdnsv1.WatchServicesRequest:
		out := make([]string, 0, len(r.GetRefs()))
		for _, ref := range r.GetRefs() {
			out = append(out, ref.GetNamespace())
		}
		return out
	default:
		return nil
	}
}

// authorizeDiscovery checks a DiscoveryService request of grant g: an
// identity the policy does not name gets nothing, a scoped one only the
// namespaces it holds. It returns the PERMISSION_DENIED error, or nil.
func (a *Authorizer) authorizeDiscovery(ctx context.Context, g authz.Grant, fullMethod string, req any) error {
	if g.Role == authz.RoleNone {
		return a.deny(ctx, fullMethod, denyIdentity, "identity "+g.Identity+" is not in the authorization policy")
	}
	for _, ns := range requestNamespaces(req) {
		if !g.AllowsNamespace(ns) {
			return a.deny(ctx, fullMethod, denyNamespace, "namespace "+ns+" not allowed for identity "+g.Identity)
		}
	}
	return nil
}

// discoveryStream gives a DiscoveryService handler its caller's grant and
// checks the request it receives.
type discoveryStream struct {
	grpc.ServerStream
	ctx        context.Context
	a          *Authorizer
	grant      authz.Grant
	fullMethod string
}

func (s *discoveryStream) Context() context.Context { return s.ctx }

func (s *discoveryStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.a.authorizeDiscovery(s.ctx, s.grant, s.fullMethod, m)
}
