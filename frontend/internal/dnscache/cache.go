// Package dnscache is the frontend's response cache: a ristretto/v2 cache of
// DNS responses keyed on (lower-cased name, type, class, DO bit) that honours
// record TTLs, caches negative answers (RFC 2308), and keeps answers of the
// record service exact through push invalidation (DESIGN.md section 4).
//
// # What is stored
//
// A cached response keeps its three record sections packed in wire form, one
// uncompressed record after the other in a single byte slice, which holds no
// pointers for the garbage collector to follow. A hit unpacks fresh records
// with the TTLs and the owner-name case fixed for the asking query, which the
// DNS server then wraps into a reply (header, question, EDNS). For its hot
// path the DNS server rather looks entries up with Peek, which copies
// nothing, and attaches to each entry its own pre-packed wire form of the
// reply (Hit.Attach), whose ID, flags, TTLs and OPT record it patches per
// query; the attachment lives and dies with the entry.
//
// # TTLs
//
// A response lives for its TTL: the smallest record TTL, or for a negative
// answer min(SOA TTL, SOA minimum) as RFC 2308 says (a negative answer
// without SOA is not cached, nor is any rcode but NOERROR and NXDOMAIN). On a
// hit the records show the time left (TTL minus whole seconds since stored).
// Get never hands out an expired entry.
//
// Answers of the upstreams (not from the record service) are clamped: their
// lifetime is at least Config.MinTTL and at most Config.MaxTTL, or
// Config.MaxNegativeTTL for a negative answer, and every record of the stored
// answer carries that lifetime as its TTL, so that a hit shows the same,
// decremented, TTL on every record (Lifetime tells the caller the value for
// the answer it sends on a miss). A record TTL of 0 still means "do not
// cache". Truncated upstream answers are never stored (the TCP retry gets
// the whole answer); a record-service answer cut to fit a DNS message is,
// with its Truncated mark, since asking again gives the same cut. Upstream answers live under
// keys of their own (NewForwardKey): a name the record service may answer
// one day (a reverse name that falls through to the upstreams) never hits
// an upstream answer before the record service has been asked.
//
// # Exact cluster entries
//
// A record-service answer ("cluster entry") names the invalidation keys it
// depends on and the revision and server it was computed at. When it comes
// from the server whose Watch stream the cache currently follows, it is
// "exact": every change to its keys will be announced, so the entry stays
// valid beyond its record TTL, up to Config.ClusterTTL (default 5m), for as
// long as that stream stays open. An exact entry is as good as a fresh
// Lookup, so a hit shows the record TTLs as the record service gave them,
// not decremented. When the stream breaks the entry falls back to its record
// TTL; when a stream (re)starts (Resync) or another server appears, every
// cluster entry is dropped (with serve-stale on, demoted: see below).
//
// A cluster entry stored while the cache followed no stream, or from another
// server than the one followed (the Lookup went to a replica other than the
// Watch stream's, as during a failover), is not exact: it lives for its
// record TTL, and any invalidation of one of its keys drops it, whatever the
// revision, since revisions of different servers are not comparable.
//
// Invalidate(revision R, keys K) drops every cluster entry that depends on a
// key in K and was computed at a revision below R (or from another server),
// through a key -> entries index that is cleaned whenever ristretto lets an
// entry go (eviction, rejection, expiry, replacement). The cache remembers,
// per key, the last invalidation revision, and refuses to store an answer
// computed at an earlier revision: an answer computed before a change but
// stored after its invalidation never enters the cache. Callers take a Fill
// token with Begin before asking the record service and pass it to Set; a
// Resync or a broken stream in between makes Set refuse the answer.
//
// A NOT_AUTHORITATIVE verdict of the record service (the upstreams answer
// the name) is a cluster entry without records, marked NotAuthoritative,
// that lives for its TTL field and is kept exact like any cluster entry.
//
// # Serve-stale
//
// With Config.MaxStale set, entries stay in ristretto for MaxStale beyond
// the last moment Get could serve them, and GetStale hands them out with
// Config.StaleTTL as the TTL of every record (RFC 8767). The caller asks
// GetStale only when the source of the answer (the record service or the
// upstreams) failed; Get never serves a stale entry. Entries dropped by an
// invalidation are never served stale: they are known to be wrong. A Resync
// does not delete the cluster entries then but demotes them: Get no longer
// serves them (changes may have been missed), GetStale still may, and an
// invalidation of one of their keys from the new stream drops them. Without
// MaxStale a Resync deletes them.
//
// ristretto applies Set asynchronously and may drop it: the cache is an
// optimisation, never the source of truth. Tests call Wait.
package dnscache

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/miekg/dns"
)

