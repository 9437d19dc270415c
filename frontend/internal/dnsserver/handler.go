// Package dnsserver is the frontend's DNS server: a miekg/dns handler that
// answers the cluster zone and the reverse zones through the record service
// and the response cache, forwards other names to the upstreams, and the UDP
// and TCP listeners around it. It is the only writer of DNS responses in the
// frontend.
//
// Protocol decisions:
//   - a message that is itself a response, or shorter than a header, is
//     dropped; opcode other than QUERY gets NOTIMP; a question count other
//     than one gets FORMERR, as do a message that does not unpack, several
//     OPT records and an OPT record not owned by the root;
//   - class 0 (reserved, and what a question cut short before its type or
//     class reads as) gets FORMERR; class other than IN gets REFUSED (the server holds no data in other
//     classes and does not forward them; NOTIMP is kept for opcodes);
//   - AXFR and IXFR get REFUSED (no zone transfers);
//   - names under the cluster zone, in-addr.arpa. and ip6.arpa. go to the
//     record service (through the cache); other names go to the Forwarder
//     (through the cache, under keys of their own), or get REFUSED when
//     there is none;
//   - SUCCESS and NO_DATA give NOERROR, NAME_ERROR gives NXDOMAIN, all with
//     AA (an answer carrying autopath_namespace, computed for the asking
//     client's search path, is never cached); NOT_READY, an RPC error, a
//     timeout or an unusable answer give the cached answer served stale
//     when the cache holds one (serve-stale, below), else SERVFAIL (never
//     NXDOMAIN, never cached); NOT_AUTHORITATIVE (an unknown reverse name) falls
//     through to the Forwarder, else REFUSED, as kubeadm's CoreDNS
//     `fallthrough in-addr.arpa ip6.arpa`, and the verdict is cached with
//     its invalidation keys like any answer of the record service;
//   - an answer the record service cut to fit a DNS message
//     (LookupResponse.truncated) is sent with TC over UDP and TCP alike,
//     and cached with that mark;
//   - the miss path is bounded (admission.go): at most
//     Config.MaxConcurrentMisses lookups and upstream queries in flight,
//     identical cluster questions sharing one lookup (flight.go); a query
//     beyond the bound is answered stale when the cache can, else REFUSED;
//   - a client's EDNS options are not passed on: CLIENT-SUBNET and COOKIE
//     never reach the upstreams (forward strips every option), answers are
//     cached for all clients alike, and the response's OPT record carries
//     no option (the server implements neither, RFC 7871 and RFC 7873
//     allow that);
//   - an answer of the record service whose CNAME chain ends at a name
//     outside the cluster zone without records of the asked type (an
//     ExternalName service) is completed through the Forwarder: the CNAMEs
//     followed by the upstream's answer, with the upstream's rcode (NXDOMAIN
//     when the target does not exist), authority section and TC bit, as
//     CoreDNS does; when the upstreams fail the reply is SERVFAIL, and
//     without a Forwarder the CNAMEs alone are the answer;
//   - a Forwarder error is SERVFAIL (never a made-up answer), its overload
//     error is REFUSED, unless a stale answer can be served (below); upstream
//     replies pass through with their rcode and
//     flags; positive and negative ones (TTL from the SOA) are cached unless
//     truncated, CD was set, or the rcode is neither NOERROR nor NXDOMAIN;
//   - serve-stale (RFC 8767): when the record service or the upstreams fail
//     (an error, a timeout, NOT_READY, an upstream SERVFAIL or REFUSED) and
//     the cache holds an answer past its life but within its serve-stale
//     bound (dnscache Config.MaxStale), that answer is served with the stale
//     TTL (30s by default) on every record and counted in
//     clusterdns_frontend_stale_answers_total; while the source answers,
//     only fresh answers are served;
//   - a query for the loop probe name seen too often (Config.LoopDetector)
//     is answered SERVFAIL and reported once through Config.OnLoop;
//   - EDNS0: a client's OPT is answered with an OPT advertising
//     UDPBufferSize (default 1232) and the client's DO bit; an EDNS version
//     other than 0 gets BADVERS; a UDP answer is truncated (TC set) to the
//     client's advertised size, clamped to [512, MaxUDPSize], or 512 without
//     EDNS; TCP answers are whole;
//   - the question keeps the query's letter case, and so do answer owner
//     names equal to it (also on cache hits);
//   - answers made only of A or AAAA records of the asked type rotate their
//     order from one response to the next.
//
// Cache hits for the record service's zones take a hot path (prepacked.go)
// that sends exactly the bytes the general path would: each UDP socket's
// read loop (reader.go) reads the header, question and OPT record of a
// query itself and answers a hit in place from a reply packed once per
// cache entry, patching ID, flags, TTLs and OPT record and rotating the
// records; ServeDNS does the same for unpacked queries (TCP, and UDP queries
// that missed the hot path). On Linux the read loop takes and sends up to 64
// datagrams per system call (recvmmsg/sendmmsg, batch_linux.go) and runs
// every other query in a goroutine of its own through ServeDNS, as many at
// once as the dispatch gate allows (admission.go), shedding the rest with
// REFUSED from the loop, and the replies of those answered at the same time
// (the misses one record-service message answers) leave together in one
// sendmmsg as well (replies_linux.go); elsewhere it hands them to miekg/dns
// one by one. Anything unusual takes the general path. With
// Config.UDPSockets above one, that many sockets share the address through
// SO_REUSEPORT, each with its own read loop.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Records answers questions about the cluster zone and the reverse zones;
// *recordclient.Client implements it.
type Records interface {
	Lookup(ctx context.Context, name string, qtype uint16, clientIP string, transport clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error)
}

