package localzone

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// maxChain bounds the CNAMEs followed inside one zone, as resolvers bound
// theirs (a loop stops at the first repeat anyway).
const maxChain = 16

// zone is one parsed static zone; every name in it is lower-cased.
type zone struct {
	origin string
	soa    *dns.SOA
	// rrsets holds the records by owner and type.
	rrsets map[string]map[uint16][]dns.RR
	// exists holds every owner and every empty non-terminal above one
	// (RFC 4592 section 2.2.2: they exist, so they are NODATA).
	exists map[string]bool
	// cuts are the owners of NS records below the apex: delegations.
	cuts map[string]bool
}

// parseZone reads zc's master-file text. $INCLUDE is refused: a zone of the
// configuration file must not read other files.
func parseZone(zc Zone) (*zone, error) {
	origin, err := fqdn(zc.Origin)
	if err != nil {
		return nil, fmt.Errorf("zone origin: %w", err)
	}
	z := &zone{origin: origin, rrsets: map[string]map[uint16][]dns.RR{},
		exists: map[string]bool{origin: true}, cuts: map[string]bool{}}
	zp := dns.NewZoneParser(strings.NewReader(zc.Records), origin, "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if err := z.add(rr); err != nil {
			return nil, fmt.Errorf("zone %s: %w", origin, err)
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("zone %s: no SOA record at the origin (an SOA is required: it is the zone's negative answer)", origin)
	}
	for owner, sets := range z.rrsets {
		if cn := sets[dns.TypeCNAME]; len(cn) > 0 && (len(sets) > 1 || len(cn) > 1) {
			return nil, fmt.Errorf("zone %s: %s has a CNAME and other records (RFC 1034 section 3.6.2 allows none)", origin, owner)
		}
	}
	return z, nil
}

func (z *zone) add(rr dns.RR) error {
	h := rr.Header()
	owner := strings.ToLower(h.Name)
	if !dns.IsSubDomain(z.origin, owner) {
		return fmt.Errorf("record %q: %s is outside the zone", rr.String(), h.Name)
	}
	if h.Class != dns.ClassINET {
		return fmt.Errorf("record %q: class %s, want IN", rr.String(), dns.Class(h.Class))
	}
	switch rr := rr.(type) {
	case *dns.SOA:
		if owner != z.origin {
			return fmt.Errorf("record %q: an SOA belongs at the origin", rr.String())
		}
		if z.soa != nil {
			return fmt.Errorf("record %q: a second SOA", rr.String())
		}
		z.soa = rr
	case *dns.NS:
		if owner != z.origin {
			z.cuts[owner] = true
		}
	}
	sets := z.rrsets[owner]
	if sets == nil {
		sets = map[uint16][]dns.RR{}
		z.rrsets[owner] = sets
	}
	for _, have := range sets[h.Rrtype] {
		if dns.IsDuplicate(have, rr) {
			return nil
		}
	}
	sets[h.Rrtype] = append(sets[h.Rrtype], rr)
	for n := owner; n != z.origin; n = parent(n) {
		z.exists[n] = true
	}
	return nil
}

// parent is name without its first label; the root's parent is the root.
func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// answer is the zone's response to q, whose lower-cased name (in the zone)
// is name.
func (z *zone) answer(req *dns.Msg, q dns.Question, name string) *dns.Msg {
	resp := reply(req)
	owner := dns.Fqdn(q.Name)
	seen := map[string]bool{}
	for range maxChain {
		seen[name] = true
		if cut := z.cutAt(name); cut != "" && (cut != name || q.Qtype != dns.TypeDS) {
			z.referral(resp, cut)
			return resp
		}
		sets, synthesized := z.rrsets[name], false
		if sets == nil && !z.exists[name] {
			if sets = z.wildcard(name); sets == nil {
				resp.Rcode = dns.RcodeNameError
				resp.Ns = []dns.RR{z.negativeSOA()}
				return resp
			}
			synthesized = true
		}
		if q.Qtype == dns.TypeANY && len(sets) > 0 {
			for _, rrs := range sets {
				resp.Answer = append(resp.Answer, copies(rrs, owner, synthesized)...)
			}
			return resp
		}
		if rrs := sets[q.Qtype]; len(rrs) > 0 {
			resp.Answer = append(resp.Answer, copies(rrs, owner, synthesized)...)
			return resp
		}
		cn := sets[dns.TypeCNAME]
		if len(cn) == 0 {
			resp.Ns = []dns.RR{z.negativeSOA()}
			return resp
		}
		resp.Answer = append(resp.Answer, copies(cn, owner, synthesized)...)
		// The chain goes on inside the zone only; a target elsewhere is the
		// resolver's to follow, and a repeated one a loop it will see.
		owner = cn[0].(*dns.CNAME).Target
		name = strings.ToLower(owner)
		if !dns.IsSubDomain(z.origin, name) || seen[name] {
			return resp
		}
	}
	return resp
}

// cutAt returns the highest zone cut at or above name, "" when name is in
// the zone's authoritative data.
func (z *zone) cutAt(name string) string {
	cut := ""
	for n := name; n != z.origin && n != "."; n = parent(n) {
		if z.cuts[n] {
			cut = n
		}
	}
	return cut
}

// referral fills resp with the delegation at cut: its NS records in the
// authority section and the addresses the zone holds for their targets
// (glue) in the additional section, without AA (RFC 1034 section 4.3.2).
func (z *zone) referral(resp *dns.Msg, cut string) {
	resp.Authoritative = false
	resp.Answer = nil
	for _, rr := range z.rrsets[cut][dns.TypeNS] {
		resp.Ns = append(resp.Ns, dns.Copy(rr))
		target := strings.ToLower(rr.(*dns.NS).Ns)
		if !dns.IsSubDomain(z.origin, target) {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			for _, glue := range z.rrsets[target][t] {
				resp.Extra = append(resp.Extra, dns.Copy(glue))
			}
		}
	}
}

// wildcard returns the records of the wildcard that synthesizes name's
// answers (RFC 4592 section 3.3.1: the "*" child of the closest encloser),
// nil when there is none.
func (z *zone) wildcard(name string) map[uint16][]dns.RR {
	encloser := parent(name)
	for !z.exists[encloser] && encloser != z.origin {
		encloser = parent(encloser)
	}
	return z.rrsets["*."+encloser]
}

// negativeSOA is the SOA of a negative answer, with the TTL RFC 2308
// section 5 gives it: the smaller of the SOA's own TTL and its MINIMUM.
func (z *zone) negativeSOA() dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
}

// copies returns copies of rrs to put in a response; synthesized ones
// (from a wildcard) take owner as their name.
func copies(rrs []dns.RR, owner string, synthesized bool) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		if synthesized {
			out[i].Header().Name = owner
		}
	}
	return out
}
