package dnsschema

import (
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Namespace directories (LookupResponse.absent_below).
//
// An NXDOMAIN for <svc>.<ns>.svc.<zone>, or for a name under it, caused by
// the Service being missing carries the sorted names of the namespace's
// Services: a cache may then answer NXDOMAIN for every name of the
// namespace whose label right below <ns>.svc.<zone> is not listed, without
// asking (RFC 8198's aggressive negative caching, the list standing in for
// NSEC records).
//
// That holds because, with search-path completion off, every name with at
// least one label below <ns>.svc.<zone> either is Malformed (NXDOMAIN: a
// label that is not a lower-case RFC 1123 label, such as "*" or "_tcp",
// which names no Service; there are no wildcards) or is a KindService,
// KindEndpoint or KindPort name, which service, endpoint and port answer
// NXDOMAIN whenever findService does not find the Service of that label.
// The list holds the same lower-cased names findService looks up, so every
// label that can answer otherwise is listed.
//
// Not sent, so that the claim also holds for every client: with Autopath
// (an NXDOMAIN there may become a client's completion), for the clusterset
// zone (another zone, another grammar), when the namespace does not exist
// (no directory of nothing: the namespace key decides), nor when the
// namespace has more than Config.DirectoryLimit Services. The record
// server drops it from answers it marks client_specific.

// absentBelow returns the directory for an NXDOMAIN of name, nil when none
// is sent.
func (l *lookup) absentBelow(name Name) *clusterdnsv1.AbsentBelow {
	s := l.s
	if s.autopath || s.dirLimit < 0 || name.Set {
		return nil
	}
	switch name.Kind {
	case KindService, KindEndpoint, KindPort:
	default:
		return nil
	}
	ds, ok := l.store.(DirectoryStore)
	if !ok {
		return nil
	}
	if _, exists := l.store.Service(name.Namespace, name.Service); exists {
		// A Service that exists answers NXDOMAIN for other reasons (a
		// headless one without ready endpoints, an unknown endpoint or
		// port): its label is listed, so a directory would say nothing
		// about the asked name.
		return nil
	}
	// The list holds only while the namespace exists.
	l.depend(kubeindex.NamespaceKey(name.Namespace))
	if !l.store.NamespaceExists(name.Namespace) {
		return nil
	}
	labels, ok := ds.ServiceNames(name.Namespace, s.dirLimit)
	if !ok {
		return nil
	}
	// The services key goes with the list only: the answer itself does not
	// change when another Service of the namespace comes or goes.
	return &clusterdnsv1.AbsentBelow{
		Apex:   name.Namespace + s.svcSuffix,
		Labels: labels,
		Keys:   []string{kubeindex.ServicesKey(name.Namespace)},
	}
}