// Forwarder resolves names the record service does not answer;
// *forward.Forwarder implements it. It returns the reply to req (with req's
// ID and question) or an error, which the handler answers with SERVFAIL
// (REFUSED for forward.ErrOverloaded).
type Forwarder interface {
	Forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error)
}

// LoopDetector is told the name of every query; *forward.LoopDetector
// implements it. Seen reports true when the name shows a forwarding loop.
type LoopDetector interface {
	Seen(name string) bool
}

// Config configures a Handler and a Server. Zero values select the
// documented defaults.
type Config struct {
	// Listen is the address the Server listens on, UDP and TCP alike.
	// Default "127.0.0.1:1053"; port 0 picks a free port, the same for both.
	Listen string
	// ClusterDomain is the cluster zone. Default "cluster.local".
	ClusterDomain string
	// Records answers the cluster and reverse zones. Required.
	Records Records
	// Cache holds answers; nil disables caching.
	Cache *dnscache.Cache
	// Forwarder resolves other names, unknown reverse names and the
	// out-of-zone targets of ExternalName services; nil answers them
	// REFUSED (and leaves ExternalName targets unresolved).
	Forwarder Forwarder
	// LoopDetector, when set, sees the name of every query; when it reports
	// a loop the query is answered SERVFAIL and OnLoop is called (once).
	LoopDetector LoopDetector
	// OnLoop is called once, with the probe name, when LoopDetector reports
	// a loop. Default: only an error log line.
	OnLoop func(name string)
	// Metrics records traffic; nil records nothing.
	Metrics *Metrics
	// Logger gets debug lines for cache hits and misses and errors, and the
	// query log. Default slog.Default().
	Logger *slog.Logger
	// QueryLog logs one Info line per query: name, type, client, transport,
	// rcode, duration, cache hit and source. Default off.
	QueryLog bool
	// UDPBufferSize is the UDP payload size advertised in the OPT record of
	// responses. Default 1232 (the DNS flag day 2020 value).
	UDPBufferSize uint16
	// MaxUDPSize caps the client's advertised UDP payload size used to
	// decide truncation. Default 4096.
	MaxUDPSize uint16
	// TCPIdleTimeout closes a TCP connection that sends no query for this
	// long; it also bounds the wait for the first query. Default 10s.
	TCPIdleTimeout time.Duration
	// MaxTCPConnections bounds the TCP connections open at once; a
	// connection beyond it is closed as soon as it is accepted. Default 1000.
	MaxTCPConnections int
	// MaxTCPPerIP bounds the TCP connections of one client address open at
	// once, so that one client cannot hold every slot of
	// MaxTCPConnections; a connection beyond it is closed as soon as it is
	// accepted. Default 100.
	MaxTCPPerIP int
	// UDPSockets is how many UDP sockets serve Listen, each with its own
	// read loop (answering cache hits in place) and bound with SO_REUSEPORT
	// so that the kernel spreads the queries over them. Default
	// runtime.GOMAXPROCS(0); 1 binds a single socket without SO_REUSEPORT.
	UDPSockets int
	// ShareAddress binds the TCP listener and the UDP sockets with
	// SO_REUSEPORT, so that another process of the same user serves the
	// same address meanwhile (a node-local frontend and its successor
	// during an upgrade). Otherwise a second server on a used address fails
	// to start.
	ShareAddress bool
	// MaxTCPQueries is how many queries one TCP connection may send (they
	// are answered in order) before the server closes it; -1 is unlimited.
	// Default 128.
	MaxTCPQueries int
	// MaxConcurrentMisses bounds the record-service lookups and upstream
	// queries in flight (identical cluster questions share one); the UDP
	// read loop runs at most twice as many queries off its hot path at
	// once. A query beyond either bound is shed (admission.go). Default
	// 1000.
	MaxConcurrentMisses int
	// Local are the hosts entries, static zones and rewrites applied
	// before the record service, the upstreams and the cache; nil: none.
	// Handler.SetLocal replaces them while serving.
	Local *Local
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:1053"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.UDPBufferSize == 0 {
		c.UDPBufferSize = 1232
	}
	if c.MaxUDPSize == 0 {
		c.MaxUDPSize = 4096
	}
	if c.UDPBufferSize < dns.MinMsgSize {
		c.UDPBufferSize = dns.MinMsgSize
	}
	if c.MaxUDPSize < dns.MinMsgSize {
		c.MaxUDPSize = dns.MinMsgSize
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = 10 * time.Second
	}
	if c.MaxTCPConnections <= 0 {
		c.MaxTCPConnections = 1000
	}
	if c.MaxTCPPerIP <= 0 {
		c.MaxTCPPerIP = 100
	}
	if c.UDPSockets <= 0 {
		c.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if c.MaxTCPQueries == 0 || c.MaxTCPQueries < -1 {
		c.MaxTCPQueries = 128
	}
	if c.MaxConcurrentMisses <= 0 {
		c.MaxConcurrentMisses = 1000
	}
	return c
}