// Config configures a Cache. Zero values select the documented defaults.
type Config struct {
	// MaxBytes bounds the heap the cache holds: ristretto's fixed
	// admission counters plus the estimated memory of each response held
	// (its records and strings, its bookkeeping in ristretto and in the
	// invalidation index, and the wire form the DNS server attaches to it).
	// The process needs more than that: garbage waits for the collector.
	// Default 64 MiB.
	MaxBytes int64
	// ClusterTTL is how long an exact cluster entry may stay cached while
	// the Watch stream covering it stays open, when that is longer than its
	// record TTL. Default 5m; a negative value disables the extension.
	ClusterTTL time.Duration
	// MaxTrackedKeys bounds how many invalidation keys the cache remembers
	// the last invalidation revision of. When it is exceeded the oldest are
	// forgotten and the cache refuses answers computed before the newest
	// forgotten revision. Default 65536.
	MaxTrackedKeys int
	// MaxTTL caps the lifetime of a positive upstream answer. Default 1h.
	MaxTTL time.Duration
	// MinTTL is the least lifetime of an upstream answer, positive or
	// negative, whatever its record TTLs (a TTL of 0 is still not cached).
	// Default 0 (no floor). It never exceeds the applicable cap.
	MinTTL time.Duration
	// MaxNegativeTTL caps the lifetime of a negative upstream answer
	// (NXDOMAIN or NODATA, whose TTL is min(SOA TTL, SOA minimum)).
	// Default 30m.
	MaxNegativeTTL time.Duration
	// MaxStale is how long past the end of its servable life an entry is
	// kept for GetStale (RFC 8767 serve-stale): the entry stays in the cache
	// that much longer. Default 0: serve-stale is off and GetStale finds
	// nothing.
	MaxStale time.Duration
	// StaleTTL is the TTL, in whole seconds, of every record of an answer
	// handed out by GetStale. Default 30s (RFC 8767).
	StaleTTL time.Duration
	// Now returns the current time. Default time.Now (tests pass a clock).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = 64 << 20
	}
	if c.ClusterTTL == 0 {
		c.ClusterTTL = 5 * time.Minute
	}
	if c.ClusterTTL < 0 {
		c.ClusterTTL = 0
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = time.Hour
	}
	if c.MaxNegativeTTL <= 0 {
		c.MaxNegativeTTL = 30 * time.Minute
	}
	if c.MinTTL < 0 {
		c.MinTTL = 0
	}
	if c.MaxTrackedKeys <= 0 {
		c.MaxTrackedKeys = 65536
	}
	if c.MaxStale < 0 {
		c.MaxStale = 0
	}
	if c.StaleTTL < time.Second {
		c.StaleTTL = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Key identifies a cached response: the lower-cased query name, type, class
// and DNSSEC OK bit. It also remembers the name as asked, so that a hit can
// give the answer the case of the query.
type Key struct {
	id   string
	name string
}

// keyTail ends a key's identity after the lower-case name: type, class and
// flags.
type keyTail [5]byte

// Flag bits of the last byte of a key.
const (
	keyDO      = 1 << 0
	keyForward = 1 << 1
	// keyAbsent marks a directory (absent.go), which no question's key
	// equals.
	keyAbsent = 1 << 2
)

// NewKey builds the key of a question answered by the record service. name
// is made fully qualified.
func NewKey(name string, qtype, qclass uint16, do bool) Key {
	return newKey(name, qtype, qclass, do, false)
}

// NewForwardKey builds the key of a question answered by the upstreams. It
// never equals a NewKey key, so that an upstream answer is found only once
// the caller knows the record service does not answer the question.
func NewForwardKey(name string, qtype, qclass uint16, do bool) Key {
	return newKey(name, qtype, qclass, do, true)
}

func newKey(name string, qtype, qclass uint16, do, forward bool) Key {
	name = dns.Fqdn(name)
	var flags byte
	if do {
		flags |= keyDO
	}
	if forward {
		flags |= keyForward
	}
	tail := keyTail{byte(qtype >> 8), byte(qtype), byte(qclass >> 8), byte(qclass), flags}
	// One allocation for a lower-case name (the usual one), made on every
	// miss: ToLower returns such a name as it is, and the concatenation
	// copies it once.
	return Key{id: strings.ToLower(name) + string(tail[:]), name: name}
}

// ID is the key's identity: equal for equal keys, whatever the letter
// case of the name.
func (k Key) ID() string { return k.id }

// Name is the query name as asked, fully qualified.
func (k Key) Name() string { return k.name }

// Response is what the cache stores and hands back.
type Response struct {
	// Rcode is dns.RcodeSuccess or dns.RcodeNameError; other rcodes are
	// never cached.
	Rcode int
	// Answer, Ns and Extra are the record sections (no OPT record). Set
	// copies them; Get returns copies the caller may modify.
	Answer, Ns, Extra []dns.RR
	// TTL caps the time, in seconds, the response may be served (the
	// record service's ttl field). 0 means: derived from the records only.
	TTL uint32
	// AuthenticatedData is the AD bit of an upstream answer.
	AuthenticatedData bool
	// Truncated marks a reply with TC set: Set stores it only for an
	// answer of the record service (Cluster), whose answer section was cut
	// to fit a DNS message.
	Truncated bool
	// NotAuthoritative marks the record service's verdict that the name is
	// for the upstreams to answer (Cluster, no records); it lives for TTL.
	NotAuthoritative bool
	// Ordered marks an answer whose record order means something (a
	// zone-aware answer, the client's zone first): it is never rotated.
	Ordered bool

	// Cluster marks an answer of the record service; the fields below
	// describe it.
	Cluster bool
	// Revision is the record-service revision the answer was computed at.
	Revision uint64
	// ServerID is the record-service process that computed it.
	ServerID string
	// Keys are the invalidation keys the answer depends on. Shared, read only.
	Keys []string
}

// Fill is the state a caller captures with Begin before it asks the record
// service, and hands to Set with the answer.
type Fill struct {
	epoch uint64
	seq   uint64
}

// Stats are the cache's counters.
type Stats struct {
	// Hits and Misses count Get calls.
	Hits, Misses uint64
	// Evictions counts entries ristretto evicted for room or expiry.
	Evictions uint64
	// Invalidated counts cluster entries dropped by Invalidate or Resync
	// (including those a Resync demoted to stale-only).
	Invalidated uint64
	// Refused counts Sets refused because an invalidation or a resync
	// happened while the answer was being computed.
	Refused uint64
	// Invalidations counts Invalidate and Resync calls.
	Invalidations uint64
	// Stale counts answers handed out by GetStale.
	Stale uint64
	// Absent counts the hits that were NXDOMAIN answers proved by a
	// namespace's directory (absent.go).
	Absent uint64
	// Entries is the number of responses held (stale ones included).
	Entries int64
	// Bytes is the estimated memory of the responses held, as counted
	// against Config.MaxBytes.
	Bytes int64
}

// Cache is a DNS response cache. It is safe for concurrent use.
type Cache struct {
	cfg Config
	rc  *ristretto.Cache[string, *entry]
	// settings are cfg's MaxBytes and lifetimes as Reconfigure last set
	// them (reload.go); counters is ristretto's NumCounters.
	settings atomic.Pointer[Config]
	counters int64
	// fwdSeq numbers the upstream answers stored and the DropForwarded
	// calls; fwdDrop is what those retired (reload.go).
	fwdSeq  atomic.Uint64
	fwdDrop atomic.Pointer[forwardDrop]
	// clock is true when Config.Now was given: the cache then never takes
	// the time from its caller (Peek).
	clock bool

	// epoch moves on every Resync and Disconnected: exact entries are valid
	// beyond their record TTL only while it has not moved since they were
	// stored. Written under mu, read without.
	epoch atomic.Uint64
	// gen moves on every Resync: cluster entries of an earlier generation
	// are never served by Get (only by GetStale). Written under mu.
	gen atomic.Uint64

	hits, misses, evictions, invalidated, refused, invalidations, stale, absent atomic.Uint64
	entries, bytes                                                              atomic.Int64

	// mu guards the fields below. It is never held while calling into
	// ristretto, whose callbacks take it.
	mu sync.Mutex
	// connected is true between a Resync and the next Disconnected.
	connected bool
	// serverID is the record-service process the Watch stream follows.
	serverID string
	// seq counts Invalidate calls since the last Resync.
	seq uint64
	// marks holds, per invalidation key, the last invalidation.
	marks map[string]keyMark
	// order lists the invalidations in arrival order, to forget the oldest
	// marks when there are more than MaxTrackedKeys.
	order []keyAt
	// floorRev and floorSeq are the newest forgotten mark: answers older
	// than that are refused.
	floorRev, floorSeq uint64
	// resume is what a resumed stream needs of the one that broke
	// (resume.go).
	resume resumeState
	// index holds the cluster entries, by the invalidation keys they
	// depend on (index.go).
	index index
	// absentZones lists the zones of the directories stored; askedBefore
	// the names they answered (absent.go).
	absentZones absentSuffixes
	askedBefore *askedBefore
}

type keyMark struct{ rev, seq uint64 }

type keyAt struct {
	key string
	seq uint64
}

type entry struct {
	// wire holds the records of the three sections packed one after the
	// other, uncompressed, counts[i] of section i, where records as
	// miekg/dns structs would be one or more objects each (records.go).
	// keys and id view the bytes after them in the same allocation, which
	// holds no pointers for the collector to follow and never changes.
	wire      []byte
	keys      keyList
	id        string
	name      string
	serverID  string
	stored    time.Time
	expires   time.Time
	hold      time.Time
	staleEnd  time.Time
	revision  uint64
	epoch     uint64
	gen       uint64
	fwdSeq    uint64
	costBytes int64
	// attached is what Hit.Attach stored: the DNS server's wire form.
	attached atomic.Pointer[any]
	ttl      uint32
	dead     atomic.Bool
	// labels is set on directories only (absent.go): what exists below
	// the apex the entry's key names, sorted.
	labels []string
	// slot is the entry's handle in the index, 0 when not indexed.
	slot   handle
	counts [3]uint16
	// rcode is NOERROR or NXDOMAIN: no other is cached.
	rcode   uint8
	ad      bool
	tc      bool
	notAuth bool
	ordered bool
	cluster bool
	exact   bool
}

// New creates a cache. Close it to stop ristretto's goroutines.
func New(cfg Config) (*Cache, error) {
	clock := cfg.Now != nil
	cfg = cfg.withDefaults()
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("cache size %d is negative", cfg.MaxBytes)
	}
	c := &Cache{
		cfg:         cfg,
		clock:       clock,
		marks:       make(map[string]keyMark),
		index:       newIndex(),
		askedBefore: newAskedBefore(),
	}
	// ristretto wants about ten counters per entry it may hold; a cached
	// response takes about 1 KB (650 bytes for an upstream's one address,
	// 1.4 KB for a record-service NXDOMAIN, more for more records). The
	// counters and the set buffer are memory of their own, as is the bit
	// set of names directories answered (absent.go), which the entries
	// leave room for.
	counters := max(cfg.MaxBytes/1000*10, 1024)
	c.counters = counters
	c.settings.Store(&cfg)
	c.fwdDrop.Store(&forwardDrop{})
	rc, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters: counters,
		MaxCost:     entriesCost(cfg.MaxBytes, counters),
		BufferItems: 64,
		// cost counts ristretto's own memory per item.
		IgnoreInternalCost: true,
		OnEvict: func(it *ristretto.Item[*entry]) {
			if it.Value != nil {
				c.evictions.Add(1)
			}
		},
		OnExit: c.onExit,
	})
	if err != nil {
		return nil, fmt.Errorf("ristretto cache: %w", err)
	}
	c.rc = rc
	return c, nil
}

