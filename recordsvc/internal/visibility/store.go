package visibility

import (
	"net/netip"

	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Store is a dnsschema.SerialStore as one View sees it: the namespaces the
// view hides do not exist, nor do their Services, endpoints, pods and
// ServiceImports. The schema's answers through it are therefore exactly
// those of a cluster without them: NXDOMAIN with the same SOA (the serial
// is the inner store's), the same NODATA/NXDOMAIN split, no PTR into them,
// no CNAME chased into them, whatever the name, type or zone.
//
// A Store serves one answer at a time (it records whether it hid anything).
//
// It is a dnsschema.ImportStore, the clusterset zone's store, always.
//
// It is not a dnsschema.DirectoryStore, so its NXDOMAINs carry no
// absent_below (always correct, merely uncached below the namespace): only
// restricted views answer through it, the open view reading the index
// itself, and the record server would drop a directory from any answer it
// marks client_specific anyway, so forwarding would only serve restricted
// clients' questions about namespaces no view hides.
type Store struct {
	inner dnsschema.SerialStore
	view  View
	hid   bool
}

var _ dnsschema.ImportStore = (*Store)(nil)

// NewStore returns inner as view sees it.
func NewStore(inner dnsschema.SerialStore, view View) *Store {
	return &Store{inner: inner, view: view}
}

// Hid reports whether the view hid anything so far: when it did not, the
// answer is the one an open view gives.
func (s *Store) Hid() bool { return s.hid }

// allows is view.Allows, noting a refusal.
func (s *Store) allows(ns string) bool {
	if s.view.Allows(ns) {
		return true
	}
	s.hid = true
	return false
}

// Synced is the inner store's.
func (s *Store) Synced() bool { return s.inner.Synced() }

// Revision is the inner store's.
func (s *Store) Revision() uint64 { return s.inner.Revision() }

// Serial is the inner store's: a hidden namespace's NXDOMAIN carries the
// same SOA as any other.
func (s *Store) Serial() uint32 { return s.inner.Serial() }

// NamespaceExists is false for a hidden namespace.
func (s *Store) NamespaceExists(namespace string) bool {
	return s.allows(namespace) && s.inner.NamespaceExists(namespace)
}

// Service finds nothing in a hidden namespace.
func (s *Store) Service(namespace, name string) (kubeindex.Service, bool) {
	if !s.allows(namespace) {
		return kubeindex.Service{}, false
	}
	return s.inner.Service(namespace, name)
}

// Endpoints finds nothing in a hidden namespace.
func (s *Store) Endpoints(namespace, service string) []kubeindex.Endpoint {
	if !s.allows(namespace) {
		return nil
	}
	return s.inner.Endpoints(namespace, service)
}

// ServicesByClusterIP leaves out the Services of hidden namespaces.
func (s *Store) ServicesByClusterIP(ip netip.Addr) []kubeindex.Service {
	return visibleOnly(s, s.inner.ServicesByClusterIP(ip), func(svc kubeindex.Service) string { return svc.Namespace })
}

// EndpointsByIP leaves out the endpoints of hidden namespaces' Services.
func (s *Store) EndpointsByIP(ip netip.Addr) []kubeindex.EndpointRef {
	return visibleOnly(s, s.inner.EndpointsByIP(ip), func(ref kubeindex.EndpointRef) string { return ref.Namespace })
}

// PodNamespacesByIP leaves out hidden namespaces.
func (s *Store) PodNamespacesByIP(ip netip.Addr) []string {
	return visibleOnly(s, s.inner.PodNamespacesByIP(ip), func(ns string) string { return ns })
}

// visibleOnly returns the elements of all whose namespace s shows, in a
// new slice (all may be the inner store's).
func visibleOnly[T any](s *Store, all []T, namespace func(T) string) []T {
	out := all[:0:0]
	for _, v := range all {
		if s.allows(lower(namespace(v))) {
			out = append(out, v)
		}
	}
	return out
}

// lower is ASCII lower case without allocating for names already lower
// (the index keeps namespaces lower case; Service objects keep the API's
// spelling, which Kubernetes also requires to be lower case).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// The clusterset zone (dnsschema clusterset.go) reads ServiceImports
// through these, so a hidden namespace's imports are as missing as its
// Services: <svc>.<ns>.svc.<set> and the names below it answer NXDOMAIN
// with the set zone's SOA, and no clusterset PTR points into it. An inner
// store without imports holds none through the view either.

// ServiceImport finds nothing in a hidden namespace.
func (s *Store) ServiceImport(namespace, name string) (kubeindex.ServiceImport, bool) {
	st, ok := s.inner.(dnsschema.ImportStore)
	if !ok || !s.allows(lower(namespace)) {
		return kubeindex.ServiceImport{}, false
	}
	return st.ServiceImport(namespace, name)
}

// ImportEndpoints finds nothing in a hidden namespace.
func (s *Store) ImportEndpoints(namespace, name string) []kubeindex.ImportEndpoint {
	st, ok := s.inner.(dnsschema.ImportStore)
	if !ok || !s.allows(lower(namespace)) {
		return nil
	}
	return st.ImportEndpoints(namespace, name)
}

// ImportsByIP leaves out the imports of hidden namespaces.
func (s *Store) ImportsByIP(ip netip.Addr) []kubeindex.ImportRef {
	st, ok := s.inner.(dnsschema.ImportStore)
	if !ok {
		return nil
	}
	return visibleOnly(s, st.ImportsByIP(ip), func(ref kubeindex.ImportRef) string { return ref.Import.Namespace })
}
