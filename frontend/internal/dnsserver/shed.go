package dnsserver

import (
	"encoding/binary"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// shedRaw builds, in dst, the REFUSED answer to a UDP query the read loop
// sheds (admission.go): the bytes the general path would send for REFUSED
// to the same query. parsed tells that s holds the query as parseRaw read
// it, which spares unpacking it. ok is false when the message gets no
// answer (it does not unpack, or is itself a response); the query is
// counted shed either way.
func (h *Handler) shedRaw(dst, m []byte, parsed bool, s *hitScratch) (out []byte, ok bool) {
	h.metrics.shed(shedDispatch)
	if !parsed && !parseRaw(m, s) {
		return h.shedUnpacked(dst, m)
	}
	q := &s.q
	flags := uint16(flagQR|dns.RcodeRefused) | q.flags&(flagRD|flagCD)
	if h.forwarder != nil {
		flags |= flagRA
	}
	var arcount uint16
	if q.edns {
		arcount = 1
	}
	out = dst[:0]
	out = binary.BigEndian.AppendUint16(out, q.id)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = append(out, 0, 1, 0, 0, 0, 0, byte(arcount>>8), byte(arcount))
	out = append(out, q.qname...)
	out = binary.BigEndian.AppendUint16(out, q.qtype)
	out = binary.BigEndian.AppendUint16(out, q.qclass)
	if q.edns {
		var do byte
		if q.do {
			do = 0x80
		}
		out = append(out, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(h.bufSize>>8), byte(h.bufSize), 0, 0, do, 0, 0, 0)
	}
	h.metrics.request(q.qtype, clusterdnsv1.Transport_TRANSPORT_UDP, dns.RcodeRefused, 0)
	return out, true
}

// shedUnpacked is shedRaw for a query parseRaw does not read (EDNS
// options, escaped names, more records): it is unpacked and answered as
// the general path answers REFUSED.
func (h *Handler) shedUnpacked(dst, m []byte) ([]byte, bool) {
	req := new(dns.Msg)
	if err := req.Unpack(m); err != nil || req.Response || len(req.Question) != 1 {
		return nil, false
	}
	resp := h.rcode(req, dns.RcodeRefused)
	h.finish(req, resp, clusterdnsv1.Transport_TRANSPORT_UDP)
	out, err := resp.PackBuffer(dst[:cap(dst)])
	if err != nil {
		return nil, false
	}
	h.metrics.request(req.Question[0].Qtype, clusterdnsv1.Transport_TRANSPORT_UDP, dns.RcodeRefused, 0)
	return out, true
}
