package dnscache

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

// # Directories
//
// A random-subdomain flood, or every first lookup of an external name by a
// pod with ndots:5 (<name>.<namespace>.svc.<zone> comes first in its search
// list), asks names below a namespace that do not exist: each would be a
// miss and a round trip to the record service. The record service sends,
// with such an NXDOMAIN, the namespace's directory: the labels that exist
// right below <namespace>.svc.<zone> (its Services). A label not listed has
// no names below it, so the cache answers NXDOMAIN for it from the
// directory, the way RFC 8198 lets a resolver answer from an NSEC range.
//
// A directory is a cluster entry like any other: stored under a key of its
// own (its apex and keyAbsent), with the NXDOMAIN's SOA, TTL, revision and
// keys, and the namespace's services key, which the record service
// announces when a Service is created or deleted there. So it is dropped by
// a Resync and never outlives a change that adds a label. Unlike other
// entries it answers only while it is exact: while the Watch stream is
// down, names it would prove absent go to the record service.

// maxAbsentSuffixes bounds the zones (the part of an apex after the
// namespace, ".svc.<zone>.") absentAnswer looks for directories in. A frontend
// serves one cluster zone, so one is the usual number.
const maxAbsentSuffixes = 4

// absentSuffixes is the list of zones directories have been stored for,
// each with its leading dot. It only grows, up to maxAbsentSuffixes.
type absentSuffixes struct {
	list atomic.Pointer[[]string]
}

func (a *absentSuffixes) load() []string {
	if p := a.list.Load(); p != nil {
		return *p
	}
	return nil
}

// add records suffix unless it is known or the list is full. Callers hold
// Cache.mu, so adds do not race each other.
func (a *absentSuffixes) add(suffix string) {
	old := a.load()
	if slices.Contains(old, suffix) || len(old) >= maxAbsentSuffixes {
		return
	}
	list := append(slices.Clone(old), suffix)
	a.list.Store(&list)
}

// newAbsentKey is the key of the directory of apex.
func newAbsentKey(apex string) Key {
	tail := keyTail{0, 0, 0, 0, keyAbsent}
	return Key{id: apex + string(tail[:]), name: apex}
}

// SetAbsent stores the directory the record service sent with r, its
// NXDOMAIN answer to name: the sorted, lower-case labels that exist right
// below apex ("<namespace>.svc.<zone>."), which depend on keys besides
// r.Keys. It is ignored unless r is an NXDOMAIN cluster answer with an SOA,
// apex is lower case with at least three labels, name lies below apex,
// labels are sorted and name's label right below apex is not among them.
// The cache keeps labels, which the caller must not change.
func (c *Cache) SetAbsent(fill Fill, name, apex string, labels, keys []string, r Response) bool {
	if !r.Cluster || r.Rcode != dns.RcodeNameError || len(r.Ns) == 0 || r.NotAuthoritative {
		return false
	}
	dot := strings.IndexByte(apex, '.')
	if dot <= 0 || dns.CountLabel(apex) < 3 || apex != strings.ToLower(dns.Fqdn(apex)) || strings.IndexByte(apex, '\\') >= 0 {
		return false
	}
	label, ok := labelBelow(strings.ToLower(name), apex)
	if !ok || !slices.IsSorted(labels) {
		return false
	}
	if _, found := slices.BinarySearch(labels, label); found {
		return false
	}
	r.Answer, r.Extra, r.Truncated, r.Ordered = nil, nil, false, false
	r.Keys = append(slices.Clip(r.Keys), keys...)
	if !c.set(newAbsentKey(apex), fill, r, labels) {
		return false
	}
	c.mu.Lock()
	c.absentZones.add(apex[dot:])
	c.mu.Unlock()
	return true
}

// absentAnswer returns the NXDOMAIN answer to k, a question of the record
// service of class IN, that a stored directory proves: its name lies below
// a directory's apex and its label right below the apex is not listed. The
// records are copies, with TTLs as Get shows them.
func (c *Cache) absentAnswer(k Key) (Response, bool) {
	e, ok := c.directoryFor(k.id, time.Time{})
	if !ok {
		return Response{}, false
	}
	r, ok := e.response(k.name, 0)
	if !ok {
		return Response{}, false
	}
	c.absent.Add(1)
	// A name asked again (a pod's search-path expansions) is also kept
	// under its own key, with the directory's keys and revision: it is
	// then an ordinary hit, which the DNS server serves from its
	// pre-packed wire form. Not on the first ask: a flood of names asked
	// once would cost an entry each and evict what is asked often.
	if c.askedBefore.seen(k.id) {
		c.set(k, c.Begin(), r, nil)
	}
	return r, true
}