// Close releases the cache; it must not be used afterwards.
func (c *Cache) Close() { c.rc.Close() }

// Wait blocks until every Set and Del made so far is applied. ristretto
// applies them asynchronously; tests call Wait before expecting a hit.
func (c *Cache) Wait() { c.rc.Wait() }

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:          c.hits.Load(),
		Misses:        c.misses.Load(),
		Evictions:     c.evictions.Load(),
		Invalidated:   c.invalidated.Load(),
		Refused:       c.refused.Load(),
		Invalidations: c.invalidations.Load(),
		Stale:         c.stale.Load(),
		Absent:        c.absent.Load(),
		Entries:       c.entries.Load(),
		Bytes:         c.bytes.Load(),
	}
}

// Get returns the cached response for k, with copies of the records whose
// TTLs show the time left and whose owner names equal to the query name
// (ignoring case) carry the query's case. A question of the record service
// without an entry of its own is answered NXDOMAIN when a directory proves
// its name absent (absent.go).
func (c *Cache) Get(k Key) (Response, bool) {
	e, age, ok := c.servable(k.id, time.Time{})
	var r Response
	if ok {
		r, ok = e.response(k.name, age)
	} else {
		r, ok = c.absentAnswer(k)
	}
	if !ok {
		c.misses.Add(1)
		return Response{}, false
	}
	c.hits.Add(1)
	return r, true
}

