package recordclient

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// ResultError is the error ToMsg returns for results that carry no DNS
// answer. The caller decides what to answer instead (SERVFAIL, forwarding,
// REFUSED); compare with errors.Is.
type ResultError string

func (e ResultError) Error() string { return string(e) }

// The results without a DNS answer.
const (
	// ErrNotReady: the record service has not synced yet (RESULT_NOT_READY).
	ErrNotReady = ResultError("record service not ready")
	// ErrNotAuthoritative: the name lies outside what the record service
	// answers (RESULT_NOT_AUTHORITATIVE).
	ErrNotAuthoritative = ResultError("record service not authoritative for the name")
	// ErrNoResult: the response carries an unknown or unspecified result.
	ErrNoResult = ResultError("record service sent no result")
)

// ToMsg builds the DNS reply to req from a Lookup response: SUCCESS and
// NO_DATA give NOERROR, NAME_ERROR gives NXDOMAIN, all three authoritative
// (AA) with the response's answer, authority and additional records. Other
// results return ErrNotReady, ErrNotAuthoritative or ErrNoResult; a record
// that cannot be converted returns an error naming it. req is not modified.
func ToMsg(req *dns.Msg, resp *clusterdnsv1.LookupResponse) (*dns.Msg, error) {
	if resp == nil {
		return nil, ErrNoResult
	}
	var rcode int
	switch resp.GetResult() {
	case clusterdnsv1.Result_RESULT_SUCCESS, clusterdnsv1.Result_RESULT_NO_DATA:
		rcode = dns.RcodeSuccess
	case clusterdnsv1.Result_RESULT_NAME_ERROR:
		rcode = dns.RcodeNameError
	case clusterdnsv1.Result_RESULT_NOT_READY:
		return nil, ErrNotReady
	case clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE:
		return nil, ErrNotAuthoritative
	default:
		return nil, fmt.Errorf("%w: %v", ErrNoResult, resp.GetResult())
	}
	answer, err := ToRRs(resp.GetAnswer())
	if err != nil {
		return nil, fmt.Errorf("answer section: %w", err)
	}
	ns, err := ToRRs(resp.GetAuthority())
	if err != nil {
		return nil, fmt.Errorf("authority section: %w", err)
	}
	extra, err := ToRRs(resp.GetAdditional())
	if err != nil {
		return nil, fmt.Errorf("additional section: %w", err)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Rcode = rcode
	m.Answer, m.Ns, m.Extra = answer, ns, extra
	return m, nil
}

// ToRRs converts a list of records; the first bad record fails the whole list.
func ToRRs(recs []*clusterdnsv1.ResourceRecord) ([]dns.RR, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]dns.RR, 0, len(recs))
	for i, rec := range recs {
		rr, err := ToRR(rec)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		out = append(out, rr)
	}
	return out, nil
}