func (c Config) validate() error {
	if c.Records == nil {
		return errors.New("dnsserver: Records is required")
	}
	if _, ok := dns.IsDomainName(c.ClusterDomain); !ok || dns.Fqdn(c.ClusterDomain) == "." {
		return fmt.Errorf("dnsserver: bad cluster domain %q", c.ClusterDomain)
	}
	return nil
}

// reverseZones are answered by the record service besides the cluster zone.
const (
	reverseV4 = "in-addr.arpa."
	reverseV6 = "ip6.arpa."
	// clustersetZone is the MCS API's multicluster zone (KEP-1645), whose
	// name its DNS specification fixes: always the record service's to
	// answer, which says it is not (and the upstreams are asked) unless it
	// runs with --multicluster-zone.
	clustersetZone = "clusterset.local."
)

// Sources of an answer, in the query log.
const (
	sourceLocal    = "local"            // made by the handler (errors, refusals)
	sourceCluster  = "cluster"          // the record service
	sourceUpstream = "upstream"         // the upstreams
	sourceChased   = "cluster+upstream" // the record service, completed by the upstreams
)

// Handler answers DNS queries. It is safe for concurrent use.
type Handler struct {
	ctx       context.Context
	zone      string
	records   Records
	cache     *dnscache.Cache
	forwarder Forwarder
	loop      LoopDetector
	onLoop    func(string)
	loopOnce  sync.Once
	metrics   *Metrics
	log       *slog.Logger
	queryLog  bool
	bufSize   uint16
	maxUDP    uint16
	rotation  atomic.Uint32
	// scratch holds *hitScratch buffers for the hot path.
	scratch sync.Pool
	// packBufs holds *[]byte buffers for packing the replies of the
	// dispatched UDP queries (reader.go).
	packBufs sync.Pool
	// misses and dispatch are the admission gates (admission.go).
	misses, dispatch *gate
	// flights shares identical cluster lookups in flight (flight.go).
	flights flights
	// local holds the hosts entries, static zones and rewrites (local.go);
	// nil when there are none.
	local atomic.Pointer[Local]
}

