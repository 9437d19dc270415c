package dnsschema

import (
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// An answer must fit one DNS message: a DNS server relays it over TCP at
// worst, whose length prefix caps a message at 65,535 bytes (RFC 1035
// 4.2.2), and it travels to the DNS server in one gRPC message. A headless
// Service with thousands of endpoints would exceed both.
const (
	maxMessageSize = 65535
	headerSize     = 12
	// ednsAllowance is left for what the DNS server adds: an OPT record (11
	// bytes) with its options (a cookie, EDNS padding to a block of 468).
	ednsAllowance = 512
	// rrFixedSize is the type, class, TTL and RDLENGTH fields of an RR.
	rrFixedSize = 10
)

// fitMessage cuts resp so that the message a DNS server builds from it,
// with the question qname and without name compression, fits
// maxMessageSize. The answer section keeps its first records; when it is
// cut, resp.Truncated is set (the DNS server sets TC) and the additional
// section keeps only glue for the remaining answers. Additional records
// that do not fit are dropped without Truncated, as RFC 2181 section 9
// allows. Sizes are counted uncompressed, so the real message is never
// larger.
func fitMessage(resp *clusterdnsv1.LookupResponse, qname string) {
	budget := maxMessageSize - headerSize - ednsAllowance - (wireNameSize(qname) + 4)
	for _, rr := range resp.GetAuthority() {
		budget -= rrSize(rr)
	}
	used, kept := 0, len(resp.Answer)
	for i, rr := range resp.Answer {
		n := rrSize(rr)
		if used+n > budget {
			kept = i
			break
		}
		used += n
	}
	if kept < len(resp.Answer) {
		resp.Answer = resp.Answer[:kept:kept]
		resp.Truncated = true
		resp.Additional = glueFor(resp.Answer, resp.Additional)
	}
	for i, rr := range resp.Additional {
		n := rrSize(rr)
		if used+n > budget {
			resp.Additional = resp.Additional[:i:i]
			break
		}
		used += n
	}
}

// glueFor keeps the additional records owned by a target of answer.
func glueFor(answer, additional []*clusterdnsv1.ResourceRecord) []*clusterdnsv1.ResourceRecord {
	if len(additional) == 0 {
		return additional
	}
	targets := make(map[string]struct{}, len(answer))
	for _, rr := range answer {
		if srv := rr.GetSrv(); srv != nil {
			targets[asciiLower(srv.GetTarget())] = struct{}{}
		}
	}
	var out []*clusterdnsv1.ResourceRecord
	for _, rr := range additional {
		if _, ok := targets[asciiLower(rr.GetName())]; ok {
			out = append(out, rr)
		}
	}
	return out
}

// wireNameSize is the uncompressed wire size of a domain name in
// presentation form: a length octet per label plus the root's. An escaped
// character counts as its escape, which only overestimates.
func wireNameSize(name string) int {
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if name == "" {
		return 1
	}
	return len(name) + 2
}

// rrSize is the uncompressed wire size of rr.
func rrSize(rr *clusterdnsv1.ResourceRecord) int {
	n := wireNameSize(rr.GetName()) + rrFixedSize
	switch d := rr.GetData().(type) {
	case *clusterdnsv1.ResourceRecord_A:
		n += 4
	case *clusterdnsv1.ResourceRecord_Aaaa:
		n += 16
	case *clusterdnsv1.ResourceRecord_Srv:
		n += 6 + wireNameSize(d.Srv.GetTarget())
	case *clusterdnsv1.ResourceRecord_Ptr:
		n += wireNameSize(d.Ptr.GetTarget())
	case *clusterdnsv1.ResourceRecord_Cname:
		n += wireNameSize(d.Cname.GetTarget())
	case *clusterdnsv1.ResourceRecord_Ns:
		n += wireNameSize(d.Ns.GetTarget())
	case *clusterdnsv1.ResourceRecord_Txt:
		for _, v := range d.Txt.GetValues() {
			n += 1 + len(v)
		}
	case *clusterdnsv1.ResourceRecord_Soa:
		n += wireNameSize(d.Soa.GetMname()) + wireNameSize(d.Soa.GetRname()) + 20
	}
	return n
}
