// Package authz decides what a caller of the record API may see: frontends
// (identity "frontend", or any identity the policy gives role frontend) may
// use every method and are trusted with the DNS client's address; every
// other identity named by the policy file is limited to its namespaces.
// Identities the policy does not name get nothing.
package authz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FrontendIdentity is the identity of the clusterdns frontends'
// certificate; it always has role frontend.
const FrontendIdentity = "frontend"

// Role is what kind of client an identity is.
type Role int

const (
	// RoleNone is an identity the policy does not name: denied everything.
	RoleNone Role = iota
	// RoleFrontend may call every method for any name and its client_ip is
	// trusted (it is the address of the pod that asked the frontend).
	RoleFrontend
	// RoleScoped sees only the names of its namespaces; its client_ip is
	// replaced by its own address.
	RoleScoped
)

// String names the role for logs.
func (r Role) String() string {
	switch r {
	case RoleFrontend:
		return "frontend"
	case RoleScoped:
		return "scoped"
	default:
		return "none"
	}
}

// Grant is what one identity may do.
type Grant struct {
	Identity   string
	Role       Role
	namespaces []string // sorted, lower case; RoleScoped only
}

// Namespaces are the namespaces of a scoped grant, sorted.
func (g Grant) Namespaces() []string { return slices.Clone(g.namespaces) }

// AllowsNamespace reports whether g may see names of namespace ns.
func (g Grant) AllowsNamespace(ns string) bool {
	switch g.Role {
	case RoleFrontend:
		return true
	case RoleScoped:
		_, found := slices.BinarySearch(g.namespaces, strings.ToLower(ns))
		return found
	default:
		return false
	}
}

// Policy maps identities to grants. The zero Policy knows only the
// frontends.
type Policy struct {
	grants map[string]Grant
}

// Lookup returns the grant of identity; an unknown identity gets RoleNone.
func (p *Policy) Lookup(identity string) Grant {
	if identity == FrontendIdentity {
		return Grant{Identity: identity, Role: RoleFrontend}
	}
	if p != nil {
		if g, ok := p.grants[identity]; ok {
			return g
		}
	}
	return Grant{Identity: identity, Role: RoleNone}
}

// Len is the number of identities the policy names besides the built-in
// frontend identity.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.grants)
}

// policyFile is the YAML form of a policy:
//
//	clients:
//	- identity: frontend
//	  role: frontend
//	- identity: billing
//	  namespaces: [billing, default]
type policyFile struct {
	Clients []clientEntry `yaml:"clients"`
}

type clientEntry struct {
	Identity   string   `yaml:"identity"`
	Role       string   `yaml:"role"`
	Namespaces []string `yaml:"namespaces"`
}

// ParsePolicy parses the YAML form of a policy. Unknown fields, duplicate
// identities, a scoped client without namespaces and a frontend with them
// are errors, so a typo cannot silently widen or narrow access. It decodes
// YAML 1.2 scalars as written: under YAML 1.1 a namespace named y, on or no
// would turn into a boolean.
func ParsePolicy(data []byte) (*Policy, error) {
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p := &Policy{grants: make(map[string]Grant, len(f.Clients))}
	for i, c := range f.Clients {
		g, err := c.grant()
		if err != nil {
			return nil, fmt.Errorf("policy: clients[%d]: %w", i, err)
		}
		if _, dup := p.grants[g.Identity]; dup {
			return nil, fmt.Errorf("policy: clients[%d]: identity %q listed twice", i, g.Identity)
		}
		p.grants[g.Identity] = g
	}
	return p, nil
}

func (c clientEntry) grant() (Grant, error) {
	if c.Identity == "" {
		return Grant{}, errors.New("identity: empty")
	}
	switch c.Role {
	case "frontend":
		if len(c.Namespaces) > 0 {
			return Grant{}, fmt.Errorf("identity %q: role frontend sees every namespace, remove namespaces", c.Identity)
		}
		return Grant{Identity: c.Identity, Role: RoleFrontend}, nil
	case "":
	default:
		return Grant{}, fmt.Errorf("identity %q: unknown role %q (want frontend, or none with namespaces)", c.Identity, c.Role)
	}
	if c.Identity == FrontendIdentity {
		return Grant{}, fmt.Errorf("identity %q is the frontends' and always has role frontend", c.Identity)
	}
	if len(c.Namespaces) == 0 {
		return Grant{}, fmt.Errorf("identity %q: no namespaces (and no role frontend): it could see nothing", c.Identity)
	}
	ns := make([]string, 0, len(c.Namespaces))
	for _, n := range c.Namespaces {
		if !isNamespaceName(n) {
			return Grant{}, fmt.Errorf("identity %q: %q is not a namespace name", c.Identity, n)
		}
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return Grant{Identity: c.Identity, Role: RoleScoped, namespaces: slices.Compact(ns)}, nil
}

// isNamespaceName accepts a lower-case RFC 1123 label, what Kubernetes
// allows as a namespace name.
func isNamespaceName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// grantKey is the context key of a caller's Grant.
type grantKey struct{}

// NewContext returns ctx carrying the caller's grant, for handlers that
// filter what they return (a listing of every namespace the caller may see).
func NewContext(ctx context.Context, g Grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// FromContext returns the grant NewContext stored; ok is false when there is
// none, and the caller must then be refused.
func FromContext(ctx context.Context) (g Grant, ok bool) {
	g, ok = ctx.Value(grantKey{}).(Grant)
	return g, ok
}
