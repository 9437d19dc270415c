package discovery

import (
	"context"
	"slices"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/visibility"
)

// ViewFunc returns which namespaces (lower case) the caller of ctx may see
// under the visibility policy; nil means every namespace.
type ViewFunc func(ctx context.Context) func(namespace string) bool

// SetVisibility makes the handlers answer each caller as view shows the
// cluster (DESIGN.md section 7): a Service of a namespace hidden from it is
// NOT_FOUND, left out of listings, and followed by WatchServices as a
// Service that does not exist, exactly as a Service that is not there.
// Call it before serving.
func (s *Server) SetVisibility(view ViewFunc) { s.view = view }

// shows is the caller's filter, nil when it sees everything.
func (s *Server) shows(ctx context.Context) func(string) bool {
	if s.view == nil {
		return nil
	}
	return s.view(ctx)
}

// stateFor reads ref's state as a caller with filter shows sees it.
func (s *Server) stateFor(ref *clusterdnsv1.ServiceRef, shows func(string) bool) kubeindex.ServiceState {
	st := s.ix.ServiceState(ref.GetNamespace(), ref.GetName())
	if shows != nil && !shows(strings.ToLower(ref.GetNamespace())) {
		return kubeindex.ServiceState{Revision: st.Revision}
	}
	return st
}

// allowBoth is the listing filter of a grant's namespaces and the
// caller's visibility.
func allowBoth(grant, shows func(string) bool) func(string) bool {
	if shows == nil {
		return grant
	}
	return func(ns string) bool { return grant(ns) && shows(strings.ToLower(ns)) }
}

// policyChanged appends every followed Service to dst when keys announce a
// visibility policy change: what the watcher may see of each may have
// changed with it.
func policyChanged(keys []string, refs []watched, dst []int) []int {
	if !slices.Contains(keys, visibility.Key) {
		return dst
	}
	for i := range refs {
		if !slices.Contains(dst, i) {
			dst = append(dst, i)
		}
	}
	return dst
}
