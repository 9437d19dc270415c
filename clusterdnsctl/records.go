package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// lookupTypes are the mnemonics lookup accepts besides numbers: the types
// the record service answers, and ANY.
func lookupTypes() []uint16 {
	return []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeCNAME, dns.TypeTXT,
		dns.TypeSOA, dns.TypeNS, dns.TypeANY}
}

// parseQType reads a query type by mnemonic (any case) or number.
func parseQType(s string) (uint16, error) {
	types := lookupTypes()
	for _, t := range types {
		if strings.EqualFold(s, dns.TypeToString[t]) {
			return t, nil
		}
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(s), "TYPE"), 10, 16)
	if err != nil || n == 0 {
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = dns.TypeToString[t]
		}
		return 0, fmt.Errorf("type %q: want %s or a number from 1 to 65535", s, strings.Join(names, ", "))
	}
	return uint16(n), nil
}

// typeName is the mnemonic of t, or TYPEnnn (RFC 3597) for the others.
func typeName(t uint32) string {
	if name, ok := dns.TypeToString[uint16(t)]; ok && t <= 0xffff {
		return name
	}
	return "TYPE" + strconv.FormatUint(uint64(t), 10)
}

// resultName is the result without its enum prefix: SUCCESS, NAME_ERROR...
func resultName(r clusterdnsv1.Result) string {
	return strings.TrimPrefix(r.String(), "RESULT_")
}

// rdata is a record's type and data in zone-file presentation form.
func rdata(rr *clusterdnsv1.ResourceRecord) (string, string) {
	switch d := rr.GetData().(type) {
	case *clusterdnsv1.ResourceRecord_A:
		return "A", d.A.GetAddress()
	case *clusterdnsv1.ResourceRecord_Aaaa:
		return "AAAA", d.Aaaa.GetAddress()
	case *clusterdnsv1.ResourceRecord_Srv:
		s := d.Srv
		return "SRV", fmt.Sprintf("%d %d %d %s", s.GetPriority(), s.GetWeight(), s.GetPort(), s.GetTarget())
	case *clusterdnsv1.ResourceRecord_Ptr:
		return "PTR", d.Ptr.GetTarget()
	case *clusterdnsv1.ResourceRecord_Cname:
		return "CNAME", d.Cname.GetTarget()
	case *clusterdnsv1.ResourceRecord_Txt:
		quoted := make([]string, len(d.Txt.GetValues()))
		for i, v := range d.Txt.GetValues() {
			quoted[i] = strconv.Quote(v)
		}
		return "TXT", strings.Join(quoted, " ")
	case *clusterdnsv1.ResourceRecord_Soa:
		s := d.Soa
		return "SOA", fmt.Sprintf("%s %s %d %d %d %d %d", s.GetMname(), s.GetRname(), s.GetSerial(), s.GetRefresh(),
			s.GetRetry(), s.GetExpire(), s.GetMinimum())
	case *clusterdnsv1.ResourceRecord_Ns:
		return "NS", d.Ns.GetTarget()
	}
	return "?", "(a record type this clusterdnsctl does not know)"
}

// writeLookup prints a lookup answer as dig prints one: a header comment,
// then each section's records as zone-file lines.
func writeLookup(w io.Writer, name string, qtype uint16, r *clusterdnsv1.LookupResponse) error {
	fmt.Fprintf(w, ";; %s %s: %s, ttl %d, revision %d, server %s", name, typeName(uint32(qtype)),
		resultName(r.GetResult()), r.GetTtl(), r.GetRevision(), r.GetServerId())
	if r.GetTruncated() {
		fmt.Fprint(w, ", truncated")
	}
	fmt.Fprintln(w)
	for _, sec := range []struct {
		name string
		rrs  []*clusterdnsv1.ResourceRecord
	}{{"ANSWER", r.GetAnswer()}, {"AUTHORITY", r.GetAuthority()}, {"ADDITIONAL", r.GetAdditional()}} {
		if len(sec.rrs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n;; %s SECTION:\n", sec.name)
		t := newTable(w)
		for _, rr := range sec.rrs {
			typ, data := rdata(rr)
			t.row(rr.GetName(), strconv.FormatUint(uint64(rr.GetTtl()), 10), "IN", typ, data)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}