// NewHandler creates a handler. ctx carries values to the record service
// and upstream calls; its cancellation is ignored so that answers in flight
// finish during shutdown (each call has its own deadline).
func NewHandler(ctx context.Context, cfg Config) (*Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		ctx:       context.WithoutCancel(ctx),
		zone:      dns.CanonicalName(cfg.ClusterDomain),
		records:   cfg.Records,
		cache:     cfg.Cache,
		forwarder: cfg.Forwarder,
		loop:      cfg.LoopDetector,
		onLoop:    cfg.OnLoop,
		metrics:   cfg.Metrics,
		log:       cfg.Logger,
		queryLog:  cfg.QueryLog,
		bufSize:   cfg.UDPBufferSize,
		maxUDP:    cfg.MaxUDPSize,
		misses:    newGate(cfg.MaxConcurrentMisses),
		dispatch:  newGate(2 * cfg.MaxConcurrentMisses),
	}
	h.scratch.New = func() any { return new(hitScratch) }
	h.packBufs.New = func() any {
		// Any UDP reply fits: it is truncated to at most MaxUDPSize.
		b := make([]byte, int(cfg.MaxUDPSize)+1)
		return &b
	}
	h.SetLocal(cfg.Local)
	h.metrics.attachMissPath(h)
	return h, nil
}

// exchange is the state of one query while it is answered.
type exchange struct {
	w         dns.ResponseWriter
	req       *dns.Msg
	transport clusterdnsv1.Transport
	// source tells where the answer came from (sourceLocal and friends).
	source string
	// parts counts the cache lookups made for the answer, hits those that
	// hit: the answer is a cache hit when every part was.
	parts, hits int
	// stale is set when part of the answer was served stale.
	stale bool
	// ordered is set when the cluster answer's record order means
	// something (zone-aware: the client's zone first) and is not rotated.
	ordered bool
}

func (x *exchange) lookedUp(hit bool) {
	x.parts++
	if hit {
		x.hits++
	}
}

func (x *exchange) cacheHit() bool { return x.parts > 0 && x.hits == x.parts }

// ServeDNS answers one query.
func (h *Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	if req.Response {
		return
	}
	if uw, probed := w.(*udpWriter); h.fastEnabled() && (!probed || !uw.probed) {
		s := h.scratch.Get().(*hitScratch)
		if parseMsg(req, transportOf(w) == clusterdnsv1.Transport_TRANSPORT_TCP, s) {
			if out, ok := h.serveHit(s, start); ok {
				if _, err := w.Write(out); err != nil {
					h.log.Debug("write DNS response", "client", w.RemoteAddr(), "err", err)
				}
				h.scratch.Put(s)
				return
			}
		}
		h.scratch.Put(s)
	}
	x := &exchange{w: w, req: req, transport: transportOf(w), source: sourceLocal}
	resp := h.answer(x)
	h.finish(req, resp, x.transport)
	// Count and log before writing, so that a client holding the answer
	// finds it in the metrics and the query log.
	var q dns.Question
	if len(req.Question) > 0 {
		q = req.Question[0]
	}
	elapsed := time.Since(start)
	h.metrics.request(q.Qtype, x.transport, resp.Rcode, elapsed)
	if h.queryLog {
		h.log.LogAttrs(h.ctx, slog.LevelInfo, "query",
			slog.String("name", q.Name),
			slog.String("type", dns.Type(q.Qtype).String()),
			slog.String("client", addrString(w.RemoteAddr())),
			slog.String("transport", transportLabel(x.transport)),
			slog.String("rcode", rcodeLabel(resp.Rcode)),
			slog.Duration("duration", elapsed),
			slog.Bool("cache_hit", x.cacheHit()),
			slog.Bool("stale", x.stale),
			slog.String("source", x.source),
		)
	}
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("write DNS response", "client", w.RemoteAddr(), "err", err)
	}
}

