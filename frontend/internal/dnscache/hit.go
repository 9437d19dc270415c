package dnscache

import (
	"time"
	"unsafe"
)

// Hit is an entry Peek found servable: a read-only view that copies
// nothing.
type Hit struct {
	c   *Cache
	e   *entry
	age uint32
	// absentID is the question a directory answers (PeekAbsent), empty
	// for an entry of the question's own.
	absentID string
}

// AppendKeyID appends to dst the identity of the key NewKey builds for a
// question answered by the record service, without allocating. lowerName
// must be the query name in lower case, fully qualified, in the text form
// miekg/dns gives it.
func AppendKeyID(dst, lowerName []byte, qtype, qclass uint16, do bool) []byte {
	dst = append(dst, lowerName...)
	dst = append(dst, byte(qtype>>8), byte(qtype), byte(qclass>>8), byte(qclass))
	var flags byte
	if do {
		flags |= keyDO
	}
	return append(dst, flags)
}

// AppendForwardKeyID is AppendKeyID for a question answered by the
// upstreams: the identity of the key NewForwardKey builds.
func AppendForwardKeyID(dst, lowerName []byte, qtype, qclass uint16, do bool) []byte {
	dst = AppendKeyID(dst, lowerName, qtype, qclass, do)
	dst[len(dst)-1] |= keyForward
	return dst
}

// Peek finds the entry Get would serve for the key whose identity is id
// (AppendKeyID), without copying it and without counting a hit or a miss:
// the caller calls Hit.Served when it answers from the entry, and otherwise
// goes on through Get, which counts. now is the current time, which saves
// the cache reading the clock (ignored when Config.Now was given).
func (c *Cache) Peek(id []byte, now time.Time) (Hit, bool) {
	if len(id) == 0 {
		return Hit{}, false
	}
	// The string only lives for the lookup: ristretto hashes it and the
	// entry's own id is compared with it; neither keeps it.
	e, age, ok := c.servable(unsafe.String(&id[0], len(id)), now)
	if !ok {
		return Hit{}, false
	}
	return Hit{c: c, e: e, age: age}, true
}

// Served counts the hit; for a directory's answer (PeekAbsent) it also
// counts that and records the question as answered by a directory.
func (h Hit) Served() {
	h.c.hits.Add(1)
	if h.absentID != "" {
		h.c.absent.Add(1)
		h.c.askedBefore.seen(h.absentID)
	}
}

// AbsentApex returns the apex of the directory whose answer the hit is
// (PeekAbsent): every name it answers lies below it. It is empty for an
// entry of the question's own.
func (h Hit) AbsentApex() string {
	if h.absentID == "" {
		return ""
	}
	return h.e.id[:len(h.e.id)-len(keyTail{})]
}

// Age is how many seconds to take off the record TTLs the entry was
// stored with (0 for an exact entry).
func (h Hit) Age() uint32 { return h.age }

// NotAuthoritative reports whether the entry is the record service's
// verdict that the upstreams answer the name.
func (h Hit) NotAuthoritative() bool { return h.e.notAuth }

// Truncated reports whether the entry's answer was cut to fit a DNS
// message (the reply carries TC).
func (h Hit) Truncated() bool { return h.e.tc }

// Rcode is the response code of the entry.
func (h Hit) Rcode() int { return int(h.e.rcode) }

// Response returns copies of the entry's records as Get returns them for
// a query named name, with the TTLs the entry was stored with; false when
// its records do not unpack.
func (h Hit) Response(name string) (Response, bool) { return h.e.response(name, 0) }

// Attached returns what Attach stored on the entry, nil when nothing.
func (h Hit) Attached() any {
	if p := h.e.attached.Load(); p != nil {
		return *p
	}
	return nil
}

// Attach stores v on the entry unless something is attached already, and
// returns what is attached now. The value lives as long as the entry.
func (h Hit) Attach(v any) any {
	if h.e.attached.CompareAndSwap(nil, &v) {
		return v
	}
	return *h.e.attached.Load()
}
