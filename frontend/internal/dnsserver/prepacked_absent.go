package dnsserver

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
)

// A directory (dnscache's namespace list of Services) answers NXDOMAIN for
// every name below its apex that it proves absent, most of them asked once:
// a random-subdomain flood, or the first search-path expansion of each
// external name. Their replies differ only in the question, so the hot path
// packs a directory's reply once, for the first name it answers, and moves
// it for each other name: the question is replaced and the compression
// pointers after it, which point into the apex part of the question name or
// past the question, shift with the name's length. A reply whose pointers
// point elsewhere in the question cannot move and takes the general path,
// as do names not in lower case (the reply is packed for a lower-case one).

// absentTemplate is a directory's reply packed for one name below its apex,
// with the offsets of the compression pointers after the question. w is nil
// when the reply cannot be moved to another name.
type absentTemplate struct {
	w    *wireAnswer
	ptrs []int
}

// absentWire returns the wire form of the reply to s.q, a question of the
// record service without an entry of its own, from the directory that
// proves its name absent, moved to the name in s.out; false when there is
// none or the hot path cannot answer from it. key is the question's key identity, which
// must not change before the hit is served.
func (h *Handler) absentWire(s *hitScratch, key []byte, now time.Time) (dnscache.Hit, *wireAnswer, bool) {
	q := &s.q
	if !bytes.Equal(q.text, q.lower) {
		return dnscache.Hit{}, nil, false
	}
	hit, ok := h.cache.PeekAbsent(key, now)
	if !ok {
		return dnscache.Hit{}, nil, false
	}
	t, _ := hit.Attached().(*absentTemplate)
	if t == nil {
		t, _ = hit.Attach(h.packAbsent(hit, q)).(*absentTemplate)
		if t == nil {
			return dnscache.Hit{}, nil, false
		}
	}
	if t.w == nil {
		return dnscache.Hit{}, nil, false
	}
	ref := t.w
	delta := len(q.qname) - len(ref.qname)
	msg := append(s.out[:0], ref.msg[:12]...)
	msg = append(msg, q.qname...)
	msg = append(msg, ref.msg[12+len(ref.qname):]...)
	binary.BigEndian.PutUint16(msg[12+len(q.qname):], q.qtype)
	for _, p := range t.ptrs {
		target := int(binary.BigEndian.Uint16(ref.msg[p:])&0x3FFF) + delta
		if target >= 0x4000 {
			return dnscache.Hit{}, nil, false
		}
		binary.BigEndian.PutUint16(msg[p+delta:], 0xC000|uint16(target))
	}
	s.moved = wireAnswer{msg: msg, qname: msg[12 : 12+len(q.qname)], plainLen: ref.plainLen + delta}
	return hit, &s.moved, true
}

// packAbsent packs the directory's reply for q, whose name is in lower
// case, and finds its compression pointers: an absentTemplate with a nil
// wire form when the reply has records in its answer or additional
// section, authority records other than an SOA, or a pointer the template
// cannot move. A directory answers only while exact, so its TTLs never age.
func (h *Handler) packAbsent(hit dnscache.Hit, q *hitQuery) *absentTemplate {
	none := &absentTemplate{}
	w := h.packWire(hit, q)
	if w.msg == nil || w.rotN > 0 {
		return none
	}
	// miekg/dns compresses each name against the longest suffix packed
	// before it: a name of the SOA below the apex could match more of one
	// question name than of another.
	r, ok := hit.Response(string(q.text))
	if !ok {
		return none
	}
	apex := hit.AbsentApex()
	for _, rr := range r.Ns {
		soa, isSOA := rr.(*dns.SOA)
		if !isSOA {
			return none
		}
		for _, name := range []string{soa.Hdr.Name, soa.Ns, soa.Mbox} {
			if n := strings.ToLower(name); n != apex && dns.IsSubDomain(apex, n) {
				return none
			}
		}
	}
	msg := w.msg
	if an, ar := binary.BigEndian.Uint16(msg[6:]), binary.BigEndian.Uint16(msg[10:]); an != 0 || ar != 0 {
		return none
	}
	end := 12 + len(w.qname)
	// Pointers may point into the apex part of the question name, which
	// every name the directory answers ends with, or past the question.
	apexStart := end - (len(apex) + 1)
	if apexStart <= 12 {
		return none
	}
	t := &absentTemplate{w: w}
	off := end + 4
	for range binary.BigEndian.Uint16(msg[8:]) {
		// An SOA: owner, type, class, TTL and rdlength, then two names
		// and five 32-bit numbers.
		if off, ok = t.name(msg, off, apexStart, end); !ok || off+10 > len(msg) || binary.BigEndian.Uint16(msg[off:]) != dns.TypeSOA {
			return none
		}
		rdEnd := off + 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		for range 2 {
			if off, ok = t.name(msg, off, apexStart, end); !ok {
				return none
			}
		}
		if off+20 != rdEnd {
			return none
		}
		off = rdEnd
	}
	if off != len(msg) {
		return none
	}
	return t
}

// name follows the name at off, recording its compression pointer, and
// returns the offset after it; false when the name runs out of msg or its
// pointer points into the question before apexStart or into the
// question's type and class.
func (t *absentTemplate) name(msg []byte, off, apexStart, qEnd int) (int, bool) {
	next, ptr := walkName(msg, off)
	if next < 0 {
		return 0, false
	}
	if ptr >= 0 {
		target := int(binary.BigEndian.Uint16(msg[ptr:]) & 0x3FFF)
		if target < apexStart || target >= qEnd && target < qEnd+4 || target >= ptr {
			return 0, false
		}
		t.ptrs = append(t.ptrs, ptr)
	}
	return next, true
}
