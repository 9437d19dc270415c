package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseCorefile checks the syntax the parser reads: keys, nested
// blocks, comments, quotes, and a file without braces.
func TestParseCorefile(t *testing.T) {
	t.Parallel()
	cf, err := parseCorefile("Corefile", `# leading comment
.:53 example.org:53,  10.0.0.0/8 {
    errors   # trailing comment
    forward . 8.8.8.8 {
        policy sequential
        except "with space" `+"`back#quoted`"+`
    }
    hosts {
        10.0.0.1 a.example "b#not-a-comment"
        fallthrough }
}

corp.example
{
    forward . 10.1.0.53
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.blocks) != 2 {
		t.Fatalf("%d blocks", len(cf.blocks))
	}
	b := cf.blocks[0]
	if strings.Join(b.keys, "|") != ".:53|example.org:53|10.0.0.0/8" || b.line != 2 {
		t.Errorf("keys %q line %d", b.keys, b.line)
	}
	got := render(b.directives, "")
	want := `3 errors
4 forward .|8.8.8.8
  5 policy sequential
  6 except with space|back#quoted
8 hosts
  9 10.0.0.1 a.example|b#not-a-comment
  10 fallthrough
`
	if got != want {
		t.Errorf("directives:\n%s\nwant:\n%s", got, want)
	}
	if c := cf.blocks[1]; strings.Join(c.keys, "|") != "corp.example" || render(c.directives, "") != "15 forward .|10.1.0.53\n" {
		t.Errorf("second block %q %s", c.keys, render(c.directives, ""))
	}

	single, err := parseCorefile("Corefile", "example.org\nwhoami\nlog\n")
	if err != nil || len(single.blocks) != 1 || render(single.blocks[0].directives, "") != "2 whoami\n3 log\n" {
		t.Errorf("a file without braces: %v %+v", err, single)
	}
}

// render prints directives one a line, LINE NAME ARGS, the arguments
// joined by | to show the quoting, nested blocks indented.
func render(ds []*directive, indent string) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s%d %s", indent, d.line, d.name)
		if len(d.args) > 0 {
			b.WriteString(" " + strings.Join(d.args, "|"))
		}
		b.WriteString("\n" + render(d.block, indent+"  "))
	}
	return b.String()
}

func TestParseCorefileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{".:53 {\n  errors\n", "Corefile:1: the { of this line is never closed"},
		{".:53 {\n}\n}\n", `Corefile:3: "}" where server block addresses belong`},
		{".:53 {\n  forward . {$UPSTREAM}\n}\n", `Corefile:2: "{$UPSTREAM}": environment substitution is not supported`},
		{".:53 {\n  forward . {env.UPSTREAM}\n}\n", "environment substitution is not supported"},
		{".:53 {\n  import common\n}\n", "Corefile:2: import: snippets and import are not supported"},
		{"(common) {\n  errors\n}\n", "Corefile:1: snippet (common): snippets and import are not supported"},
		{".:53 {\n  hosts \"unterminated\n}\n", "Corefile:2: unterminated quoted word"},
		{".:53 {\n}\nexample.org\nerrors\n", "Corefile:3: server block example.org: missing {"},
		{"# nothing\n", "Corefile: no server block"},
		{".:53 {\n  forward . 1.1.1.1 { policy random\n  }\n}\n", `Corefile:2: unexpected "{" in the middle of a line`},
	} {
		if _, err := parseCorefile("Corefile", tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse %q: %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