// ToRR converts one record of class IN. A record without data, with an
// address of the wrong family, a malformed name or an out-of-range field is
// an error.
func ToRR(rec *clusterdnsv1.ResourceRecord) (dns.RR, error) {
	if rec == nil {
		return nil, errors.New("nil record")
	}
	owner, err := domainName(rec.GetName())
	if err != nil {
		return nil, fmt.Errorf("owner name: %w", err)
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: rec.GetTtl()}
	}
	switch d := rec.GetData().(type) {
	case *clusterdnsv1.ResourceRecord_A:
		ip, err := netip.ParseAddr(d.A.GetAddress())
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("A %s: bad IPv4 address %q", owner, d.A.GetAddress())
		}
		b := ip.As4()
		return &dns.A{Hdr: hdr(dns.TypeA), A: b[:]}, nil
	case *clusterdnsv1.ResourceRecord_Aaaa:
		ip, err := netip.ParseAddr(d.Aaaa.GetAddress())
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return nil, fmt.Errorf("AAAA %s: bad IPv6 address %q", owner, d.Aaaa.GetAddress())
		}
		b := ip.As16()
		return &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: b[:]}, nil
	case *clusterdnsv1.ResourceRecord_Srv:
		target, err := domainName(d.Srv.GetTarget())
		if err != nil {
			return nil, fmt.Errorf("SRV %s target: %w", owner, err)
		}
		prio, weight, port := d.Srv.GetPriority(), d.Srv.GetWeight(), d.Srv.GetPort()
		if prio > math.MaxUint16 || weight > math.MaxUint16 || port > math.MaxUint16 {
			return nil, fmt.Errorf("SRV %s: priority %d, weight %d or port %d over 65535", owner, prio, weight, port)
		}
		return &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: uint16(prio), Weight: uint16(weight), Port: uint16(port), Target: target}, nil
	case *clusterdnsv1.ResourceRecord_Ptr:
		target, err := domainName(d.Ptr.GetTarget())
		if err != nil {
			return nil, fmt.Errorf("PTR %s target: %w", owner, err)
		}
		return &dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: target}, nil
	case *clusterdnsv1.ResourceRecord_Cname:
		target, err := domainName(d.Cname.GetTarget())
		if err != nil {
			return nil, fmt.Errorf("CNAME %s target: %w", owner, err)
		}
		return &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: target}, nil
	case *clusterdnsv1.ResourceRecord_Ns:
		target, err := domainName(d.Ns.GetTarget())
		if err != nil {
			return nil, fmt.Errorf("NS %s target: %w", owner, err)
		}
		return &dns.NS{Hdr: hdr(dns.TypeNS), Ns: target}, nil
	case *clusterdnsv1.ResourceRecord_Txt:
		values := d.Txt.GetValues()
		if len(values) == 0 {
			return nil, fmt.Errorf("TXT %s: no strings", owner)
		}
		txt := make([]string, len(values))
		for i, v := range values {
			if len(v) > 255 {
				return nil, fmt.Errorf("TXT %s: string %d is %d bytes, over 255", owner, i, len(v))
			}
			txt[i] = escapeTXT(v)
		}
		return &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: txt}, nil
	case *clusterdnsv1.ResourceRecord_Soa:
		mname, err := domainName(d.Soa.GetMname())
		if err != nil {
			return nil, fmt.Errorf("SOA %s mname: %w", owner, err)
		}
		rname, err := domainName(d.Soa.GetRname())
		if err != nil {
			return nil, fmt.Errorf("SOA %s rname: %w", owner, err)
		}
		return &dns.SOA{
			Hdr: hdr(dns.TypeSOA), Ns: mname, Mbox: rname,
			Serial: d.Soa.GetSerial(), Refresh: d.Soa.GetRefresh(), Retry: d.Soa.GetRetry(),
			Expire: d.Soa.GetExpire(), Minttl: d.Soa.GetMinimum(),
		}, nil
	case nil:
		return nil, fmt.Errorf("record %s has no data", owner)
	default:
		return nil, fmt.Errorf("record %s has unsupported data %T", owner, d)
	}
}

// domainName checks a name in presentation form and makes it fully
// qualified, in miekg/dns's canonical presentation (a byte that needs an
// escape, such as a space, gets one), so that it reads the same as the name
// unpacked from the wire.
func domainName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("malformed name %q", name)
	}
	name = dns.Fqdn(name)
	if plainName(name) {
		return name, nil
	}
	var buf [256]byte
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("malformed name %q: %w", name, err)
	}
	canonical, _, err := dns.UnpackDomainName(buf[:n], 0)
	if err != nil {
		return "", fmt.Errorf("malformed name %q: %w", name, err)
	}
	return canonical, nil
}

// plainName reports whether name holds only letters, digits, hyphens,
// underscores, asterisks and single dots between labels: a presentation
// form that needs no normalising.
func plainName(name string) bool {
	prevDot := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if prevDot && len(name) > 1 {
				return false
			}
			prevDot = true
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '*':
		default:
			return false
		}
		prevDot = false
	}
	return true
}

// escapeTXT turns raw TXT bytes into miekg/dns's presentation form, in which
// a backslash, a quote and non-printable bytes are escaped (\\, \", \DDD), so
// that packing the record yields exactly the raw bytes.
func escapeTXT(raw string) string {
	plain := true
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < ' ' || c > '~' || c == '\\' || c == '"' {
			plain = false
			break
		}
	}
	if plain {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
