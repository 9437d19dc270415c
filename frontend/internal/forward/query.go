package forward

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// outQuery is a query packed once for all its attempts: each attempt writes a new ID into the wire form,
// which has room in front for the two-byte length that TCP and TLS need.
type outQuery struct {
	framed   []byte       // length prefix followed by the message
	question dns.Question // what a reply must echo (name compared case-insensitively)
}

// queryBufSize fits a query with the longest name, its OPT record and a few more additional records, so
// packing does not grow the buffer.
const queryBufSize = 2 + 512

// newUpstreamQuery packs what Forward sends for req: req's header (QR cleared) and sections, its additional
// records except the OPT record, then req's OPT record without options (EDNS options are hop by hop, RFC
// 6891 section 6.1.1), or one advertising DefaultUDPSize when req has none. Nothing of req is copied or
// changed: the records are packed straight from it.
func newUpstreamQuery(req *dns.Msg) (*outQuery, error) {
	m := dns.Msg{MsgHdr: req.MsgHdr, Question: req.Question, Answer: req.Answer, Ns: req.Ns}
	m.Response = false
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: DefaultUDPSize}}
	m.Extra = make([]dns.RR, 0, len(req.Extra)+1)
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			// The client's UDP size, extended rcode, version and flags (DO) go upstream; its options do not.
			opt.Hdr = o.Hdr
			opt.Hdr.Rdlength = 0
			continue
		}
		m.Extra = append(m.Extra, rr)
	}
	m.Extra = append(m.Extra, opt)
	return packQuery(&m)
}

// packQuery packs m, which has exactly one question, as it is.
func packQuery(m *dns.Msg) (*outQuery, error) {
	if len(m.Question) != 1 {
		return nil, fmt.Errorf("pack query: want exactly one question, got %d", len(m.Question))
	}
	buf := make([]byte, queryBufSize)
	wire, err := m.PackBuffer(buf[2:])
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	if len(wire) > dns.MaxMsgSize-2 {
		return nil, fmt.Errorf("pack query: %d bytes", len(wire))
	}
	framed := buf[:2+len(wire)]
	if &wire[0] != &buf[2] {
		// PackBuffer outgrew buf and packed elsewhere.
		framed = append(make([]byte, 2, 2+len(wire)), wire...)
	}
	binary.BigEndian.PutUint16(framed, uint16(len(wire)))
	return &outQuery{framed: framed, question: m.Question[0]}, nil
}

// wire is the message as sent over UDP.
func (q *outQuery) wire() []byte { return q.framed[2:] }

// id is the ID the query carries now.
func (q *outQuery) id() uint16 { return binary.BigEndian.Uint16(q.framed[2:]) }

// setID gives the query a new ID, for its next attempt.
func (q *outQuery) setID(id uint16) { binary.BigEndian.PutUint16(q.framed[2:], id) }

// headerMatches reports whether the datagram b may be the reply to the query: a DNS header with the
// query's ID and QR set. It spares unpacking datagrams that cannot match.
func (q *outQuery) headerMatches(b []byte) bool {
	return len(b) >= 12 && binary.BigEndian.Uint16(b) == q.id() && b[2]&0x80 != 0
}

// matches reports whether reply answers the query: same ID, QR set, and the same single question (name
// compared case-insensitively, type and class exactly).
func (q *outQuery) matches(reply *dns.Msg) bool {
	if reply.Id != q.id() || !reply.Response || len(reply.Question) != 1 {
		return false
	}
	r := reply.Question[0]
	return r.Qtype == q.question.Qtype && r.Qclass == q.question.Qclass && strings.EqualFold(r.Name, q.question.Name)
}