// answer computes the response to the query, before EDNS and truncation.
func (h *Handler) answer(x *exchange) *dns.Msg {
	req := x.req
	if req.Opcode != dns.OpcodeQuery {
		return h.rcode(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return h.rcode(req, dns.RcodeFormatError)
	}
	opt, ok := ednsOf(req)
	if !ok {
		return h.rcode(req, dns.RcodeFormatError)
	}
	if opt != nil && opt.Version() != 0 {
		return h.rcode(req, dns.RcodeBadVers)
	}
	q := req.Question[0]
	if q.Qclass == 0 {
		// Class 0 is reserved; miekg/dns also reads a question cut short
		// before its type or class that way.
		return h.rcode(req, dns.RcodeFormatError)
	}
	if q.Qclass != dns.ClassINET {
		return h.rcode(req, dns.RcodeRefused)
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		return h.rcode(req, dns.RcodeRefused)
	}
	if h.loop != nil && h.loop.Seen(q.Name) {
		h.loopDetected(q.Name)
		return h.rcode(req, dns.RcodeServerFailure)
	}
	if l := h.local.Load(); l != nil {
		if m, ok := h.answerLocal(x, l); ok {
			return m
		}
	}
	return h.resolve(x)
}

// resolve answers x's question through the record service or the
// upstreams.
func (h *Handler) resolve(x *exchange) *dns.Msg {
	if h.inRecordZones(x.req.Question[0].Name) {
		return h.cluster(x)
	}
	return h.upstream(x, x.req)
}

// ednsOf returns the request's OPT record, and false when the additional
// section holds several OPT records or one not owned by the root (RFC 6891
// section 6.1.1: FORMERR).
func ednsOf(req *dns.Msg) (*dns.OPT, bool) {
	var opt *dns.OPT
	for _, rr := range req.Extra {
		o, isOPT := rr.(*dns.OPT)
		if !isOPT {
			continue
		}
		if opt != nil || o.Hdr.Name != "." {
			return nil, false
		}
		opt = o
	}
	return opt, true
}

// loopDetected reports a forwarding loop once.
func (h *Handler) loopDetected(name string) {
	h.loopOnce.Do(func() {
		h.log.Error("forwarding loop: the loop probe sent to the upstreams came back to this server; "+
			"an upstream forwards to us (check --upstream, --stub-domain and /etc/resolv.conf)", "probe", name)
		if h.onLoop != nil {
			h.onLoop(name)
		}
	})
}

// inRecordZones reports whether the record service answers name.
func (h *Handler) inRecordZones(name string) bool {
	if strings.IndexByte(name, '\\') >= 0 {
		// An escaped dot is no label boundary: let miekg/dns read the
		// labels.
		return dns.IsSubDomain(h.zone, name) || dns.IsSubDomain(reverseV4, name) || dns.IsSubDomain(reverseV6, name) ||
			dns.IsSubDomain(clustersetZone, name)
	}
	// Without escapes the labels show in the text: a suffix test, unlike
	// dns.IsSubDomain, costs no allocation on every miss.
	for _, zone := range [...]string{h.zone, reverseV4, reverseV6, clustersetZone} {
		if inZoneText(name, zone) {
			return true
		}
	}
	return false
}

// inZoneText reports whether the fully qualified name, written without
// escapes, is zone (fully qualified, lower case) or under it, ignoring
// case.
func inZoneText(name, zone string) bool {
	if zone == "." {
		return true
	}
	if len(name) < len(zone) || !strings.EqualFold(name[len(name)-len(zone):], zone) {
		return false
	}
	return len(name) == len(zone) || name[len(name)-len(zone)-1] == '.'
}

// cluster answers a question of the record service's zones: from the
// record service (through the cache), completing ExternalName answers and
// falling through to the upstreams for names the record service does not
// know.
func (h *Handler) cluster(x *exchange) *dns.Msg {
	m, notAuthoritative := h.lookup(x)
	if notAuthoritative {
		x.source = sourceUpstream
		return h.upstream(x, x.req)
	}
	q := x.req.Question[0]
	if h.forwarder != nil && m.Rcode == dns.RcodeSuccess {
		if target := h.chaseTarget(m, q); target != "" {
			return h.chase(x, m, target)
		}
	}
	if !x.ordered {
		h.rotate(m, q.Qtype)
	}
	return m
}

// lookup asks the record service, through the cache. notAuthoritative is
// true when the record service does not answer the name.
func (h *Handler) lookup(x *exchange) (m *dns.Msg, notAuthoritative bool) {
	req := x.req
	q := req.Question[0]
	x.source = sourceCluster
	var fill dnscache.Fill
	// The key names the question in flights as well.
	key := dnscache.NewKey(q.Name, q.Qtype, q.Qclass, doBit(req))
	if h.cache != nil {
		r, ok := h.cache.Get(key)
		x.lookedUp(ok)
		if ok && r.NotAuthoritative {
			return nil, true
		}
		if ok {
			x.ordered = r.Ordered
			if h.log.Enabled(h.ctx, slog.LevelDebug) {
				h.log.Debug("cache hit", "name", q.Name, "qtype", dns.Type(q.Qtype).String(), "rcode", dns.RcodeToString[r.Rcode])
			}
			m := h.reply(req, r.Rcode)
			m.Authoritative = true
			m.Truncated = r.Truncated
			m.Answer, m.Ns, m.Extra = r.Answer, r.Ns, r.Extra
			return m, false
		}
		if h.log.Enabled(h.ctx, slog.LevelDebug) {
			h.log.Debug("cache miss", "name", q.Name, "qtype", dns.Type(q.Qtype).String())
		}
		fill = h.cache.Begin()
	}

	resp, shared, err := h.fetch(x, q, key)
	switch {
	case errors.Is(err, errShed):
		return h.shed(x, key, shedMisses)
	case errors.Is(err, recordclient.ErrOverloaded):
		return h.shed(x, key, shedLookupQueue)
	case err != nil:
		h.log.Debug("record service lookup failed", "name", q.Name, "qtype", dns.Type(q.Qtype).String(), "err", err)
		return h.staleCluster(x, key)
	}
	m, err = recordclient.ToMsg(req, resp)
	switch {
	case errors.Is(err, recordclient.ErrNotAuthoritative):
		if !shared {
			h.cacheNotAuthoritative(key, fill, resp)
		}
		return nil, true
	case errors.Is(err, recordclient.ErrNotReady):
		h.log.Debug("record service not ready", "name", q.Name)
		return h.staleCluster(x, key)
	case err != nil:
		h.log.Error("record service answer unusable", "name", q.Name, "qtype", dns.Type(q.Qtype).String(), "err", err)
		return h.staleCluster(x, key)
	}
	if shared {
		ownCase(m, q.Name)
	}
	// An answer the record service cut to fit a DNS message carries TC
	// over UDP and TCP alike, so that a client needing the whole RRset
	// knows it does not have it; it is cached with the mark, since asking
	// again gives the same cut.
	m.Truncated = resp.GetTruncated()
	m.RecursionAvailable = h.forwarder != nil
	x.ordered = resp.GetZoneDependent()
	// An answer computed for the asking client only (its search path, its
	// visibility) is not cached.
	// A shared answer was cached by the caller that made the lookup.
	if h.cache != nil && !shared && !perClient(resp) {
		r := dnscache.Response{
			Rcode:     m.Rcode,
			Answer:    m.Answer,
			Ns:        m.Ns,
			Extra:     m.Extra,
			Truncated: m.Truncated,
			Ordered:   resp.GetZoneDependent(),
			TTL:       resp.GetTtl(),
			Cluster:   true,
			Revision:  resp.GetRevision(),
			ServerID:  resp.GetServerId(),
			Keys:      resp.GetKeys(),
		}
		h.cache.Set(key, fill, r)
		if ab := resp.GetAbsentBelow(); ab != nil && q.Qclass == dns.ClassINET {
			h.cache.SetAbsent(fill, q.Name, ab.GetApex(), ab.GetLabels(), ab.GetKeys(), r)
		}
	}
	return m, false
}

// staleCluster answers a cluster question the record service could not
// answer: from the cache, stale, when it holds the answer within its
// serve-stale bound, else SERVFAIL (never NXDOMAIN). notAuthoritative is
// true when what the cache holds is the verdict that the upstreams answer
// the name.
func (h *Handler) staleCluster(x *exchange, key dnscache.Key) (m *dns.Msg, notAuthoritative bool) {
	if h.cache != nil {
		if r, ok := h.cache.GetStale(key); ok {
			if r.NotAuthoritative {
				return nil, true
			}
			x.stale = true
			x.ordered = r.Ordered
			h.metrics.staleAnswer(sourceCluster)
			m := h.reply(x.req, r.Rcode)
			m.Authoritative = true
			m.Truncated = r.Truncated
			m.Answer, m.Ns, m.Extra = r.Answer, r.Ns, r.Extra
			return m, false
		}
	}
	return h.rcode(x.req, dns.RcodeServerFailure), false
}

// chaseTarget returns the name an answer of the record service leaves for
// the upstreams: the end of the CNAME chain that starts at the question
// name, when the chain has at least one CNAME, the question is for another
// type than CNAME or ANY, the answer has no record of that type for the end
// of the chain, and the end lies outside the cluster zone. Otherwise "".
func (h *Handler) chaseTarget(m *dns.Msg, q dns.Question) string {
	if q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeANY {
		return ""
	}
	name, hops := q.Name, 0
	// Each step follows one CNAME; a chain cannot be longer than the answer.
	for range len(m.Answer) {
		var next string
		for _, rr := range m.Answer {
			hdr := rr.Header()
			if !strings.EqualFold(hdr.Name, name) {
				continue
			}
			if hdr.Rrtype == q.Qtype {
				return ""
			}
			if c, ok := rr.(*dns.CNAME); ok {
				next = c.Target
			}
		}
		if next == "" {
			break
		}
		name, hops = next, hops+1
	}
	if hops == 0 || dns.IsSubDomain(h.zone, name) {
		return ""
	}
	return dns.Fqdn(name)
}

// chase completes an answer of the record service that ends with a CNAME
// to target, outside the cluster zone, with the upstreams' answer for
// target: the CNAMEs followed by the upstream's records, its rcode, its
// authority section and TC bit. When the upstreams give no usable answer
// (an error, SERVFAIL, REFUSED) the reply is that rcode alone.
func (h *Handler) chase(x *exchange, m *dns.Msg, target string) *dns.Msg {
	req := x.req
	sub := new(dns.Msg)
	sub.SetQuestion(target, req.Question[0].Qtype)
	sub.Id = req.Id
	sub.RecursionDesired = true
	sub.CheckingDisabled = req.CheckingDisabled
	if opt := req.IsEdns0(); opt != nil {
		sub.SetEdns0(opt.UDPSize(), opt.Do())
	}
	r := h.upstream(x, sub)
	x.source = sourceChased
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return h.rcode(req, r.Rcode)
	}
	m.Answer = append(m.Answer, r.Answer...)
	m.Ns = r.Ns
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	m.Rcode = r.Rcode
	m.Truncated = m.Truncated || r.Truncated
	m.RecursionAvailable = true
	return m
}

