package dnscache

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"

	"github.com/miekg/dns"
)

// An entry keeps its records in wire form: each record packed as in a
// message without compression (owner name, type, class, TTL, rdlength,
// data), the answer section's first, then the authority and additional
// sections'. Get and the DNS server's first pack of a hit unpack them again.

// errTooManyRecords is a section of more records than a message counts.
var errTooManyRecords = errors.New("more than 65535 records in a section")

// packSections packs the records of the three sections but OPT records,
// into a slice with room for spare more bytes. With ttl above 0 every
// record gets ttl as its TTL (an upstream answer's lifetime) in the packed
// form; the records themselves are not changed.
func packSections(ttl uint32, spare int, sections ...[]dns.RR) ([]byte, [3]uint16, error) {
	var counts [3]uint16
	size := 0
	for _, section := range sections {
		for _, rr := range section {
			if keep(rr) {
				size += dns.Len(rr)
			}
		}
	}
	buf := make([]byte, size, size+spare)
	off := 0
	for i, section := range sections {
		for _, rr := range section {
			if !keep(rr) {
				continue
			}
			if counts[i] == math.MaxUint16 {
				return nil, counts, errTooManyRecords
			}
			next, err := packRR(rr, &buf, off)
			if err != nil {
				return nil, counts, err
			}
			if ttl > 0 {
				// The TTL follows the owner name, type and class.
				binary.BigEndian.PutUint32(buf[nameEnd(buf, off)+4:], ttl)
			}
			off = next
			counts[i]++
		}
	}
	return buf[:off], counts, nil
}

// packRR packs rr at off into *buf, growing it when dns.Len fell short.
func packRR(rr dns.RR, buf *[]byte, off int) (int, error) {
	for {
		next, err := dns.PackRR(rr, *buf, off, nil, false)
		if !errors.Is(err, dns.ErrBuf) {
			return next, err
		}
		grown := make([]byte, 2*len(*buf)+64, 2*cap(*buf)+64)
		copy(grown, (*buf)[:off])
		*buf = grown
	}
}

// keep reports whether a record is cached: OPT records never are.
func keep(rr dns.RR) bool {
	return rr != nil && rr.Header().Rrtype != dns.TypeOPT
}

// nameEnd returns the offset after the uncompressed name at off.
func nameEnd(msg []byte, off int) int {
	for off < len(msg) && msg[off] != 0 {
		off += 1 + int(msg[off])
	}
	return off + 1
}

// response unpacks the entry for a query named name, age seconds after it
// was stored: TTLs show the time left, and owner names equal to name but
// for letter case carry name's case. It reports false when the records do
// not unpack (never for records Set packed).
func (e *entry) response(name string, age uint32) (Response, bool) {
	r := Response{
		Rcode:             int(e.rcode),
		AuthenticatedData: e.ad,
		Truncated:         e.tc,
		NotAuthoritative:  e.notAuth,
		Ordered:           e.ordered,
		TTL:               e.ttl - min(age, e.ttl),
		Cluster:           e.cluster,
		Revision:          e.revision,
		ServerID:          e.serverID,
		Keys:              e.keys.slice(),
	}
	sections := [3]*[]dns.RR{&r.Answer, &r.Ns, &r.Extra}
	off := 0
	for i, n := range e.counts {
		if n == 0 {
			continue
		}
		rrs := make([]dns.RR, n)
		for j := range rrs {
			rr, next, err := unpackRecord(e.wire, off, name)
			if err != nil || rr == nil {
				return Response{}, false
			}
			h := rr.Header()
			h.Ttl -= min(age, h.Ttl)
			if h.Name != name && strings.EqualFold(h.Name, name) {
				h.Name = name
			}
			rrs[j], off = rr, next
		}
		*sections[i] = rrs
	}
	return r, true
}

// errShortRecord is a record that runs past the entry's records.
var errShortRecord = errors.New("record runs past the packed records")

// unpackRecord unpacks the record at off. An owner name equal to name but
// for letter case is given name itself rather than a string of its own:
// the usual record answers the question.
func unpackRecord(wire []byte, off int, name string) (dns.RR, int, error) {
	end, ok := ownerIs(wire, off, name)
	if !ok {
		return dns.UnpackRR(wire, off)
	}
	if end+10 > len(wire) {
		return nil, len(wire), errShortRecord
	}
	h := dns.RR_Header{
		Name:     name,
		Rrtype:   binary.BigEndian.Uint16(wire[end:]),
		Class:    binary.BigEndian.Uint16(wire[end+2:]),
		Ttl:      binary.BigEndian.Uint32(wire[end+4:]),
		Rdlength: binary.BigEndian.Uint16(wire[end+8:]),
	}
	rdEnd := end + 10 + int(h.Rdlength)
	if rdEnd > len(wire) {
		return nil, len(wire), errShortRecord
	}
	// As dns.UnpackRR does, the data is read from a slice that ends with
	// it.
	return dns.UnpackRRWithHeader(h, wire[:rdEnd], end+10)
}

// ownerIs reports whether the uncompressed name at off equals name, a fully
// qualified name in text form, ignoring letter case, and returns the offset
// after it. It reports false for labels whose text form would need escapes,
// which dns.UnpackRR reads.
func ownerIs(wire []byte, off int, name string) (int, bool) {
	i := 0
	if name == "." {
		return off + 1, off < len(wire) && wire[off] == 0
	}
	for off < len(wire) {
		l := int(wire[off])
		off++
		if l == 0 {
			return off, i == len(name)
		}
		if l > 63 || off+l > len(wire) || i+l >= len(name) || name[i+l] != '.' {
			return 0, false
		}
		for j, c := range wire[off : off+l] {
			if !plainLabelByte(c) || lower(c) != lower(name[i+j]) {
				return 0, false
			}
		}
		off += l
		i += l + 1
	}
	return 0, false
}

// plainLabelByte reports whether c stands for itself in a name's text form.
func plainLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
