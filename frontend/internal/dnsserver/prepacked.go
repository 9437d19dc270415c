package dnsserver

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// The hot path: a cache hit for a record-service question, or for a name
// outside the record zones that the upstreams answered, is answered from a
// wire form of the reply packed once per cache entry (and per letter case
// of the query name: the lower-case form and the last other one), into
// which each query patches its ID, RD and CD bits, the TTLs (for entries
// that age) and an OPT record, and whose A or AAAA records it rotates. The
// wire form is exactly what the general path would pack for the same query:
// whenever anything else would apply (an answer the general path would chase
// upstream or truncate, a rotation the layout does not allow, a debug log or
// the query log, a question with other characters than letters, digits, '-'
// and '_'), the query takes the general path.

// Header flag bits.
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagCD = 1 << 4
)

// optLen is the length of the OPT record the server adds: root owner,
// type, class (UDP size), TTL (extended rcode, version, flags), rdlength.
const optLen = 11

// wireAnswer is the reply to one question, packed for one letter case of
// the query name with ID 0, RD and CD clear and no OPT record.
type wireAnswer struct {
	// msg is nil when the entry cannot be served from its wire form.
	msg []byte
	// qname is the question name in wire form (msg[12:12+len(qname)]).
	qname []byte
	// plainLen is the uncompressed length, which the general path's
	// truncation compares with the client's limit.
	plainLen int
	// ttls are the offsets of the record TTLs, with the TTLs packed there.
	ttls []ttlField
	// rotStart, rotChunk and rotN describe the answer records to rotate:
	// rotN records of rotChunk bytes each from rotStart; rotN < 2: none.
	rotStart, rotChunk, rotN int
}

type ttlField struct {
	off int
	ttl uint32
}

// wireSet is attached to a cache entry: its wire forms for the lower-case
// query name and for the last other letter case asked.
type wireSet struct {
	lower, other atomic.Pointer[wireAnswer]
}

// hitQuery is what the hot path needs of a query.
type hitQuery struct {
	id      uint16
	flags   uint16 // the query's header flags
	qname   []byte // wire form, as asked
	qtype   uint16
	qclass  uint16
	edns    bool
	do      bool
	udpSize uint16
	tcp     bool
	// text and lower are the name in text form, as asked and in lower case.
	text, lower []byte
	// forward is set by packHit for a name outside the record zones, whose
	// cache entry holds the upstreams' answer.
	forward bool
}

// hitScratch holds the buffers one goroutine reuses for the hot path.
type hitScratch struct {
	q    hitQuery
	text [256]byte
	low  [256]byte
	wire [256]byte
	key  [300]byte
	out  []byte
	// moved is a directory's reply moved to the query's name, in out
	// (absentWire).
	moved wireAnswer
}

// fastEnabled reports whether the hot path may answer: with a cache, and
// without the logs the general path writes for each query, and without
// hosts entries, static zones or rewrites, which come before the cache.
func (h *Handler) fastEnabled() bool {
	return h.cache != nil && !h.queryLog && !h.log.Enabled(h.ctx, slog.LevelDebug) && h.local.Load() == nil
}

