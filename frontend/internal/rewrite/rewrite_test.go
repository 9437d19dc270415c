package rewrite

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestRewrite(t *testing.T) {
	t.Parallel()
	r, err := New([]Rule{
		{Match: Exact, From: "foo.example.com", To: "foo.default.svc.cluster.local"},
		{Match: Prefix, From: "old-", To: "new-"},
		{Match: Suffix, From: ".corp.example", To: ".svc.cluster.local."},
		{Match: Substring, From: ".ops.", To: ".monitoring."},
		{Match: Regex, From: `^([a-z0-9-]+)\.([a-z0-9-]+)\.internal\.$`, To: "$1.$2.svc.cluster.local"},
		{Match: Regex, From: `^(?P<svc>[a-z]+)\.named\.$`, To: "${svc}.default.svc.cluster.local."},
		{Match: Exact, From: "bad.example", To: "x"},
		{Match: Regex, From: `^(.*)\.void\.$`, To: "$1..bad"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"foo.example.com.", "foo.default.svc.cluster.local.", true},
		{"FOO.Example.COM", "foo.default.svc.cluster.local.", true},
		{"bar.foo.example.com.", "", false},
		{"old-api.default.svc.cluster.local.", "new-api.default.svc.cluster.local.", true},
		{"db.corp.example.", "db.svc.cluster.local.", true},
		{"corp.example.", "", false},
		{"grafana.ops.svc.cluster.local.", "grafana.monitoring.svc.cluster.local.", true},
		{"web.shop.internal.", "web.shop.svc.cluster.local.", true},
		{"Web.Shop.Internal.", "web.shop.svc.cluster.local.", true},
		{"a.b.c.internal.", "", false},
		{"api.named.", "api.default.svc.cluster.local.", true},
		{"bad.example.", "x.", true},
		// The first matching rule wins, even when its result is unusable.
		{"a.void.", "", false},
		{"unrelated.example.org.", "", false},
	} {
		got, ok := r.Rewrite(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Rewrite(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	var none *Rewriter
	if _, ok := none.Rewrite("a."); ok || !none.Empty() {
		t.Error("a nil Rewriter rewrote")
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{Match: "glob", From: "a", To: "b"}, `rewrite rule 1 (glob "a" -> "b"): match "glob": want exact, prefix, suffix, substring or regex`},
		{Rule{Match: Exact, From: "", To: "b"}, "from: empty"},
		{Rule{Match: Exact, From: "a", To: ""}, "to: empty"},
		{Rule{Match: Exact, From: "a..b", To: "c"}, `"a..b." is not a domain name`},
		{Rule{Match: Suffix, From: "a", To: "b..c"}, `"b..c." is not a domain name`},
		{Rule{Match: Regex, From: "(", To: "b"}, "from: error parsing regexp"},
		{Rule{Match: Regex, From: "(a)", To: "$2.b"}, "to: $2, but from has 1 group(s)"},
	} {
		_, err := New([]Rule{tc.rule})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error containing %q", tc.rule, err, tc.want)
		}
	}
}

func TestRestore(t *testing.T) {
	t.Parallel()
	asked, rewritten := "Foo.Example.com.", "foo.default.svc.cluster.local."
	resp := new(dns.Msg)
	resp.SetQuestion(rewritten, dns.TypeA)
	for _, s := range []string{
		"FOO.default.svc.cluster.local. 30 IN CNAME web.default.svc.cluster.local.",
		"web.default.svc.cluster.local. 30 IN A 10.0.0.1",
		"foo.default.svc.cluster.local. 30 IN A 10.0.0.2",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		resp.Answer = append(resp.Answer, rr)
	}
	soa, _ := dns.NewRR("cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 2 3 4 30")
	resp.Ns = []dns.RR{soa}
	Restore(resp, asked, rewritten)
	if resp.Question[0].Name != asked {
		t.Errorf("question %s", resp.Question[0].Name)
	}
	want := []string{asked, "web.default.svc.cluster.local.", asked}
	for i, rr := range resp.Answer {
		if rr.Header().Name != want[i] {
			t.Errorf("answer %d owner %s, want %s", i, rr.Header().Name, want[i])
		}
	}
	if resp.Ns[0].Header().Name != "cluster.local." {
		t.Errorf("authority owner changed: %s", resp.Ns[0].Header().Name)
	}
	Restore(nil, asked, rewritten)
}