// upstream resolves req through the Forwarder, from the cache when it can,
// or refuses it when there is no Forwarder. The reply carries req's ID and
// question.
func (h *Handler) upstream(x *exchange, req *dns.Msg) *dns.Msg {
	if h.forwarder == nil {
		return h.rcode(req, dns.RcodeRefused)
	}
	if x.source == sourceLocal {
		x.source = sourceUpstream
	}
	q := req.Question[0]
	// An answer obtained with checking disabled may be one a validating
	// upstream would refuse: serve it to that client only.
	cacheable := h.cache != nil && !req.CheckingDisabled
	var key dnscache.Key
	if cacheable {
		key = dnscache.NewForwardKey(q.Name, q.Qtype, q.Qclass, doBit(req))
		r, ok := h.cache.Get(key)
		x.lookedUp(ok)
		if ok {
			m := h.reply(req, r.Rcode)
			m.RecursionAvailable = true
			m.AuthenticatedData = r.AuthenticatedData
			m.Answer, m.Ns, m.Extra = r.Answer, r.Ns, r.Extra
			h.rotate(m, q.Qtype)
			return m
		}
	}
	if !h.misses.enter() {
		h.metrics.shed(shedMisses)
		if cacheable {
			if m, ok := h.staleUpstream(x, req, key); ok {
				return m
			}
		}
		return h.rcode(req, dns.RcodeRefused)
	}
	m, err := h.forwarder.Forward(h.ctx, req)
	h.misses.leave()
	if cacheable && (err != nil || m == nil || m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused) {
		if m, ok := h.staleUpstream(x, req, key); ok {
			h.log.Debug("upstreams failed: serving stale", "name", q.Name, "err", err)
			return m
		}
	}
	switch {
	case errors.Is(err, forward.ErrOverloaded):
		h.log.Debug("forward refused: too many upstream queries in flight", "name", q.Name)
		return h.rcode(req, dns.RcodeRefused)
	case err != nil || m == nil:
		h.log.Debug("forward failed", "name", q.Name, "err", err)
		return h.rcode(req, dns.RcodeServerFailure)
	}
	m.Id = req.Id
	m.Response = true
	m.Opcode = dns.OpcodeQuery
	m.RecursionDesired = req.RecursionDesired
	m.RecursionAvailable = true
	// Keep the asker's letter case in the question.
	m.Question = []dns.Question{q}
	if cacheable {
		r := dnscache.Response{
			Rcode:             m.Rcode,
			Answer:            m.Answer,
			Ns:                m.Ns,
			Extra:             withoutOPT(m.Extra),
			AuthenticatedData: m.AuthenticatedData,
			Truncated:         m.Truncated,
		}
		if ttl := h.cache.Lifetime(r); ttl > 0 {
			h.cache.Set(key, dnscache.Fill{}, r)
			// The client sees what a cache hit would show now.
			for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
				dnscache.SetTTL(section, ttl)
			}
		}
	}
	h.rotate(m, q.Qtype)
	return m
}