// parseRaw reads a query's header, question and OPT record from its wire
// form into s.q. It reports false for anything but a plain query with one
// question of letters, digits, '-' and '_' and at most an OPT record
// without options (of version 0): those take the general path, which
// unpacks them fully.
func parseRaw(m []byte, s *hitScratch) bool {
	if len(m) < 12+1+4 {
		return false
	}
	flags := binary.BigEndian.Uint16(m[2:])
	if flags&flagQR != 0 || (flags>>11)&0xF != dns.OpcodeQuery {
		return false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(m[4:]), binary.BigEndian.Uint16(m[6:]), binary.BigEndian.Uint16(m[8:]), binary.BigEndian.Uint16(m[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return false
	}
	// The text form of a name of plain labels is its wire form without the
	// first length byte, the other length bytes turned into dots: at most
	// 254 bytes.
	off, n := 12, 0
	for {
		if off >= len(m) {
			return false
		}
		l := int(m[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || off+1+l > len(m) || n+l+1 > 254 {
			return false
		}
		for _, c := range m[off+1 : off+1+l] {
			if !plainNameByte(c) {
				return false
			}
			s.text[n] = c
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			s.low[n] = c
			n++
		}
		s.text[n], s.low[n] = '.', '.'
		n++
		off += 1 + l
	}
	if n == 0 || off+4 > len(m) {
		return false
	}
	text := s.text[:n]
	q := &s.q
	*q = hitQuery{
		id:     binary.BigEndian.Uint16(m[0:]),
		flags:  flags,
		qname:  m[12:off],
		qtype:  binary.BigEndian.Uint16(m[off:]),
		qclass: binary.BigEndian.Uint16(m[off+2:]),
		text:   text,
	}
	off += 4
	if ar == 1 {
		if off+optLen != len(m) || m[off] != 0 || binary.BigEndian.Uint16(m[off+1:]) != dns.TypeOPT {
			return false
		}
		// TTL: extended rcode, version, flags; then rdlength.
		if m[off+6] != 0 || binary.BigEndian.Uint16(m[off+9:]) != 0 {
			return false
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(m[off+3:])
		q.do = m[off+7]&0x80 != 0
		off += optLen
	}
	if off != len(m) {
		return false
	}
	q.lower = s.low[:n]
	return true
}

// parseMsg fills s.q from an unpacked query, reporting false for anything
// the hot path does not answer (see parseRaw).
func parseMsg(req *dns.Msg, tcp bool, s *hitScratch) bool {
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 || len(req.Answer) != 0 || len(req.Ns) != 0 || len(req.Extra) > 1 {
		return false
	}
	q := req.Question[0]
	name := q.Name
	if len(name) < 2 || len(name) > 254 || name[len(name)-1] != '.' {
		return false
	}
	wire := s.wire[:0]
	start := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '.' {
			l := i - start
			if l == 0 || l > 63 {
				return false
			}
			wire = append(wire, byte(l))
			wire = append(wire, name[start:i]...)
			start = i + 1
			continue
		}
		if !plainNameByte(c) {
			return false
		}
	}
	wire = append(wire, 0)
	s.q = hitQuery{
		id:     req.Id,
		qname:  wire,
		qtype:  q.Qtype,
		qclass: q.Qclass,
		tcp:    tcp,
		text:   append(s.text[:0], name...),
	}
	if req.RecursionDesired {
		s.q.flags |= flagRD
	}
	if req.CheckingDisabled {
		s.q.flags |= flagCD
	}
	if len(req.Extra) == 1 {
		o, ok := req.Extra[0].(*dns.OPT)
		if !ok || o.Hdr.Name != "." || o.Version() != 0 {
			return false
		}
		s.q.edns, s.q.udpSize, s.q.do = true, o.UDPSize(), o.Do()
	}
	s.q.lower = lowerInto(s.low[:0], s.q.text)
	return true
}

// plainNameByte reports whether c may appear in a label the hot path
// answers: its text form needs no escaping.
func plainNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func lowerInto(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// inRecordZonesLower is inRecordZones for a lower-case fully qualified name
// of plain labels.
func (h *Handler) inRecordZonesLower(name []byte) bool {
	for _, zone := range [...]string{h.zone, reverseV4, reverseV6, clustersetZone} {
		if len(name) == len(zone) && string(name) == zone {
			return true
		}
		if len(name) > len(zone) && string(name[len(name)-len(zone):]) == zone && name[len(name)-len(zone)-1] == '.' {
			return true
		}
	}
	return false
}

// packHit answers s.q from the cache when the hot path can, appending the
// reply to s.out[:0]. It reports false, having changed nothing that the
// general path would see, when the query must take the general path.
func (h *Handler) packHit(s *hitScratch, now time.Time) ([]byte, int, bool) {
	q := &s.q
	if q.qclass != dns.ClassINET || q.qtype == dns.TypeAXFR || q.qtype == dns.TypeIXFR {
		return nil, 0, false
	}
	// The general path serves an upstream answer from the cache only to a
	// query without CD (upstream).
	q.forward = !h.inRecordZonesLower(q.lower)
	if q.forward && (h.forwarder == nil || q.flags&flagCD != 0) {
		return nil, 0, false
	}
	key := dnscache.AppendKeyID(s.key[:0], q.lower, q.qtype, q.qclass, q.do)
	if q.forward {
		key = dnscache.AppendForwardKeyID(s.key[:0], q.lower, q.qtype, q.qclass, q.do)
	}
	hit, ok := h.cache.Peek(key, now)
	var w *wireAnswer
	// moved tells that w is already in s.out, for this query's name.
	moved := false
	switch {
	case ok && hit.NotAuthoritative():
		// A verdict for the upstreams is served by the general path.
		return nil, 0, false
	case ok:
		w = h.wireFor(hit, q)
	case !q.forward:
		// No entry of its own: a directory may prove the name absent.
		if hit, w, ok = h.absentWire(s, key, now); !ok {
			return nil, 0, false
		}
		moved = true
	}
	if w == nil || w.msg == nil {
		return nil, 0, false
	}
	limit := dns.MaxMsgSize
	if !q.tcp {
		limit = dns.MinMsgSize
		if q.edns {
			limit = int(min(max(q.udpSize, dns.MinMsgSize), h.maxUDP))
		}
	}
	size := w.plainLen
	if q.edns {
		size += optLen
	}
	if size > limit {
		return nil, 0, false
	}
	if h.loop != nil && h.loopSeen(q.text) {
		// The general path asks again and answers the loop.
		return nil, 0, false
	}
	hit.Served()
	out := w.msg
	if !moved {
		out = append(s.out[:0], w.msg...)
	}
	binary.BigEndian.PutUint16(out[0:], q.id)
	flags := binary.BigEndian.Uint16(out[2:]) | q.flags&(flagRD|flagCD)
	binary.BigEndian.PutUint16(out[2:], flags)
	if age := hit.Age(); age > 0 {
		for _, f := range w.ttls {
			binary.BigEndian.PutUint32(out[f.off:], f.ttl-min(age, f.ttl))
		}
	}
	if w.rotN >= 2 {
		if shift := int(h.rotation.Add(1) % uint32(w.rotN)); shift != 0 {
			rotateLeft(out[w.rotStart:w.rotStart+w.rotN*w.rotChunk], shift*w.rotChunk)
		}
	}
	if q.edns {
		var ttl byte
		if q.do {
			ttl = 0x80
		}
		out = append(out, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(h.bufSize>>8), byte(h.bufSize), 0, 0, ttl, 0, 0, 0)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	s.out = out
	return out, hit.Rcode(), true
}

// loopSeen shows the query name to the LoopDetector. forward's detector
// keeps nothing of the name, so it gets a view of the buffer; others get a
// copy.
func (h *Handler) loopSeen(text []byte) bool {
	if d, ok := h.loop.(*forward.LoopDetector); ok {
		return d.Seen(unsafe.String(&text[0], len(text)))
	}
	return h.loop.Seen(string(text))
}

// rotateLeft turns b left by k bytes in place.
func rotateLeft(b []byte, k int) {
	reverse(b[:k])
	reverse(b[k:])
	reverse(b)
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// wireFor returns the entry's wire form for the letter case of q's name,
// packing it when there is none yet.
func (h *Handler) wireFor(hit dnscache.Hit, q *hitQuery) *wireAnswer {
	set, _ := hit.Attached().(*wireSet)
	if set == nil {
		set, _ = hit.Attach(new(wireSet)).(*wireSet)
		if set == nil {
			return nil
		}
	}
	lower := bytes.Equal(q.text, q.lower)
	slot := &set.other
	if lower {
		slot = &set.lower
	}
	if w := slot.Load(); w != nil && bytes.Equal(w.qname, q.qname) {
		return w
	}
	w := h.packWire(hit, q)
	slot.Store(w)
	return w
}

// packWire packs the reply the general path gives a cache hit for q's name,
// type and class, with ID 0, RD and CD clear and no OPT record, and finds
// its TTLs and rotatable records. The wire form has a nil msg when the
// general path would do more than that: chase a CNAME upstream, or rotate
// records whose wire form does not allow turning them as blocks.
func (h *Handler) packWire(hit dnscache.Hit, q *hitQuery) *wireAnswer {
	name := string(q.text)
	none := &wireAnswer{qname: bytes.Clone(q.qname)}
	r, ok := hit.Response(name)
	if !ok {
		return none
	}
	m := new(dns.Msg)
	m.Response = true
	m.Opcode = dns.OpcodeQuery
	// An upstream answer is not ours: no AA, and its AD bit (upstream).
	m.Authoritative = !q.forward
	m.RecursionAvailable = h.forwarder != nil
	if q.forward {
		m.AuthenticatedData = r.AuthenticatedData
	}
	m.Rcode = r.Rcode
	m.Truncated = r.Truncated
	m.Question = []dns.Question{{Name: name, Qtype: q.qtype, Qclass: q.qclass}}
	m.Answer, m.Ns, m.Extra = r.Answer, r.Ns, r.Extra
	if !q.forward && h.forwarder != nil && m.Rcode == dns.RcodeSuccess && h.chaseTarget(m, m.Question[0]) != "" {
		return none
	}
	if m.Rcode > 0xF {
		return none
	}
	plain := m.Len()
	m.Compress = true
	msg, err := m.Pack()
	if err != nil || !bytes.Equal(msg[12:12+len(q.qname)], q.qname) {
		return none
	}
	w := &wireAnswer{msg: msg, qname: msg[12 : 12+len(q.qname)], plainLen: plain}
	off := 12 + len(q.qname) + 4
	rotate := !r.Ordered && rotatable(m.Answer, q.qtype)
	counts := [3]int{len(m.Answer), len(m.Ns), len(m.Extra)}
	for section, n := range counts {
		for i := range n {
			start := off
			off = skipName(msg, off)
			if off < 0 || off+10 > len(msg) {
				return none
			}
			w.ttls = append(w.ttls, ttlField{off: off + 4, ttl: binary.BigEndian.Uint32(msg[off+4:])})
			off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
			if off > len(msg) {
				return none
			}
			if section != 0 || !rotate {
				continue
			}
			// Rotation turns whole records: each must be the same
			// length with its owner a pointer to the question name.
			chunk := off - start
			if i == 0 {
				w.rotStart, w.rotChunk = start, chunk
			}
			if chunk != w.rotChunk || msg[start] != 0xC0 || msg[start+1] != 12 {
				return none
			}
			w.rotN++
		}
	}
	if off != len(msg) {
		return none
	}
	return w
}

// rotatable reports whether rotate would turn answer for qtype.
func rotatable(answer []dns.RR, qtype uint16) bool {
	if len(answer) < 2 || (qtype != dns.TypeA && qtype != dns.TypeAAAA) {
		return false
	}
	for _, rr := range answer {
		if rr.Header().Rrtype != qtype {
			return false
		}
	}
	return true
}

// skipName returns the offset after the domain name at off, -1 when it
// runs out of msg.
func skipName(msg []byte, off int) int {
	next, _ := walkName(msg, off)
	return next
}

// walkName returns the offset after the domain name at off and the offset
// of the compression pointer that ends it (-1 when it ends in the root
// label); next is -1 when the name runs out of msg.
func walkName(msg []byte, off int) (next, ptr int) {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, -1
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return -1, -1
			}
			return off + 2, off
		case l&0xC0 != 0:
			return -1, -1
		}
		off += 1 + l
	}
	return -1, -1
}

// serveHit answers a query parsed into s from the cache when the hot path
// can, counting it like the general path, and returns the reply to write;
// it reports false when the query must take the general path.
func (h *Handler) serveHit(s *hitScratch, start time.Time) ([]byte, bool) {
	out, rcode, ok := h.packHit(s, start)
	if !ok {
		return nil, false
	}
	transport := clusterdnsv1.Transport_TRANSPORT_UDP
	if s.q.tcp {
		transport = clusterdnsv1.Transport_TRANSPORT_TCP
	}
	h.metrics.request(s.q.qtype, transport, rcode, time.Since(start))
	return out, true
}
