package visibility

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const policy = `rules:
- from: [team-a, team-b]
  to: [shared]
- from: [team-a]
  identities: [billing]
  to: [kube-system]
`
	p, err := Parse([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		client string // namespace, or "id:" identity
		ns     string
		want   bool
	}{
		{"team-a", "team-a", true}, // its own
		{"team-a", "shared", true},
		{"team-a", "kube-system", true}, // rules add up
		{"team-a", "team-b", false},
		{"team-b", "kube-system", false},
		{"team-b", "team-b", true},
		{"open", "team-a", true}, // no rule: open
		{"", "team-a", true},     // unattributed: open
		{"id:billing", "kube-system", true},
		{"id:billing", "team-a", false}, // an identity has no own namespace
		{"id:other", "team-a", true},
	}
	for _, tt := range tests {
		var v View
		if id, ok := strings.CutPrefix(tt.client, "id:"); ok {
			v, _ = p.ForIdentity(id)
		} else {
			v = p.ForNamespace(tt.client)
		}
		if got := v.Allows(tt.ns); got != tt.want {
			t.Errorf("%s sees %s: %v, want %v", tt.client, tt.ns, got, tt.want)
		}
	}
	// Only what every restricted client sees answers the same for all.
	for ns, want := range map[string]bool{"shared": true, "team-a": true, "kube-system": true, "elsewhere": true} {
		if got := p.HiddenFromSome(ns); got != want {
			t.Errorf("HiddenFromSome(%s) = %v, want %v", ns, got, want)
		}
	}
	if p.Rules() != 3 || !p.Restricted() {
		t.Errorf("Rules %d Restricted %v, want 3 true", p.Rules(), p.Restricted())
	}
}

func TestParseCommon(t *testing.T) {
	p, err := Parse([]byte("rules:\n- from: [a]\n  to: [shared, b]\n- from: [b]\n  to: [shared]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"shared": false, "b": false, "a": true, "c": true} {
		if got := p.HiddenFromSome(ns); got != want {
			t.Errorf("HiddenFromSome(%s) = %v, want %v", ns, got, want)
		}
	}
}

func TestParseOpen(t *testing.T) {
	for _, doc := range []string{"", "rules: []\n"} {
		p, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if p.Restricted() || p.HiddenFromSome("x") || !p.ForNamespace("x").Open() {
			t.Errorf("%q: not open", doc)
		}
	}
	var nilPolicy *Policy
	if nilPolicy.Restricted() || !nilPolicy.ForNamespace("a").Allows("b") {
		t.Error("nil policy is not open")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"rules:\n- to: [a]\n", "rules[0]: names no client"},
		{"rules:\n- from: [Team]\n", `"Team" is not a namespace name`},
		{"rules:\n- from: [a]\n  to: [b_c]\n", `"b_c" is not a namespace name`},
		{"rules:\n- identities: ['']\n", "empty identity"},
		{"rules:\n- form: [a]\n", "field form not found"},
		{"rule: []\n", "field rule not found"},
		{"rules: [oops", "did not find expected"},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.doc, err, tt.want)
		}
	}
}
