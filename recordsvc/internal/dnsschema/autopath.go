package dnsschema

import (
	"net/netip"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Server-side search-path completion (Config.Autopath; CoreDNS calls it
// autopath).
//
// A pod with the default resolv.conf (ndots:5, search <ns>.svc.<zone>
// svc.<zone> <zone> plus the node's search domains) resolves a short name X
// by asking X.<ns>.svc.<zone>, then X.svc.<zone>, X.<zone>, X.<node search
// domains> and X itself, one round trip each, until one gives an answer.
// When the first of these is NXDOMAIN, the record service walks the rest of
// the list itself and answers the first question the pod's resolver would
// have stopped at, prefixed by a CNAME from the asked name to the name
// found: one round trip instead of several.
//
// completion applies when all of these hold:
//   - the asked name is NXDOMAIN (an existing name is always answered as
//     itself, whatever the type);
//   - it is X.<ns>.svc.<zone> with X one or more labels of letters, digits,
//     hyphens and underscores;
//   - the client IP belongs to running pods of exactly one namespace (the
//     pod index of `pods verified`), and that namespace is <ns>: the query
//     carries the client's own first search suffix.
//
// The candidates are then tried in the order of the search list:
// X.svc.<zone>, X.<zone> and, when X itself lies inside the cluster zone
// (kubernetes.default.svc.cluster.local asked with ndots:5), X. The first
// candidate where the client's resolver would stop is the answer: for A and
// AAAA, which glibc and musl ask together and judge together, a candidate
// with addresses of either family; for other types, a candidate with records
// of the asked type. A candidate that exists without such records does not
// stop a resolver (it keeps searching after NODATA) and is passed over. The
// answer is RESULT_SUCCESS: a CNAME (query case kept, configured TTL) from
// the asked name to the candidate, then the candidate's answer for the asked
// type, which for A or AAAA may be empty when the candidate only has the
// other family - the truthful answer for the pair the client asked.
//
// When no candidate qualifies the answer is the ordinary NXDOMAIN of the
// asked name and the client goes on with its own search list. Names outside
// the zone are never tried: CoreDNS's autopath goes on with the node's
// search domains and the bare name through its upstreams, which the record
// service does not reach. For the same reason an in-zone X is answered
// without trying the node's search domains first; a name X.<node domain>
// that exists upstream while X exists in the zone (only a wildcard could do
// that) would be answered differently than by the client's own search.
//
// Every query type is completed, as CoreDNS's autopath (it filters none).
// CoreDNS stops at the first candidate that is not NXDOMAIN, so a NODATA
// candidate ends the search early there; here it does not. CoreDNS's
// documentation warned that with its cache plugin pods could get answers
// completed for another namespace; here a completion names the namespace it
// was computed for (LookupResponse.autopath_namespace) so that caches keep
// it per client, and its keys hold every name consulted plus the client's
// kubeindex.PodKey.
//
// Known limits, shared with CoreDNS: pods on the host network share the
// node's IP, so they get completion only when that IP maps to one
// namespace; a pod IP reused by a pod of another namespace before the pod
// watch reports it is completed for the old namespace's suffix, which the
// new pod does not send.

// autopath tries to complete an NXDOMAIN for qname from the client's search
// path. It returns the completed outcome and the client's namespace, or
// ok false when completion does not apply (the keys it read are recorded
// either way).
func (l *lookup) autopath(qname, clientIP string, qtype uint16) (out outcome, namespace string, ok bool) {
	s := l.s
	labels, valid := splitName(qname)
	z := len(s.zoneLabels)
	n := len(labels)
	// X (at least one label), <ns>, "svc", then the zone.
	if !valid || n < z+3 || !hasSuffixLabels(labels, s.zoneLabels) || labels[n-z-1] != "svc" {
		return outcome{}, "", false
	}
	namespace = labels[n-z-2]
	base := labels[:n-z-2]
	for _, label := range base {
		if !isSearchLabel(label) {
			return outcome{}, "", false
		}
	}
	ip, err := netip.ParseAddr(clientIP)
	if err != nil {
		return outcome{}, "", false
	}
	ip = ip.Unmap().WithZone("")
	// The answer depends on which pods hold the client IP, whether or not
	// it is completed: an answer computed before the pod was indexed is
	// dropped when it is.
	l.depend(kubeindex.PodKey(ip))
	namespaces := l.store.PodNamespacesByIP(ip)
	if len(namespaces) != 1 || asciiLower(namespaces[0]) != namespace {
		return outcome{}, "", false
	}

	x := strings.Join(base, ".")
	candidates := []string{x + s.svcSuffix, x + "." + s.zone}
	if hasSuffixLabels(base, s.zoneLabels) {
		candidates = append(candidates, x+".")
	}
	asked := fqdn(qname)
	for _, c := range candidates {
		if out, ok := l.candidate(asked, c, qtype); ok {
			return out, namespace, true
		}
	}
	return outcome{}, "", false
}

// candidate answers the search-path candidate c (lower case, fully
// qualified) for qtype, behind a CNAME from asked. ok is false when the
// client's resolver would not stop at c.
func (l *lookup) candidate(asked, c string, qtype uint16) (outcome, bool) {
	name, err := l.s.parse(c)
	if err != nil {
		return outcome{}, false // off the grammar: cannot exist, depends on nothing
	}
	// The CNAME from the asked name is the first link of the chain.
	l.chain = []string{asciiLower(asked)}
	out := l.resolve(name, c, qtype)
	stop := out.result == clusterdnsv1.Result_RESULT_SUCCESS
	if !stop && out.result == clusterdnsv1.Result_RESULT_NO_DATA && (qtype == typeA || qtype == typeAAAA) {
		other := typeA
		if qtype == typeA {
			other = typeAAAA
		}
		l.chain = []string{asciiLower(asked)}
		stop = l.resolve(name, c, other).result == clusterdnsv1.Result_RESULT_SUCCESS
	}
	if !stop {
		return outcome{}, false
	}
	answer := make([]*clusterdnsv1.ResourceRecord, 0, len(out.answer)+1)
	answer = append(answer, cnameRecord(asked, l.s.ttl, c))
	answer = append(answer, out.answer...)
	return positive(answer, out.additional), true
}

// isSearchLabel reports whether a label of a searched name can appear in a
// name of the zone grammar: letters, digits, hyphens and underscores (SRV
// labels). Names with other bytes are never completed.
func isSearchLabel(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