// servable finds the entry stored under id that Get may serve at now (the
// zero time: Config.Now), and its age: the seconds to take off its record
// TTLs (0 for an exact entry).
func (c *Cache) servable(id string, now time.Time) (*entry, uint32, bool) {
	e, ok := c.rc.Get(id)
	if !ok || e == nil || e.id != id || e.dead.Load() || c.retired(e) {
		return nil, 0, false
	}
	if c.clock || now.IsZero() {
		now = c.cfg.Now()
	}
	switch {
	case e.cluster && e.gen != c.gen.Load():
		// Demoted by a Resync: for GetStale only.
		return nil, 0, false
	case c.heldExact(e, now):
		// Kept exact by the Watch stream: as fresh as a new Lookup.
		return e, 0, true
	case now.Before(e.expires):
		return e, uint32(now.Sub(e.stored) / time.Second), true
	default:
		return nil, 0, false
	}
}

// heldExact reports whether the open Watch stream covers e at now, so that
// any change to its keys would have dropped it. An exact entry was stored
// while connected, and a Disconnected moves the epoch, so the epoch tells
// without taking the lock.
func (c *Cache) heldExact(e *entry, now time.Time) bool {
	return e.exact && e.epoch == c.epoch.Load() && now.Before(e.hold)
}

// GetStale returns the cached response for k even when Get would not serve
// it any more (expired, or demoted by a Resync), as long as it is within
// Config.MaxStale of the end of its servable life and no invalidation
// dropped it. Every record carries Config.StaleTTL as its TTL. Call it only
// when the source of the answer failed (RFC 8767); it finds nothing when
// serve-stale is off.
func (c *Cache) GetStale(k Key) (Response, bool) {
	if c.live().MaxStale <= 0 {
		return Response{}, false
	}
	e, ok := c.rc.Get(k.id)
	if !ok || e == nil || e.id != k.id || e.dead.Load() || c.retired(e) || !c.cfg.Now().Before(e.staleEnd) {
		return Response{}, false
	}
	r, ok := e.response(k.name, 0)
	if !ok {
		return Response{}, false
	}
	c.stale.Add(1)
	ttl := uint32(min(c.live().StaleTTL/time.Second, math.MaxUint32))
	for _, section := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		SetTTL(section, ttl)
	}
	r.TTL = ttl
	return r, true
}

// Begin captures the state a later Set of an answer checks against. Call it
// before asking the record service.
func (c *Cache) Begin() Fill {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Fill{epoch: c.epoch.Load(), seq: c.seq}
}

// Lifetime is how long, in seconds, Set would keep r: for an answer of the
// record service its smallest record TTL (RFC 2308 for negative answers)
// capped by r.TTL; for an upstream answer that value clamped between
// Config.MinTTL and Config.MaxTTL (Config.MaxNegativeTTL when negative). 0
// means r is not cacheable: an rcode other than NOERROR and NXDOMAIN, a
// truncated upstream reply, a record TTL of 0, or a negative answer without
// SOA. A NOT_AUTHORITATIVE verdict lives for r.TTL.
func (c *Cache) Lifetime(r Response) uint32 {
	if r.NotAuthoritative {
		if !r.Cluster {
			return 0
		}
		return r.TTL
	}
	if (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError) || (r.Truncated && !r.Cluster) {
		return 0
	}
	ttl := MinTTL(r.Rcode, r.Answer, r.Ns, r.Extra)
	if r.TTL > 0 && r.TTL < ttl {
		ttl = r.TTL
	}
	if ttl == 0 || r.Cluster {
		return ttl
	}
	maxTTL := c.live().MaxTTL
	if negative(r.Rcode, r.Answer) {
		maxTTL = c.live().MaxNegativeTTL
	}
	ceiling := uint32(min(maxTTL/time.Second, math.MaxUint32))
	floor := uint32(min(c.live().MinTTL/time.Second, math.MaxUint32))
	return min(max(ttl, floor), ceiling)
}

// Set stores r under k and reports whether it was handed to ristretto
// (which may still decline to keep it). It refuses responses that must not
// be cached (see Lifetime) and cluster answers that an invalidation or
// resync since Begin made stale. The records of an upstream answer are
// stored with the answer's lifetime as their TTL.
func (c *Cache) Set(k Key, fill Fill, r Response) bool { return c.set(k, fill, r, nil) }

// set is Set for answers and for directories (absent.go), which keep the
// sorted labels that exist below their apex.
func (c *Cache) set(k Key, fill Fill, r Response, labels []string) bool {
	ttl := c.Lifetime(r)
	if ttl == 0 {
		return false
	}
	now := c.cfg.Now()
	// The records of an upstream answer carry its lifetime.
	var packTTL uint32
	if !r.Cluster {
		packTTL = ttl
	}
	// The records, the keys and the key's identity share one allocation,
	// never written once packed, which the strings view.
	keysLen := keyListLen(r.Keys)
	buf, counts, err := packSections(packTTL, keysLen+len(k.id), r.Answer, r.Ns, r.Extra)
	if err != nil {
		return false
	}
	wireLen := len(buf)
	buf = appendKeyList(buf, r.Keys)
	buf = append(buf, k.id...)
	id := view(buf[wireLen+keysLen:])
	name := k.name
	if n := len(id) - len(keyTail{}); n >= 0 && name == id[:n] {
		// The usual lower-case name: the entry keeps one string for both.
		name = id[:n]
	}
	e := &entry{
		id:       id,
		name:     name,
		rcode:    uint8(r.Rcode),
		ad:       r.AuthenticatedData,
		tc:       r.Truncated,
		notAuth:  r.NotAuthoritative,
		ordered:  r.Ordered,
		wire:     buf[:wireLen:wireLen],
		counts:   counts,
		ttl:      ttl,
		stored:   now,
		expires:  now.Add(time.Duration(ttl) * time.Second),
		cluster:  r.Cluster,
		revision: r.Revision,
		serverID: r.ServerID,
		keys:     keyList(view(buf[wireLen : wireLen+keysLen])),
		labels:   labels,
	}
	e.hold = e.expires
	if !e.cluster {
		e.fwdSeq = c.fwdSeq.Add(1)
	}
	// The DNS server may attach a wire form to any entry it finds with
	// Peek (record-service answers, and upstream answers of names outside
	// its record zones): count one for every entry.
	e.costBytes = cost(e)
	if e.cluster && !c.admitCluster(e, fill) {
		c.refused.Add(1)
		return false
	}
	// Get serves the entry until the later of expires and hold; GetStale
	// MaxStale longer, and ristretto keeps it that long.
	e.staleEnd = e.expires
	if e.exact && e.hold.After(e.staleEnd) {
		e.staleEnd = e.hold
	}
	e.staleEnd = e.staleEnd.Add(c.live().MaxStale)
	lifetime := e.staleEnd.Sub(now)
	if !c.rc.SetWithTTL(e.id, e, e.costBytes, lifetime) {
		if e.cluster {
			c.mu.Lock()
			c.unregister(e)
			c.mu.Unlock()
		}
		return false
	}
	c.entries.Add(1)
	c.bytes.Add(e.costBytes)
	return true
}

// admitCluster decides whether a cluster answer may be stored, marks it
// exact when the Watch stream covers it, and indexes it by its keys.
func (c *Cache) admitCluster(e *entry, fill Fill) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fill.epoch != c.epoch.Load() {
		// A resync or a broken stream since Begin: nothing is known about
		// what changed meanwhile.
		return false
	}
	e.epoch = fill.epoch
	e.gen = c.gen.Load()
	if e.serverID != "" && e.serverID == c.serverID {
		// One copy of the followed server's id for all its answers.
		e.serverID = c.serverID
		e.costBytes -= allocSize(len(e.serverID))
	}
	e.exact = c.connected && e.serverID != "" && e.serverID == c.serverID && e.keys != ""
	if e.exact {
		// Revisions of the followed server are comparable: refuse an answer
		// computed before an invalidation of one of its keys.
		if e.revision < c.floorRev {
			return false
		}
		for key := range e.keys.all() {
			if m, ok := c.marks[key]; ok && m.rev > e.revision {
				return false
			}
		}
		if hold := e.stored.Add(c.live().ClusterTTL); hold.After(e.hold) {
			e.hold = hold
		}
	} else {
		// Another server's revisions say nothing: refuse when any of the
		// keys was invalidated since Begin.
		if fill.seq < c.floorSeq {
			return false
		}
		for key := range e.keys.all() {
			if m, ok := c.marks[key]; ok && m.seq > fill.seq {
				return false
			}
		}
	}
	// The entry pays for the index of its keys: a map slot for a key no
	// other entry depends on, a set slot for a shared one.
	e.costBytes += c.index.add(e)
	return true
}

// Invalidate drops the cluster entries that depend on one of keys and were
// computed before revision (or by another server), and remembers the
// revision so that such answers are not stored later. A message from a
// server other than the followed one counts as a Resync.
func (c *Cache) Invalidate(serverID string, revision uint64, keys []string) {
	c.invalidations.Add(1)
	c.mu.Lock()
	var victims []*entry
	if !c.connected || serverID != c.serverID {
		victims = c.resyncLocked(serverID, revision)
	} else {
		c.seq++
		for _, key := range keys {
			m := c.marks[key]
			m.rev = max(m.rev, revision)
			m.seq = c.seq
			c.marks[key] = m
			c.order = append(c.order, keyAt{key: key, seq: c.seq})
			for _, e := range c.index.dependents(key) {
				// Entries of an earlier generation or another server
				// carry revisions that say nothing about this one.
				if e.gen != c.gen.Load() || !e.exact || e.serverID != c.serverID || e.revision < revision {
					victims = append(victims, e)
					c.kill(e)
				}
			}
		}
		c.forgetOldMarks()
	}
	c.mu.Unlock()
	c.drop(victims)
}