// staleUpstream answers req from the upstream cache entry key past its
// life, when serve-stale holds one.
func (h *Handler) staleUpstream(x *exchange, req *dns.Msg, key dnscache.Key) (*dns.Msg, bool) {
	r, ok := h.cache.GetStale(key)
	if !ok {
		return nil, false
	}
	x.stale = true
	h.metrics.staleAnswer(sourceUpstream)
	m := h.reply(req, r.Rcode)
	m.RecursionAvailable = true
	m.AuthenticatedData = r.AuthenticatedData
	m.Answer, m.Ns, m.Extra = r.Answer, r.Ns, r.Extra
	h.rotate(m, req.Question[0].Qtype)
	return m, true
}

// doBit reports whether req asks for DNSSEC records.
func doBit(req *dns.Msg) bool {
	opt := req.IsEdns0()
	return opt != nil && opt.Do()
}

// withoutOPT returns rrs without OPT records (a new slice when there was one).
func withoutOPT(rrs []dns.RR) []dns.RR {
	for i, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			out := append([]dns.RR(nil), rrs[:i]...)
			for _, r := range rrs[i+1:] {
				if r.Header().Rrtype != dns.TypeOPT {
					out = append(out, r)
				}
			}
			return out
		}
	}
	return rrs
}

// reply starts a response to req with rcode.
func (h *Handler) reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = h.forwarder != nil
	return m
}

