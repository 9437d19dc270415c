package kubeindex

import (
	"slices"
	"strings"
)

// ServiceState is one Service with its merged endpoints, read together at
// one revision: what the discovery API serves.
type ServiceState struct {
	Service   Service
	Exists    bool
	Endpoints []Endpoint
	// Revision is the Index's revision when the state was read: it reflects
	// every change up to it.
	Revision uint64
}

// ServiceState reads a Service and its endpoints under one lock, so the two
// never come from different revisions.
func (ix *Index) ServiceState(namespace, name string) ServiceState {
	k := keyOf(namespace, name)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.services[k]
	st := ServiceState{Exists: ok, Revision: ix.revision.Load()}
	if ok {
		st.Service = *s
		st.Endpoints = ix.endpoints[k].list()
	}
	return st
}

// ServicePage is one page of ListServices.
type ServicePage struct {
	Services []Service
	// More is set when Services sorting after the last one remain.
	More     bool
	Revision uint64
}

// ListServices returns up to limit Services in namespace/name order (both
// compared in lower case, as keys are), of namespace or, when namespace is
// empty, of every namespace that allow accepts (nil accepts all), starting
// after the Service afterNamespace/afterName (empty for the first page).
func (ix *Index) ListServices(namespace, afterNamespace, afterName string, limit int, allow func(namespace string) bool) ServicePage {
	ns := strings.ToLower(namespace)
	after := keyOf(afterNamespace, afterName)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	keys := make([]objectKey, 0, min(len(ix.services), 1024))
	for k := range ix.services {
		switch {
		case ns != "" && k.namespace != ns:
		case ns == "" && allow != nil && !allow(k.namespace):
		case (afterNamespace != "" || afterName != "") && k.less(after) <= 0:
		default:
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, objectKey.less)
	page := ServicePage{Revision: ix.revision.Load(), More: len(keys) > limit}
	keys = keys[:min(len(keys), limit)]
	page.Services = make([]Service, 0, len(keys))
	for _, k := range keys {
		page.Services = append(page.Services, *ix.services[k])
	}
	return page
}