// Resync drops every cluster entry (with serve-stale on: demotes it to
// stale-only) and starts following serverID's stream at revision.
func (c *Cache) Resync(serverID string, revision uint64) {
	c.invalidations.Add(1)
	c.mu.Lock()
	victims := c.resyncLocked(serverID, revision)
	c.mu.Unlock()
	c.drop(victims)
}

// Disconnected records that the Watch stream broke: exact entries fall back
// to their record TTL and answers in flight are refused.
func (c *Cache) Disconnected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rememberResumeLocked()
	c.connected = false
	c.serverID = ""
	c.epoch.Store(c.nextEpochLocked())
}

// resyncLocked starts a new generation. Without serve-stale the cluster
// entries die and are returned for drop; with it they stay, indexed, for
// GetStale until an invalidation of the new stream drops them, and the
// number of entries demoted is counted here.
func (c *Cache) resyncLocked(serverID string, revision uint64) []*entry {
	var victims []*entry
	if c.live().MaxStale > 0 {
		gen, demoted := c.gen.Load(), uint64(0)
		for _, e := range c.index.all() {
			if e.gen == gen {
				demoted++
			}
		}
		c.invalidated.Add(demoted)
	} else {
		victims = c.index.all()
		for _, e := range victims {
			e.dead.Store(true)
		}
		c.index.reset()
	}
	c.gen.Add(1)
	clear(c.marks)
	c.order = nil
	c.floorRev = revision
	c.floorSeq = c.seq
	c.connected = true
	c.serverID = serverID
	c.epoch.Store(c.nextEpochLocked())
	return victims
}

// kill marks e never to be served again and removes it from the index.
func (c *Cache) kill(e *entry) {
	e.dead.Store(true)
	c.unregister(e)
}

func (c *Cache) unregister(e *entry) { c.index.remove(e) }

// forgetOldMarks keeps the marks within MaxTrackedKeys by forgetting the
// oldest half, raising the floors to the newest forgotten mark.
func (c *Cache) forgetOldMarks() {
	if len(c.order) <= c.cfg.MaxTrackedKeys {
		return
	}
	n := len(c.order) - c.cfg.MaxTrackedKeys/2
	for _, old := range c.order[:n] {
		if m, ok := c.marks[old.key]; ok && m.seq == old.seq {
			delete(c.marks, old.key)
			c.floorRev = max(c.floorRev, m.rev)
			c.floorSeq = max(c.floorSeq, m.seq)
		}
	}
	c.order = slices.Clone(c.order[n:])
}

// drop removes dead entries from ristretto. A newer entry stored under the
// same key in the meantime may go too: that costs a miss, never a stale
// answer.
func (c *Cache) drop(victims []*entry) {
	for _, e := range victims {
		c.rc.Del(e.id)
	}
	c.invalidated.Add(uint64(len(victims)))
}

// onExit runs whenever ristretto lets a value go.
func (c *Cache) onExit(e *entry) {
	if e == nil {
		return
	}
	c.entries.Add(-1)
	c.bytes.Add(-e.costBytes)
	if e.cluster {
		c.mu.Lock()
		c.unregister(e)
		c.mu.Unlock()
	}
}

// view is a string of b's bytes, which must never change afterwards.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// negative reports whether a response is a negative answer (RFC 2308).
func negative(rcode int, answer []dns.RR) bool {
	return rcode == dns.RcodeNameError || (rcode == dns.RcodeSuccess && len(answer) == 0)
}

// SetTTL sets the TTL of every record but OPT to ttl.
func SetTTL(rrs []dns.RR, ttl uint32) {
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype != dns.TypeOPT {
			h.Ttl = ttl
		}
	}
}

// MinTTL is how long a response may be cached, in seconds: the smallest TTL
// of its records, or for a negative answer (NXDOMAIN, or NOERROR without
// answer records) min(SOA TTL, SOA minimum) of the SOA in the authority
// section, 0 when there is none (RFC 2308). OPT records are ignored.
func MinTTL(rcode int, answer, ns, extra []dns.RR) uint32 {
	if negative(rcode, answer) {
		for _, rr := range ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl)
			}
		}
		return 0
	}
	ttl, found := uint32(0), false
	for _, section := range [][]dns.RR{answer, ns, extra} {
		for _, rr := range section {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			if t := rr.Header().Ttl; !found || t < ttl {
				ttl, found = t, true
			}
		}
	}
	return ttl
}

