// Package visibility decides which namespaces' names a DNS client may
// resolve (DESIGN.md section 7, "Visibility"). The policy is opt-in: without
// one, or for a client no rule names, every namespace is visible, as in
// every cluster today. A client a rule names sees only the namespaces its
// rules list plus its own; any other namespace answers exactly as a
// namespace that does not exist (Store hides it from dnsschema).
package visibility

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Key is the invalidation key every answer depends on while a policy is
// configured: a policy change announces it, so caches that follow Watch
// drop what an older policy decided.
const Key = "visibility"

// Policy is a parsed visibility policy. The nil and zero Policies are open.
type Policy struct {
	byNamespace map[string][]string // client namespace -> visible namespaces, sorted
	byIdentity  map[string][]string // record API identity -> visible namespaces, sorted
	// common is what every restricted client sees, sorted: a namespace
	// outside it answers differently for some client.
	common []string
}

// View is what one client may resolve. The zero View is open.
type View struct {
	restricted bool
	visible    []string // sorted, lower case
}

// Open reports whether the view shows every namespace.
func (v View) Open() bool { return !v.restricted }

// Allows reports whether names of namespace ns (lower case) are visible.
func (v View) Allows(ns string) bool {
	if !v.restricted {
		return true
	}
	_, found := slices.BinarySearch(v.visible, ns)
	return found
}

// ForNamespace is the view of a pod of namespace ns; "" (a client the
// address index does not attribute) is open.
func (p *Policy) ForNamespace(ns string) View {
	if p == nil || ns == "" {
		return View{}
	}
	if vis, ok := p.byNamespace[ns]; ok {
		return View{restricted: true, visible: vis}
	}
	return View{}
}

// ForIdentity is the view of a record API identity; ok is false when no
// rule names it.
func (p *Policy) ForIdentity(identity string) (View, bool) {
	if p == nil || identity == "" {
		return View{}, false
	}
	vis, ok := p.byIdentity[identity]
	return View{restricted: ok, visible: vis}, ok
}

// Restricted reports whether some client has a restricted view.
func (p *Policy) Restricted() bool {
	return p != nil && (len(p.byNamespace) > 0 || len(p.byIdentity) > 0)
}

// HiddenFromSome reports whether some restricted client cannot see
// namespace ns: an answer about ns then differs between clients.
func (p *Policy) HiddenFromSome(ns string) bool {
	if !p.Restricted() {
		return false
	}
	_, found := slices.BinarySearch(p.common, ns)
	return !found
}

// Rules is the number of restricted clients (namespaces and identities).
func (p *Policy) Rules() int {
	if p == nil {
		return 0
	}
	return len(p.byNamespace) + len(p.byIdentity)
}

// policyFile is the YAML form:
//
//	rules:
//	- from: [team-a, team-b]      # client pods' namespaces
//	  identities: [billing-api]   # record API identities (gRPC callers)
//	  to: [shared, kube-system]   # what they may resolve besides their own
type policyFile struct {
	Rules []ruleEntry `yaml:"rules"`
}

type ruleEntry struct {
	From       []string `yaml:"from"`
	Identities []string `yaml:"identities"`
	To         []string `yaml:"to"`
}

// Parse parses the YAML form of a policy. Unknown fields, a rule that names
// no client, and names that are not namespace names are errors, so a typo
// cannot silently open or close a namespace. An empty document is the open
// policy.
func Parse(data []byte) (*Policy, error) {
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("visibility policy: %w", err)
	}
	p := &Policy{byNamespace: map[string][]string{}, byIdentity: map[string][]string{}}
	for i, r := range f.Rules {
		if len(r.From) == 0 && len(r.Identities) == 0 {
			return nil, fmt.Errorf("visibility policy: rules[%d]: names no client (set from or identities)", i)
		}
		for _, ns := range append(slices.Clone(r.From), r.To...) {
			if !isNamespaceName(ns) {
				return nil, fmt.Errorf("visibility policy: rules[%d]: %q is not a namespace name (lower-case RFC 1123 label)", i, ns)
			}
		}
		for _, id := range r.Identities {
			if id == "" {
				return nil, fmt.Errorf("visibility policy: rules[%d]: empty identity", i)
			}
			p.byIdentity[id] = append(p.byIdentity[id], r.To...)
		}
		for _, ns := range r.From {
			// A pod always sees its own namespace.
			p.byNamespace[ns] = append(p.byNamespace[ns], append([]string{ns}, r.To...)...)
		}
	}
	var all [][]string
	for k, v := range p.byNamespace {
		p.byNamespace[k] = sortedSet(v)
		all = append(all, p.byNamespace[k])
	}
	for k, v := range p.byIdentity {
		p.byIdentity[k] = sortedSet(v)
		all = append(all, p.byIdentity[k])
	}
	if len(all) > 0 {
		p.common = all[0]
		for _, set := range all[1:] {
			p.common = intersect(p.common, set)
		}
	}
	return p, nil
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// intersect returns the elements of the sorted sets a and b found in both.
func intersect(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, found := slices.BinarySearch(b, s); found {
			out = append(out, s)
		}
	}
	return out
}

// isNamespaceName accepts what Kubernetes allows as a namespace name.
func isNamespaceName(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }
