package recordserver

import (
	"context"
	"net/netip"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/visibility"
)

// Visibility policy on the Lookup path (DESIGN.md section 7, "Visibility").
//
// Which client: a caller the policy names by its record API identity gets
// that identity's view; anyone else (frontends relaying a DNS client's
// address, scoped callers asking as their own address) gets the view of the
// pod the address index finds at client_ip. An address held by no running
// pod, or by pods of several namespaces (host-network pods share their
// node's address), gets the open view: the policy is opt-in per client
// namespace and every cluster without one is open.
//
// Exact caching: an answer that a restricted client would get differently
// is marked client_specific (and carries the client's pod key), so no cache
// serves it to another client. Every answer carries visibility.Key while a
// policy is configured: a policy change announces it and drops them all.

// SetVisibility makes the server answer each client as policy's current
// view of it. Call it before serving; policy's changes must reach
// VisibilityChanged.
func (s *Server) SetVisibility(policy *visibility.Source) { s.clients.policy = policy }

// VisibilityChanged records a new policy, read from content, in the index:
// its hash joins the state digest (so watchers never resume across
// replicas deciding from different policies) and visibility.Key is
// announced under a new revision. It is LoadFile's onChange.
func (s *Server) VisibilityChanged(_ *visibility.Policy, content []byte) {
	s.clients.mu.Lock()
	defer s.clients.mu.Unlock()
	d := kubeindex.ExternalDigest("visibility-policy", content)
	s.ix.ReplaceExternalState(s.clients.policyDigest, d, visibility.Key)
	s.clients.policyDigest = d
}

// answerVisible answers req for the client cl (identity: the caller's
// record API identity when it is not a frontend) under the policy.
func (s *Server) answerVisible(identity string, cl client, req *clusterdnsv1.LookupRequest) *clusterdnsv1.LookupResponse {
	// The revision is read before the policy: a policy swapped in after
	// this read is announced at a later revision, which drops this answer.
	rev := s.ix.Revision()
	p := s.clients.policy.Policy()
	view, named := p.ForIdentity(identity)
	if !named {
		view = p.ForNamespace(cl.namespace)
	}
	var resp *clusterdnsv1.LookupResponse
	specific := false
	if view.Open() {
		resp = s.sharedAnswer(req)
	} else {
		st := visibility.NewStore(s.ix, view)
		resp = s.schema.Answer(st, req)
		resp.ServerId = s.id
		specific = st.Hid()
	}
	specific = specific || dependsOnHidden(p, resp.GetKeys())
	return withVisibility(resp, specific, cl.ip, rev)
}

// dependsOnHidden reports whether keys name a namespace that some
// restricted client cannot see: the answer then differs between clients.
func dependsOnHidden(p *visibility.Policy, keys []string) bool {
	for _, k := range keys {
		if ns, ok := keyNamespace(k); ok && p.HiddenFromSome(ns) {
			return true
		}
	}
	return false
}

// keyNamespace is the namespace of a kubeindex service ("svc/NS/NAME"),
// services ("svcs/NS") or namespace ("ns/NS") key.
func keyNamespace(key string) (string, bool) {
	if rest, ok := strings.CutPrefix(key, "svc/"); ok {
		ns, _, _ := strings.Cut(rest, "/")
		return ns, true
	}
	if ns, ok := strings.CutPrefix(key, "svcs/"); ok {
		return ns, true
	}
	return strings.CutPrefix(key, "ns/")
}

// withVisibility returns resp marked for the policy: client_specific when
// it holds for this client only, with visibility.Key (and the client's pod
// key when specific) among its keys and a revision no later than rev. resp
// may be shared with other callers (the memo): it is copied, not changed;
// the records themselves are shared, read-only. A client-specific answer
// loses its absent_below: the directory tells caches what every client
// would get, which such an answer does not show.
func withVisibility(resp *clusterdnsv1.LookupResponse, specific bool, ip netip.Addr, rev uint64) *clusterdnsv1.LookupResponse {
	keys := make([]string, 0, len(resp.GetKeys())+2)
	keys = append(keys, resp.GetKeys()...)
	keys = append(keys, visibility.Key)
	if specific && ip.IsValid() {
		keys = append(keys, kubeindex.PodKey(ip))
	}
	absentBelow := resp.GetAbsentBelow()
	if specific {
		absentBelow = nil
	}
	return &clusterdnsv1.LookupResponse{
		Result:            resp.GetResult(),
		Answer:            resp.GetAnswer(),
		Authority:         resp.GetAuthority(),
		Additional:        resp.GetAdditional(),
		Revision:          min(resp.GetRevision(), rev),
		Keys:              keys,
		Ttl:               resp.GetTtl(),
		ServerId:          resp.GetServerId(),
		AutopathNamespace: resp.GetAutopathNamespace(),
		Truncated:         resp.GetTruncated(),
		ClientSpecific:    specific,
		ZoneDependent:     resp.GetZoneDependent(),
		Zone:              resp.GetZone(),
		AbsentBelow:       absentBelow,
	}
}

// scopedIdentity is the caller's record API identity when the Authorizer
// admitted it as a scoped client; "" for frontends (which relay their DNS
// clients' addresses instead).
func scopedIdentity(ctx context.Context) string {
	if g, ok := authz.FromContext(ctx); ok && g.Role == authz.RoleScoped {
		return g.Identity
	}
	return ""
}

// DiscoveryView is the DiscoveryService's visibility of a caller
// (discovery.ViewFunc): the policy's view of its identity when the policy
// names it, else of the pod at its address (programs call the
// DiscoveryService themselves, so their address is their pod's). nil
// without a policy.
func (s *Server) DiscoveryView(ctx context.Context) func(namespace string) bool {
	if s.clients.policy == nil {
		return nil
	}
	p := s.clients.policy.Policy()
	if g, ok := authz.FromContext(ctx); ok && g.Role == authz.RoleScoped {
		if view, named := p.ForIdentity(g.Identity); named {
			return view.Allows
		}
	}
	return p.ForNamespace(s.clients.attribute(peerIP(ctx)).namespace).Allows
}
