// Package corednsmetrics exposes the frontend's traffic under the metric
// names and labels of CoreDNS (its prometheus, cache and forward plugins),
// so that the dashboards and alerts written for CoreDNS (the coredns-mixin
// among them) work on clusterdns unchanged.
//
// Nothing is counted twice: the Collector reads the frontend's own
// clusterdns_* series when it is scraped and sums or renames them. The
// label values follow CoreDNS where the frontend has the data, and are
// fixed where it has not:
//
//   - zone and zones are "." and view is empty: every query goes to one
//     server, as in kubeadm's Corefile with its single ".:53" block;
//   - server is "dns://" and the DNS listen address, with an empty host
//     for a wildcard address ("dns://:53"), as CoreDNS writes it;
//   - family is that of the listen address ("1" for IPv4 and wildcards,
//     "2" for an IPv6 address): the frontend does not count by client
//     address family;
//   - type of the request series is CoreDNS's list of common query types,
//     "other" for the rest;
//   - plugin of coredns_dns_responses_total is empty (CoreDNS's value for
//     a response the server itself wrote): one handler writes every answer;
//   - type of the cache series is "all": the cache counts positive and
//     negative answers together, where CoreDNS splits them into "success"
//     and "denial";
//   - coredns_panics_total stays 0: the frontend recovers no panic (a
//     panic ends the process, which the kubelet restarts and counts).
package corednsmetrics

import (
	"errors"
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clusterdns/clusterdns/frontend/internal/seriessum"
)

// The frontend's series the Collector reads.
const (
	srcRequests        = "clusterdns_frontend_requests_total"
	srcDuration        = "clusterdns_frontend_request_duration_by_qtype_seconds"
	srcCacheHits       = "clusterdns_frontend_cache_hits_total"
	srcCacheMisses     = "clusterdns_frontend_cache_misses_total"
	srcCacheEntries    = "clusterdns_frontend_cache_entries"
	srcForwardDuration = "clusterdns_forward_upstream_duration_seconds"
	srcForwardErrors   = "clusterdns_forward_upstream_errors_total"
	srcForwardHealthy  = "clusterdns_forward_upstream_healthy"
)

// zone is the zone (and cache zones) label of every series.
const zone = "."

// cacheType is the type label of the cache series (see the package
// comment).
const cacheType = "all"

// Collector emits the CoreDNS series from what a Gatherer of the
// frontend's own series holds when it is scraped.
type Collector struct {
	source         prometheus.Gatherer
	server, family string
	d              descs
}

type descs struct {
	requests, responses, duration               *prometheus.Desc
	cacheHits, cacheMisses, cacheRequests       *prometheus.Desc
	cacheEntries                                *prometheus.Desc
	forwardRequests, forwardResponses, forwardD *prometheus.Desc
	panics                                      *prometheus.Desc
}

// New returns a Collector reading source, which must gather the
// frontend's clusterdns_* series (and the by-type duration histogram,
// dnsserver.Metrics.QtypeDurations) but not the Collector itself. listen
// is the DNS address the frontend serves (HOST:PORT).
func New(source prometheus.Gatherer, listen string) *Collector {
	server, family := ServerLabels(listen)
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{source: source, server: server, family: family, d: descs{
		requests: d("coredns_dns_requests_total", "DNS requests, by server, zone, view, transport, address family and query type (CoreDNS name).",
			"server", "zone", "view", "proto", "family", "type"),
		responses: d("coredns_dns_responses_total", "DNS responses, by server, zone, view, rcode and plugin (CoreDNS name).",
			"server", "zone", "view", "rcode", "plugin"),
		duration: d("coredns_dns_request_duration_seconds", "Time to answer a DNS request, by server, zone, view and query type (CoreDNS name).",
			"server", "zone", "view", "type"),
		cacheHits: d("coredns_cache_hits_total", "Responses served from the cache (CoreDNS name; type \"all\": positive and negative together).",
			"server", "type", "zones", "view"),
		cacheMisses: d("coredns_cache_misses_total", "Cache lookups that found nothing servable (CoreDNS name).",
			"server", "zones", "view"),
		cacheRequests: d("coredns_cache_requests_total", "Cache lookups, hits and misses (CoreDNS name).",
			"server", "zones", "view"),
		cacheEntries: d("coredns_cache_entries", "Responses held in the cache (CoreDNS name; type \"all\").",
			"server", "type", "zones", "view"),
		forwardRequests: d("coredns_forward_requests_total", "Queries sent to each upstream, answered or not (CoreDNS name).",
			"to"),
		forwardResponses: d("coredns_forward_responses_total", "Replies from each upstream, by rcode (CoreDNS name).",
			"to", "rcode"),
		forwardD: d("coredns_forward_request_duration_seconds", "Duration of the upstream queries that got a reply, by upstream and rcode (CoreDNS name).",
			"to", "rcode"),
		panics: d("coredns_panics_total", "Panics recovered (CoreDNS name): always 0, the frontend recovers none."),
	}}
}

// ServerLabels returns the server and family labels of a DNS listen
// address: "dns://:53" and "1" for "0.0.0.0:53".
func ServerLabels(listen string) (server, family string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "dns://" + listen, "1"
	}
	family = "1"
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.IsUnspecified() {
			host = ""
		} else if addr.Is6() && !addr.Is4In6() {
			family = "2"
		}
	}
	if host == "" {
		return "dns://:" + port, family
	}
	return "dns://" + net.JoinHostPort(host, port), family
}