// PeekAbsent is Peek for a question without an entry of its own: it finds
// the directory that proves the name of the question whose identity is id
// (AppendKeyID) absent, as Get would answer it. It reports false as well
// for a name a directory answered before, so that Get answers it and
// keeps it under its own key. Hit.Served counts the answer and records the
// name as answered; id must not change before then.
func (c *Cache) PeekAbsent(id []byte, now time.Time) (Hit, bool) {
	if len(id) == 0 {
		return Hit{}, false
	}
	sid := unsafe.String(&id[0], len(id))
	e, ok := c.directoryFor(sid, now)
	if !ok || c.askedBefore.has(sid) {
		return Hit{}, false
	}
	return Hit{c: c, e: e, absentID: sid}, true
}

// directoryFor finds the directory entry that proves the question whose
// key identity is id absent, at now (the zero time: Config.Now).
func (c *Cache) directoryFor(id string, now time.Time) (*entry, bool) {
	suffixes := c.absentZones.load()
	if len(suffixes) == 0 {
		return nil, false
	}
	n := len(id) - len(keyTail{})
	if n <= 0 {
		return nil, false
	}
	if tail := id[n:]; tail[2] != 0 || tail[3] != byte(dns.ClassINET) || tail[4]&(keyForward|keyAbsent) != 0 {
		return nil, false
	}
	lower := id[:n]
	if strings.IndexByte(lower, '\\') >= 0 {
		return nil, false
	}
	for _, suffix := range suffixes {
		if !strings.HasSuffix(lower, suffix) {
			continue
		}
		// lower is <...>.<label>.<namespace><suffix>: the apex starts
		// after the dot before the namespace.
		rest := lower[:len(lower)-len(suffix)]
		i := strings.LastIndexByte(rest, '.')
		if i <= 0 {
			return nil, false
		}
		apex := lower[i+1:]
		label, ok := labelBelow(lower, apex)
		if !ok {
			return nil, false
		}
		// A directory answers only while exact: when the record service
		// cannot be reached, a name never asked must reach it (and fail,
		// or be served stale) rather than be answered from a list nobody
		// keeps up to date. servable has checked the generation.
		e, _, ok := c.servable(newAbsentKey(apex).id, now)
		if !ok || e.rcode != dns.RcodeNameError || !c.heldExact(e, c.cfg.Now()) {
			return nil, false
		}
		if _, found := slices.BinarySearch(e.labels, label); found {
			return nil, false
		}
		return e, true
	}
	return nil, false
}

// labelBelow returns the label of name right below apex (both lower case
// and fully qualified), false when name is not strictly below apex.
func labelBelow(name, apex string) (string, bool) {
	if len(name) <= len(apex) || !strings.HasSuffix(name, apex) || name[len(name)-len(apex)-1] != '.' {
		return "", false
	}
	rest := name[:len(name)-len(apex)-1]
	label := rest[strings.LastIndexByte(rest, '.')+1:]
	return label, label != ""
}

// askedBefore remembers, approximately, which questions a directory
// answered: two bits per key (a Bloom filter with two hash functions), set
// once answered. A question whose bits are both set was very likely asked
// before. Once an eighth as many questions as there are bits were recorded
// the bits are cleared, which forgets old names and keeps false positives
// under one in twenty (about one in fifty on average over a fill; one bit
// per key left one in sixteen on average).
type askedBefore struct {
	seed  maphash.Seed
	bits  [askedBits / 64]atomic.Uint64
	added atomic.Uint64
}

// askedBits is the size of askedBefore's bit set: 128 KiB.
const askedBits = 1 << 20

func newAskedBefore() *askedBefore { return &askedBefore{seed: maphash.MakeSeed()} }

// has reports whether id was recorded, without recording it.
func (a *askedBefore) has(id string) bool {
	w1, b1, w2, b2 := a.slots(id)
	return w1.Load()&b1 != 0 && w2.Load()&b2 != 0
}

// slots are the words and bits of id: two bit positions taken from the two
// halves of one 64-bit hash.
func (a *askedBefore) slots(id string) (w1 *atomic.Uint64, b1 uint64, w2 *atomic.Uint64, b2 uint64) {
	h := maphash.String(a.seed, id)
	p1, p2 := h%askedBits, (h>>32)%askedBits
	return &a.bits[p1/64], uint64(1) << (p1 % 64), &a.bits[p2/64], uint64(1) << (p2 % 64)
}

// seen records id and reports whether it was recorded before.
func (a *askedBefore) seen(id string) bool {
	w1, b1, w2, b2 := a.slots(id)
	had1, had2 := w1.Or(b1)&b1 != 0, w2.Or(b2)&b2 != 0
	if had1 && had2 {
		return true
	}
	if a.added.Add(1) >= askedBits/8 {
		a.added.Store(0)
		for i := range a.bits {
			a.bits[i].Store(0)
		}
	}
	return false
}