// The cost of an entry is an estimate of the heap it keeps alive, so that
// Config.MaxBytes bounds the real memory of the cache. It counts the
// allocations the entry holds (each rounded up to a size class of the Go
// allocator), ristretto's and the invalidation index's bookkeeping for it,
// and the wire form the DNS server attaches to it. The constants were
// measured with BenchmarkCacheOverheads (go1.26, amd64; maps vary with
// their fill, the values are near the top of what was seen) and the whole
// checked with BenchmarkCacheMemory, which compares the heap of 100k
// cached responses of several kinds with their summed cost (memory_test.go).
const (
	// ristrettoItemOverhead is ristretto's memory per item: its store map
	// slot, its expiration bucket slot and its policy's cost map slot
	// (measured 131-187 bytes).
	ristrettoItemOverhead = 168
	// indexSlotOverhead is a cluster entry's slot in the index's array of
	// entries, which grows by doubling (8 bytes, up to 16).
	indexSlotOverhead = 16
	// keySlotOverhead is the index's map slot of a key no other entry
	// depends on, which holds the entry's handle (measured 40-60 bytes).
	keySlotOverhead = 64
	// handleSetOverhead is an entry's handle in the set of a key that many
	// entries depend on (measured 6-12 bytes).
	handleSetOverhead = 16
	// wireOverhead is the DNS server's attachment besides the packed
	// message and its TTL offsets (dnsserver's prepacked.go): the boxed
	// interface value (16), the wireSet (16) and the wireAnswer (112).
	wireOverhead = 16 + 16 + 112
	// ttlFieldSize is the size of one TTL offset of the wire form.
	ttlFieldSize = 16
)

// cost estimates the memory of an entry in bytes, but for its invalidation
// index, which admitCluster adds, with the wire form the DNS server may
// attach to it for its hot path.
func cost(e *entry) int64 {
	n := allocSize(int(unsafe.Sizeof(entry{}))) + ristrettoItemOverhead
	// The packed records, the keys and the key's identity (one
	// allocation), the server's id (admitCluster takes it off when the
	// entry shares the followed server's) and the name as asked unless it
	// is the identity's lower-case name.
	n += allocSize(len(e.wire)+len(e.keys)+len(e.id)) + allocSize(len(e.serverID))
	if unsafe.StringData(e.name) != unsafe.StringData(e.id) {
		n += allocSize(len(e.name))
	}
	if e.cluster {
		n += indexSlotOverhead
	}
	for _, l := range e.labels {
		n += 16 + allocSize(len(l))
	}
	n += allocSize(16 * len(e.labels))
	// The packed reply: header, question, records (uncompressed: miekg/dns
	// allocates the uncompressed length plus one to pack into).
	msgLen := 12 + len(e.name) + 1 + 4 + len(e.wire)
	records := int(e.counts[0]) + int(e.counts[1]) + int(e.counts[2])
	// The TTL offsets are appended one by one: their capacity is the next
	// power of two.
	ttls := 1
	for ttls < records {
		ttls *= 2
	}
	n += wireOverhead + allocSize(msgLen+1) + allocSize(ttlFieldSize*ttls)
	return n
}

// entriesCost is the part of maxBytes the entries may take: what ristretto
// with counters counters and the bit set of names directories answered
// leave, but never less than half.
func entriesCost(maxBytes, counters int64) int64 {
	return max(maxBytes-ristrettoFixed(counters)-askedBits/8, maxBytes/2, 1)
}

// ristrettoFixed is the memory of a ristretto cache with counters counters
// before it holds anything: its TinyLFU count-min sketch (four rows of
// 4-bit counters, rounded up to a power of two), its doorkeeper bloom
// filter (about 9.6 bits per counter for 1% false positives, rounded up to
// a power of two) and its set buffer (32Ki item pointers).
func ristrettoFixed(counters int64) int64 {
	pow2 := func(n int64) int64 {
		p := int64(1)
		for p < n {
			p *= 2
		}
		return p
	}
	sketch := 4 * pow2(counters) / 2
	bloom := pow2(counters*96/10) / 8
	return sketch + bloom + 32<<10*8
}

// allocSize is about what the Go allocator takes for n bytes: n rounded up
// to its size class (the classes step by 16 bytes up to 256, then by an
// eighth to a quarter of the size).
func allocSize(n int) int64 {
	var step int
	switch {
	case n <= 0:
		return 0
	case n <= 16:
		step = 8
	case n <= 256:
		step = 16
	case n <= 512:
		step = 32
	case n <= 1024:
		step = 64
	case n <= 2048:
		step = 128
	default:
		step = 256
	}
	return int64((n + step - 1) / step * step)
}
