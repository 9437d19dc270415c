package dnsserver

import (
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// notAuthoritativeTTL is how long, in seconds, a NOT_AUTHORITATIVE verdict
// without a ttl of its own is cached when the Watch stream does not keep
// it exact: the record service's default record TTL.
const notAuthoritativeTTL = 30

// fetch asks the record service about q, sharing the lookup with the
// identical questions in flight (flight.go) and holding a miss slot while
// it runs: errShed when there is none. shared is true when the answer
// came from another client's lookup.
func (h *Handler) fetch(x *exchange, q dns.Question, key dnscache.Key) (resp *clusterdnsv1.LookupResponse, shared bool, err error) {
	ip := clientIP(x.w)
	call := func() (*clusterdnsv1.LookupResponse, error) {
		if !h.misses.enter() {
			return nil, errShed
		}
		defer h.misses.leave()
		start := time.Now()
		resp, err := h.records.Lookup(h.ctx, q.Name, q.Qtype, ip, x.transport)
		h.metrics.lookup(resp, err, time.Since(start))
		return resp, err
	}
	resp, err, shared, leaderIP := h.flights.do(flightKey{key.ID(), x.transport}, ip, call)
	if shared && err == nil && perClient(resp) && leaderIP != ip {
		// Computed for the other client (its search path, its
		// visibility): not this client's answer.
		resp, err = call()
		shared = false
	}
	return resp, shared, err
}

// shed answers a cluster question that was not looked up for lack of
// room (reason, see admission.go) as staleCluster does, but with REFUSED
// rather than SERVFAIL when the cache holds nothing.
func (h *Handler) shed(x *exchange, key dnscache.Key, reason string) (m *dns.Msg, notAuthoritative bool) {
	h.metrics.shed(reason)
	h.log.Debug("miss shed", "name", x.req.Question[0].Name, "reason", reason)
	if m, notAuthoritative := h.staleCluster(x, key); notAuthoritative || m.Rcode != dns.RcodeServerFailure {
		return m, notAuthoritative
	}
	return h.rcode(x.req, dns.RcodeRefused), false
}

// cacheNotAuthoritative caches the record service's verdict that it does
// not answer a name (an unknown reverse name), with the invalidation keys
// it depends on, so that the next query for the name goes to the
// upstreams without a lookup: every PTR query for an address outside the
// cluster would otherwise cost a round trip to the record service. The
// verdict is kept exact by the Watch stream like any cluster answer.
func (h *Handler) cacheNotAuthoritative(key dnscache.Key, fill dnscache.Fill, resp *clusterdnsv1.LookupResponse) {
	if h.cache == nil || perClient(resp) {
		return
	}
	ttl := resp.GetTtl()
	if ttl == 0 {
		ttl = notAuthoritativeTTL
	}
	h.cache.Set(key, fill, dnscache.Response{
		NotAuthoritative: true,
		TTL:              ttl,
		Cluster:          true,
		Revision:         resp.GetRevision(),
		ServerID:         resp.GetServerId(),
		Keys:             resp.GetKeys(),
	})
}
