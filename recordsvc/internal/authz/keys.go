package authz

import "strings"

// keyNamespace returns the namespace an invalidation key belongs to. The
// keys are kubeindex's: "svc/<ns>/<name>", "svcs/<ns>" and "ns/<ns>" name
// a namespace; "ip/<addr>" and "pod/<addr>" do not (an address may be
// shared across namespaces, so its key reveals cluster-wide state). A
// scoped client must get "svcs/<ns>" on Watch for its namespaces: its
// cached directories (absent_below) depend on it.
func keyNamespace(key string) (ns string, namespaced bool) {
	switch {
	case strings.HasPrefix(key, "svc/"):
		ns, _, _ = strings.Cut(key[len("svc/"):], "/")
		return ns, true
	case strings.HasPrefix(key, "svcs/"):
		return key[len("svcs/"):], true
	case strings.HasPrefix(key, "ns/"):
		return key[len("ns/"):], true
	default:
		return "", false
	}
}

// AnswerAllowed reports whether g may receive an answer that depends on
// keys: every namespaced key must be in g's namespaces, so neither a name
// of another namespace nor a CNAME or PTR leading into one is disclosed.
// Address keys are allowed: they only repeat what the client asked. It
// returns the first namespace at fault.
func (g Grant) AnswerAllowed(keys []string) (string, bool) {
	if g.Role == RoleFrontend {
		return "", true
	}
	for _, k := range keys {
		if ns, ok := keyNamespace(k); ok && !g.AllowsNamespace(ns) {
			return ns, false
		}
	}
	return "", g.Role == RoleScoped
}

// FilterWatchKeys returns the keys of a Watch message g may receive. A
// frontend gets keys unchanged; a scoped client only the keys of its
// namespaces: address keys are dropped because the set of addresses that
// change would disclose other namespaces' pods and endpoints (a scoped
// client's cached PTR answers also depend on the Service key, which it
// does receive). Nobody else gets any key.
func (g Grant) FilterWatchKeys(keys []string) []string {
	switch g.Role {
	case RoleFrontend:
		return keys
	case RoleScoped:
	default:
		return nil
	}
	var out []string
	for _, k := range keys {
		if ns, ok := keyNamespace(k); ok && g.AllowsNamespace(ns) {
			out = append(out, k)
		}
	}
	return out
}