// Describe sends the descriptors of every CoreDNS series.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.d.requests, c.d.responses, c.d.duration, c.d.cacheHits, c.d.cacheMisses,
		c.d.cacheRequests, c.d.cacheEntries, c.d.forwardRequests, c.d.forwardResponses, c.d.forwardD, c.d.panics} {
		ch <- d
	}
}

// Collect gathers the source and emits the CoreDNS series. A source that
// fails in part still yields what it gathered, and the failure is
// reported as an invalid metric, which makes the scrape say so.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	families, err := c.source.Gather()
	if err != nil {
		var multi prometheus.MultiError
		if !errors.As(err, &multi) || len(families) == 0 {
			ch <- prometheus.NewInvalidMetric(c.d.requests, err)
			return
		}
	}
	byName := make(map[string][]*dto.Metric, len(families))
	for _, f := range families {
		byName[f.GetName()] = f.GetMetric()
	}
	c.dns(ch, byName)
	c.cache(ch, byName)
	c.forward(ch, byName)
	ch <- prometheus.MustNewConstMetric(c.d.panics, prometheus.CounterValue, 0)
}

// dns emits the server's request, response and duration series.
func (c *Collector) dns(ch chan<- prometheus.Metric, src map[string][]*dto.Metric) {
	var requests, responses, duration seriessum.Sums
	for _, m := range src[srcRequests] {
		requests.Add(m, c.server, zone, "", seriessum.Label(m, "transport"), c.family, coreType(seriessum.Label(m, "qtype")))
		responses.Add(m, c.server, zone, "", seriessum.Label(m, "rcode"), "")
	}
	for _, m := range src[srcDuration] {
		duration.Add(m, c.server, zone, "", coreType(seriessum.Label(m, "qtype")))
	}
	requests.Emit(ch, c.d.requests, prometheus.CounterValue)
	responses.Emit(ch, c.d.responses, prometheus.CounterValue)
	duration.EmitHistograms(ch, c.d.duration)
}

// cache emits the cache series when the frontend has a cache.
func (c *Collector) cache(ch chan<- prometheus.Metric, src map[string][]*dto.Metric) {
	hits, okHits := single(src[srcCacheHits])
	misses, okMisses := single(src[srcCacheMisses])
	if okHits {
		ch <- prometheus.MustNewConstMetric(c.d.cacheHits, prometheus.CounterValue, hits, c.server, cacheType, zone, "")
	}
	if okMisses {
		ch <- prometheus.MustNewConstMetric(c.d.cacheMisses, prometheus.CounterValue, misses, c.server, zone, "")
	}
	if okHits && okMisses {
		ch <- prometheus.MustNewConstMetric(c.d.cacheRequests, prometheus.CounterValue, hits+misses, c.server, zone, "")
	}
	if entries, ok := single(src[srcCacheEntries]); ok {
		ch <- prometheus.MustNewConstMetric(c.d.cacheEntries, prometheus.GaugeValue, entries, c.server, cacheType, zone, "")
	}
}

// forward emits the forwarder's series: each configured upstream from the
// start, its requests being the attempts that got a reply plus those that
// ended without one.
func (c *Collector) forward(ch chan<- prometheus.Metric, src map[string][]*dto.Metric) {
	var requests, responses, duration seriessum.Sums
	for _, m := range src[srcForwardHealthy] {
		requests.Touch(nil, seriessum.Label(m, "upstream"))
	}
	for _, m := range src[srcForwardDuration] {
		to, rcode := seriessum.Label(m, "upstream"), seriessum.Label(m, "rcode")
		duration.Add(m, to, rcode)
		n := float64(m.GetHistogram().GetSampleCount())
		responses.AddValue(n, to, rcode)
		requests.AddValue(n, to)
	}
	for _, m := range src[srcForwardErrors] {
		if unanswered(seriessum.Label(m, "reason")) {
			requests.Add(m, seriessum.Label(m, "upstream"))
		}
	}
	requests.Emit(ch, c.d.forwardRequests, prometheus.CounterValue)
	responses.Emit(ch, c.d.forwardResponses, prometheus.CounterValue)
	duration.EmitHistograms(ch, c.d.forwardD)
}

// unanswered reports whether a reason of
// clusterdns_forward_upstream_errors_total ends an attempt without a
// reply; the attempts that got one are the count of the duration
// histogram. The other reasons (servfail, refused: counted by rcode too;
// mismatch, malformed: datagrams ignored) are no attempts of their own.
func unanswered(reason string) bool {
	switch reason {
	case "timeout", "network", "tcp":
		return true
	}
	return false
}

// coreType maps the frontend's qtype label to CoreDNS's type label: the
// query types CoreDNS names, "other" for the rest.
func coreType(qtype string) string {
	switch qtype {
	case "A", "AAAA", "MX", "SOA", "CNAME", "PTR", "TXT", "NS", "SRV", "DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3",
		"HTTPS", "IXFR", "AXFR", "ANY":
		return qtype
	}
	return "other"
}

// single returns the value of a family of one unlabelled counter or
// gauge.
func single(ms []*dto.Metric) (float64, bool) {
	if len(ms) != 1 {
		return 0, false
	}
	return ms[0].GetCounter().GetValue() + ms[0].GetGauge().GetValue(), true
}