// rcode is a response without records.
func (h *Handler) rcode(req *dns.Msg, rcode int) *dns.Msg {
	m := h.reply(req, rcode)
	if rcode == dns.RcodeNotImplemented || rcode == dns.RcodeFormatError {
		m.Opcode = req.Opcode
	}
	return m
}

// rotate turns the order of an answer made only of A or AAAA records of the
// asked type, so that clients taking the first address spread their load.
func (h *Handler) rotate(m *dns.Msg, qtype uint16) {
	n := len(m.Answer)
	if n < 2 || (qtype != dns.TypeA && qtype != dns.TypeAAAA) {
		return
	}
	for _, rr := range m.Answer {
		if rr.Header().Rrtype != qtype {
			return
		}
	}
	shift := int(h.rotation.Add(1) % uint32(n))
	if shift == 0 {
		return
	}
	rotated := make([]dns.RR, 0, n)
	rotated = append(rotated, m.Answer[shift:]...)
	rotated = append(rotated, m.Answer[:shift]...)
	m.Answer = rotated
}

// finish adds the OPT record a client that sent one expects and truncates a
// UDP response to what the client can take.
func (h *Handler) finish(req, resp *dns.Msg, transport clusterdnsv1.Transport) {
	// Never pass on an OPT record of someone else (a forwarded reply).
	resp.Extra = withoutOPT(resp.Extra)
	opt := req.IsEdns0()
	if opt == nil && resp.Rcode > 0xF {
		// An extended rcode needs an OPT record the client did not ask for.
		resp.Rcode = dns.RcodeServerFailure
	}
	if opt != nil {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(h.bufSize)
		if opt.Do() {
			o.SetDo()
		}
		resp.Extra = append(resp.Extra, o)
	}
	size := dns.MaxMsgSize
	if transport != clusterdnsv1.Transport_TRANSPORT_TCP {
		size = dns.MinMsgSize
		if opt != nil {
			size = int(min(max(opt.UDPSize(), dns.MinMsgSize), h.maxUDP))
		}
	}
	resp.Truncate(size)
	resp.Compress = true
}

// transportOf tells how a query arrived.
func transportOf(w dns.ResponseWriter) clusterdnsv1.Transport {
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		return clusterdnsv1.Transport_TRANSPORT_TCP
	}
	return clusterdnsv1.Transport_TRANSPORT_UDP
}

// clientIP is the address of the client in text form, empty when unknown.
func clientIP(w dns.ResponseWriter) string {
	var ip net.IP
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return ip.String()
}

// addrString is an address in text form, empty for nil.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// transportLabel names a transport in metrics.
func transportLabel(t clusterdnsv1.Transport) string {
	if t == clusterdnsv1.Transport_TRANSPORT_TCP {
		return "tcp"
	}
	return "udp"
}

// qtypeLabel names a query type in metrics; unknown types share one label
// so that the label set stays bounded.
func qtypeLabel(qtype uint16) string {
	if s, ok := dns.TypeToString[qtype]; ok {
		return s
	}
	return "other"
}

// rcodeLabel names an rcode in metrics.
func rcodeLabel(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
