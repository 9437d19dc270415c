package authz

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string                     // substring; empty means valid
		check   map[string]Role            // identity -> role
		ns      map[string]map[string]bool // identity -> namespace -> allowed
	}{
		{name: "empty", yaml: "", check: map[string]Role{"frontend": RoleFrontend, "billing": RoleNone}},
		{name: "example", yaml: "clients:\n- identity: frontend\n  role: frontend\n- identity: billing\n  namespaces: [billing, default]\n",
			check: map[string]Role{"frontend": RoleFrontend, "billing": RoleScoped, "other": RoleNone},
			ns:    map[string]map[string]bool{"billing": {"billing": true, "default": true, "kube-system": false, "Billing": true}}},
		{name: "extra frontend identity", yaml: "clients: [{identity: node-local, role: frontend}]",
			check: map[string]Role{"node-local": RoleFrontend},
			ns:    map[string]map[string]bool{"node-local": {"anything": true}}},
		{name: "unknown field", yaml: "clients: [{identity: a, namespace: [x]}]", wantErr: "field namespace not found"},
		{name: "unknown role", yaml: "clients: [{identity: a, role: admin}]", wantErr: "unknown role"},
		{name: "no namespaces", yaml: "clients: [{identity: a}]", wantErr: "no namespaces"},
		{name: "frontend with namespaces", yaml: "clients: [{identity: a, role: frontend, namespaces: [x]}]", wantErr: "remove namespaces"},
		{name: "frontend restricted", yaml: "clients: [{identity: frontend, namespaces: [x]}]", wantErr: "always has role frontend"},
		{name: "duplicate", yaml: "clients: [{identity: a, namespaces: [x]}, {identity: a, namespaces: [y]}]", wantErr: "twice"},
		{name: "empty identity", yaml: "clients: [{namespaces: [x]}]", wantErr: "identity: empty"},
		{name: "YAML 1.1 booleans stay names", yaml: "clients: [{identity: a, namespaces: [y, on, no]}]",
			ns: map[string]map[string]bool{"a": {"y": true, "on": true, "no": true, "true": false}}},
		{name: "bad namespace", yaml: "clients: [{identity: a, namespaces: [Bad_NS]}]", wantErr: "not a namespace name"},
		{name: "not yaml", yaml: "clients: [", wantErr: "policy:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range tt.check {
				if got := p.Lookup(id).Role; got != want {
					t.Errorf("role of %q = %v, want %v", id, got, want)
				}
			}
			for id, m := range tt.ns {
				for ns, want := range m {
					if got := p.Lookup(id).AllowsNamespace(ns); got != want {
						t.Errorf("%q allowed namespace %q = %v, want %v", id, ns, got, want)
					}
				}
			}
		})
	}
}

func TestAnswerAllowedAndFilter(t *testing.T) {
	p, err := ParsePolicy([]byte("clients: [{identity: billing, namespaces: [billing, default]}]"))
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.0.0.1")
	own := kubeindex.ServiceKey("billing", "api")
	other := kubeindex.ServiceKey("kube-system", "kube-dns")
	tests := []struct {
		name      string
		identity  string
		keys      []string
		allowed   bool
		watchKeys []string
	}{
		{"own service", "billing", []string{own, kubeindex.NamespaceKey("billing")}, true, []string{own, kubeindex.NamespaceKey("billing")}},
		{"other namespace", "billing", []string{other}, false, nil},
		{"CNAME into another namespace", "billing", []string{own, other}, false, []string{own}},
		{"PTR of own service", "billing", []string{kubeindex.AddressKey(ip), own}, true, []string{own}},
		{"own directory", "billing", []string{kubeindex.ServiceKey("billing", "nope"), kubeindex.NamespaceKey("billing"),
			kubeindex.ServicesKey("billing")}, true, []string{kubeindex.ServiceKey("billing", "nope"),
			kubeindex.NamespaceKey("billing"), kubeindex.ServicesKey("billing")}},
		{"other namespace's directory", "billing", []string{kubeindex.ServicesKey("kube-system")}, false, nil},
		{"address only", "billing", []string{kubeindex.AddressKey(ip), kubeindex.PodKey(ip)}, true, nil},
		{"unknown identity", "nobody", []string{own}, false, nil},
		{"frontend", "frontend", []string{other, kubeindex.AddressKey(ip)}, true, []string{other, kubeindex.AddressKey(ip)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := p.Lookup(tt.identity)
			if _, ok := g.AnswerAllowed(tt.keys); ok != tt.allowed {
				t.Errorf("AnswerAllowed = %v, want %v", ok, tt.allowed)
			}
			if got := g.FilterWatchKeys(tt.keys); !slices.Equal(got, tt.watchKeys) {
				t.Errorf("FilterWatchKeys = %q, want %q", got, tt.watchKeys)
			}
		})
	}
}

// TestLoadFileReload edits the policy file: a good edit applies, a bad one
// keeps the last good policy.
func TestLoadFileReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("clients: [{identity: a, namespaces: [x]}]")
	src, err := LoadFile(ctx, path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func(*Policy) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond(src.Policy()) {
			if time.Now().After(deadline) {
				t.Fatalf("policy never reached: %s", what)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	if !src.Policy().Lookup("a").AllowsNamespace("x") {
		t.Fatal("initial policy not applied")
	}
	write("clients: [{identity: a, namespaces: [y]}]")
	waitFor("a sees y", func(p *Policy) bool { return p.Lookup("a").AllowsNamespace("y") })
	write("clients: [{identity: a, namespaces: [z]}, {identity: b}]") // invalid: b has nothing
	// The bad edit must not apply; a later good one must, which also shows
	// the bad one was read and passed over.
	write("clients: [{identity: c, namespaces: [y]}]")
	waitFor("c sees y", func(p *Policy) bool { return p.Lookup("c").AllowsNamespace("y") })
	if p := src.Policy(); p.Lookup("a").Role != RoleNone {
		t.Fatalf("a still granted after the last edit removed it: %v", p.Lookup("a"))
	}

	if _, err := LoadFile(ctx, filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
	write("clients: [{identity: a}]")
	if _, err := LoadFile(ctx, path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("invalid file at start: err = %v, want one naming the file", err)
	}
}

func TestBadEditKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("clients: [{identity: a, namespaces: [x]}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no background polling: reload is driven by hand
	src, err := LoadFile(ctx, path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"clients: [{identity: a}]", "{{", ""} {
		if bad == "" {
			_ = os.Remove(path)
		} else if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		src.reload()
		if !src.Policy().Lookup("a").AllowsNamespace("x") {
			t.Fatalf("after bad edit %q the last good policy is gone", bad)
		}
	}
}
