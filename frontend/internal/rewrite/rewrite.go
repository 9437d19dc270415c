// Package rewrite rewrites question names before the frontend resolves
// them, and puts the asked name back into the answers, so that a client
// sees the name it asked for (CoreDNS's `rewrite name ... answer auto`).
//
// Names are compared lower-cased and fully qualified (with the final dot).
// Rules are tried in order and the first that matches wins:
//   - exact: the name equals From;
//   - prefix: the name begins with From (no dot is added to From); it is
//     replaced by To;
//   - suffix: the name ends with From made fully qualified; that suffix
//     is replaced by To made fully qualified;
//   - substring: every occurrence of From in the name is replaced by To;
//   - regex: From is a Go regular expression (RE2 syntax) searched in the
//     fully-qualified name, and the new name is To with $1, ${name}...
//     replaced by its groups (CoreDNS writes {1}; clusterdnsctl
//     import-corefile translates). The name is the whole expansion, not an
//     in-place replacement.
//
// A rule whose result is not a domain name rewrites nothing.
package rewrite

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/miekg/dns"
)

// The kinds of match of Rule.Match.
const (
	Exact     = "exact"
	Prefix    = "prefix"
	Suffix    = "suffix"
	Substring = "substring"
	Regex     = "regex"
)

// Rule is one rewrite: names matching From the Match way become To.
type Rule struct {
	Match, From, To string
}

// Rewriter applies its rules; it is immutable and safe for concurrent use.
type Rewriter struct {
	rules []rule
}

type rule struct {
	match    string
	from, to string
	re       *regexp.Regexp
}

// New checks and compiles rules. Every error names the rule (1-based) and
// what is wrong with it.
func New(rules []Rule) (*Rewriter, error) {
	r := &Rewriter{}
	for i, in := range rules {
		c, err := compile(in)
		if err != nil {
			return nil, fmt.Errorf("rewrite rule %d (%s %q -> %q): %w", i+1, in.Match, in.From, in.To, err)
		}
		r.rules = append(r.rules, c)
	}
	return r, nil
}

func compile(in Rule) (rule, error) {
	if in.From == "" {
		return rule{}, fmt.Errorf("from: empty")
	}
	if in.To == "" {
		return rule{}, fmt.Errorf("to: empty")
	}
	c := rule{match: in.Match, from: strings.ToLower(in.From), to: in.To}
	switch in.Match {
	case Exact, Suffix:
		for _, n := range []*string{&c.from, &c.to} {
			*n = dns.Fqdn(*n)
			// A suffix may begin with the dot that separates it.
			if _, ok := dns.IsDomainName(strings.TrimPrefix(*n, ".")); !ok || *n == "." {
				return rule{}, fmt.Errorf("%q is not a domain name", *n)
			}
		}
		c.from = strings.ToLower(c.from)
	case Prefix, Substring:
	case Regex:
		re, err := regexp.Compile("(?i)" + in.From)
		if err != nil {
			return rule{}, fmt.Errorf("from: %w", err)
		}
		c.re, c.from = re, in.From
		// A $n beyond the groups expands to nothing, silently: refuse it.
		for _, m := range regexp.MustCompile(`\$(\d+)|\$\{(\d+)\}`).FindAllStringSubmatch(in.To, -1) {
			n := m[1] + m[2]
			if len(n) > 3 || atoi(n) > re.NumSubexp() {
				return rule{}, fmt.Errorf("to: $%s, but from has %d group(s)", n, re.NumSubexp())
			}
		}
	default:
		return rule{}, fmt.Errorf("match %q: want exact, prefix, suffix, substring or regex", in.Match)
	}
	return c, nil
}

func atoi(s string) int {
	n := 0
	for _, d := range s {
		n = n*10 + int(d-'0')
	}
	return n
}

// Empty tells whether there is no rule, so that a server can skip
// rewriting.
func (r *Rewriter) Empty() bool { return r == nil || len(r.rules) == 0 }

// Rewrite returns the name qname is to be resolved as, fully qualified,
// and ok=true when a rule matched.
func (r *Rewriter) Rewrite(qname string) (rewritten string, ok bool) {
	if r.Empty() {
		return "", false
	}
	name := strings.ToLower(dns.Fqdn(qname))
	for _, c := range r.rules {
		out, matched := c.apply(name)
		if !matched {
			continue
		}
		out = dns.Fqdn(out)
		if _, valid := dns.IsDomainName(out); !valid || out == "." {
			return "", false
		}
		return out, true
	}
	return "", false
}

// apply returns name rewritten by c, and whether c matched.
func (c rule) apply(name string) (string, bool) {
	switch c.match {
	case Exact:
		return c.to, name == c.from
	case Prefix:
		rest, ok := strings.CutPrefix(name, c.from)
		return c.to + rest, ok
	case Suffix:
		rest, ok := strings.CutSuffix(name, c.from)
		return rest + c.to, ok
	case Substring:
		return strings.ReplaceAll(name, c.from, c.to), strings.Contains(name, c.from)
	default:
		m := c.re.FindStringSubmatchIndex(name)
		if m == nil {
			return "", false
		}
		return string(c.re.ExpandString(nil, c.to, name, m)), true
	}
}

// Restore makes resp an answer to asked, the name the client asked for:
// the question, and every answer record owned by rewritten (the name that
// was resolved), get asked back. Other records (a CNAME chain's further
// links, the authority SOA) keep their names, as with CoreDNS's
// `answer auto`.
func Restore(resp *dns.Msg, asked, rewritten string) {
	if resp == nil {
		return
	}
	for i := range resp.Question {
		if equalFold(resp.Question[i].Name, rewritten) {
			resp.Question[i].Name = asked
		}
	}
	for _, rr := range resp.Answer {
		if equalFold(rr.Header().Name, rewritten) {
			rr.Header().Name = asked
		}
	}
}

func equalFold(a, b string) bool { return strings.EqualFold(dns.Fqdn(a), dns.Fqdn(b)) }
