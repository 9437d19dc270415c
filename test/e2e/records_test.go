package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// clusterDomain is the zone every test serves (the binaries' default).
const clusterDomain = "cluster.local."

// parseRRs parses records in presentation format; a malformed one fails t.
func parseRRs(t testing.TB, texts []string) []dns.RR {
	t.Helper()
	rrs := make([]dns.RR, 0, len(texts))
	for _, s := range texts {
		rr, err := dns.NewRR(s)
		if err != nil || rr == nil {
			t.Fatalf("expected record %q does not parse: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	return rrs
}

// normalized returns the records in presentation format, sorted, with every
// TTL set to 0 and SOA serials set to 0: the TTL counts down in caches and
// the serial follows the record service's revision, the only two values a
// fixed expectation cannot know. OPT pseudo-records are left out.
func normalized(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		if soa, ok := rr.(*dns.SOA); ok {
			soa.Serial = 0
		}
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// sectionDiff compares a reply section with the expected records after
// normalization and describes the difference ("" when equal).
func sectionDiff(section string, want, got []dns.RR) string {
	w, g := normalized(want), normalized(got)
	if slices.Equal(w, g) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s section differs:\n", section)
	for _, s := range w {
		if !slices.Contains(g, s) {
			fmt.Fprintf(&b, "  missing:    %s\n", s)
		}
	}
	for _, s := range g {
		if !slices.Contains(w, s) {
			fmt.Fprintf(&b, "  unexpected: %s\n", s)
		}
	}
	if len(w) != len(g) {
		fmt.Fprintf(&b, "  (%d records, want %d)\n", len(g), len(w))
	}
	return b.String()
}

// checkSOA returns a complaint unless the authority section holds exactly the
// cluster zone's SOA (as negative answers must, RFC 2308).
func checkSOA(r *dns.Msg) string {
	if len(r.Ns) != 1 {
		return fmt.Sprintf("authority has %d records, want the zone SOA: %v", len(r.Ns), r.Ns)
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok {
		return fmt.Sprintf("authority holds %v, want the zone SOA", r.Ns[0])
	}
	if soa.Hdr.Name != clusterDomain || soa.Ns != "ns.dns."+clusterDomain || soa.Mbox != "hostmaster."+clusterDomain {
		return fmt.Sprintf("SOA %v, want %s SOA ns.dns.%s hostmaster.%s ...", soa, clusterDomain, clusterDomain, clusterDomain)
	}
	return ""
}

// checkNegative returns a complaint unless r is the given negative answer
// (NXDOMAIN, or NOERROR without answer for NODATA) with the zone SOA and AA.
func checkNegative(r *dns.Msg, rcode int) string {
	switch {
	case r.Rcode != rcode:
		return fmt.Sprintf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
	case len(r.Answer) != 0:
		return fmt.Sprintf("answer %v, want none", r.Answer)
	case !r.Authoritative:
		return "AA not set"
	}
	return checkSOA(r)
}

// checkAnswer returns a complaint unless r is an authoritative NOERROR whose
// answer section is exactly want (TTL and order ignored).
func checkAnswer(t testing.TB, r *dns.Msg, want ...string) string {
	switch {
	case r.Rcode != dns.RcodeSuccess:
		return fmt.Sprintf("rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	case !r.Authoritative:
		return "AA not set"
	}
	return sectionDiff("answer", parseRRs(t, want), r.Answer)
}
