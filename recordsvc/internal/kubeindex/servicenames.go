package kubeindex

import (
	"slices"
	"strings"
	"sync/atomic"
)

// The Index keeps, per namespace, the sorted names of its Services: an
// NXDOMAIN below a namespace's service subtree can then carry them
// (LookupResponse.absent_below), so that a cache answers every other
// missing name of the namespace without asking. The list is exactly the
// name part of the keys of ix.services (lower case, as Service looks them
// up), so a name that Service finds is always listed.

// serviceNames is the sorted list of one namespace's Service names.
type serviceNames struct {
	names []string
	// lent is set when a reader was handed names: the next write then
	// builds a new list rather than shifting the one the reader may still
	// be reading. Lists nobody read (all of them during a sync) are
	// changed in place, so a sync does not copy a namespace's list per
	// Service.
	lent atomic.Bool
}

// ServiceNames returns the lower-case names of the Services of namespace,
// sorted, and true; or nil and false when the namespace has more than limit
// Services (any, when limit is negative). A namespace without Services has
// none: nil and true. The list does not say whether the namespace exists
// (its Services stay in the Index until their own deletes), as Service
// does not. The namespace is matched in any letter case, as Service
// matches it. The returned slice is shared, not a copy: read-only, and
// unchanged by later writes (they build a new list), so it stays valid
// after the lock is released.
func (ix *Index) ServiceNames(namespace string, limit int) ([]string, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e := ix.serviceNames[strings.ToLower(namespace)]
	if e == nil {
		return nil, limit >= 0
	}
	if len(e.names) > limit {
		return nil, false
	}
	if !e.lent.Load() {
		e.lent.Store(true)
	}
	// Capacity cut to the length: an append by the caller cannot write
	// into the spare room a later in-place insert would use.
	return e.names[:len(e.names):len(e.names)], true
}

// addServiceNameLocked lists k's name in its namespace. ix.mu must be held
// for writing.
func (ix *Index) addServiceNameLocked(k objectKey) {
	e := ix.serviceNames[k.namespace]
	if e == nil {
		e = &serviceNames{}
		ix.serviceNames[k.namespace] = e
	}
	i, found := slices.BinarySearch(e.names, k.name)
	if found {
		return
	}
	if e.lent.Load() {
		names := make([]string, 0, len(e.names)+1)
		names = append(names, e.names[:i]...)
		names = append(names, k.name)
		e.names = append(names, e.names[i:]...)
		e.lent.Store(false)
		return
	}
	e.names = slices.Insert(e.names, i, k.name)
}

// removeServiceNameLocked drops k's name from its namespace's list, and
// the list once empty. ix.mu must be held for writing.
func (ix *Index) removeServiceNameLocked(k objectKey) {
	e := ix.serviceNames[k.namespace]
	if e == nil {
		return
	}
	i, found := slices.BinarySearch(e.names, k.name)
	switch {
	case !found:
		return
	case len(e.names) == 1:
		delete(ix.serviceNames, k.namespace)
	case e.lent.Load():
		names := make([]string, 0, len(e.names)-1)
		names = append(names, e.names[:i]...)
		e.names = append(names, e.names[i+1:]...)
		e.lent.Store(false)
	default:
		e.names = slices.Delete(e.names, i, i+1)
	}
}
