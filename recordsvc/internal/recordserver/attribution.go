package recordserver

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/visibility"
)

// Labels of clusterdns_recordsvc_requests_by_namespace_total for clients no
// single namespace's pods hold.
const (
	// clientUnknown: no running pod has the address (or pods are not
	// watched: --pods other than verified), or the request named none.
	clientUnknown = "unknown"
	// clientHost: pods of several namespaces share the address, as
	// host-network pods share their node's.
	clientHost = "host"
)

// client is the asker of one Lookup as the address index knows it.
type client struct {
	ip        netip.Addr // invalid when the request named none
	namespace string     // "" unless exactly one namespace's pods hold ip
	pod       string     // with --query-log, when exactly one pod holds ip
	label     string     // the metric's namespace label
}

// clients attributes Lookups to the asking pods (metric and query log) and
// holds the visibility policy (visibility.go).
type clients struct {
	ix       *kubeindex.Index
	logger   *slog.Logger
	queryLog bool
	policy   *visibility.Source // nil: no policy, every client sees everything

	requests *prometheus.CounterVec
	// unknown and host are requests' series that are never removed,
	// resolved once: most Lookups of a cluster without --pods verified
	// count as unknown, and resolving a label costs a hash and a lookup.
	unknown, host prometheus.Counter

	mu sync.Mutex
	// policyDigest is the current policy's share of the index digest.
	policyDigest kubeindex.Digest
	// labels are the namespace labels counted so far, so that those of
	// deleted namespaces can be removed.
	labels map[string]struct{}
}

func newClients(ix *kubeindex.Index, logger *slog.Logger) *clients {
	c := &clients{
		ix:     ix,
		logger: logger,
		labels: make(map[string]struct{}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_requests_by_namespace_total",
			Help: "Lookups by the namespace of the asking pod, found from the client address in the pod index " +
				"(--pods verified); unknown when no running pod has the address, host when pods of several " +
				"namespaces share it. Series of deleted namespaces are removed.",
		}, []string{"namespace"}),
	}
	c.unknown = c.requests.WithLabelValues(clientUnknown)
	c.host = c.requests.WithLabelValues(clientHost)
	return c
}

// SetQueryLog turns on one Info line per Lookup naming the client's
// address, pod and namespace, the question and the result. The pod name
// needs an index made with kubeindex.Config.PodNames.
func (s *Server) SetQueryLog(on bool) { s.clients.queryLog = on }

// attribute finds the pod behind the address a request names.
func (c *clients) attribute(ipText string) client {
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return client{label: clientUnknown}
	}
	return c.attributeAddr(ip)
}

// attributeAddr is attribute of a parsed address; the zero Addr is no
// address.
func (c *clients) attributeAddr(ip netip.Addr) client {
	if !ip.IsValid() {
		return client{label: clientUnknown}
	}
	ip = ip.Unmap().WithZone("")
	cl := client{ip: ip, label: clientUnknown}
	switch namespaces := c.ix.PodNamespacesByIP(ip); len(namespaces) {
	case 0:
	case 1:
		cl.namespace, cl.label = namespaces[0], namespaces[0]
	default:
		cl.label = clientHost
	}
	if c.queryLog {
		if pods := c.ix.PodsByIP(ip); len(pods) == 1 {
			cl.pod = pods[0].Name
		}
	}
	return cl
}

// observe counts a Lookup for its client and logs it with --query-log.
func (c *clients) observe(req *clusterdnsv1.LookupRequest, cl client, resp *clusterdnsv1.LookupResponse, d time.Duration) {
	if cl.namespace != "" {
		c.mu.Lock()
		c.labels[cl.namespace] = struct{}{}
		c.mu.Unlock()
	}
	switch cl.label {
	case clientUnknown:
		c.unknown.Inc()
	case clientHost:
		c.host.Inc()
	default:
		c.requests.WithLabelValues(cl.label).Inc()
	}
	if !c.queryLog {
		return
	}
	c.logger.Info("lookup", "name", req.GetName(), "qtype", req.GetQtype(), "client_ip", req.GetClientIp(),
		"namespace", cl.label, "pod", cl.pod, "result", resultLabel(resp.GetResult()),
		"client_specific", resp.GetClientSpecific(), "duration", d)
}

// pruneDeleted removes the series of deleted namespaces as the index
// announces them, until ctx ends; the metric's cardinality is bounded by
// the namespaces that exist plus unknown and host.
func (c *clients) pruneDeleted(ctx context.Context) {
	for ctx.Err() == nil {
		sub := c.ix.Subscribe(ctx)
		c.sweep(nil) // a change missed while resubscribing
		for {
			ch, err := sub.Next(ctx)
			if err != nil {
				break
			}
			c.sweep(ch.Keys)
		}
		sub.Close()
	}
}

// sweep removes the series of the namespaces named by keys (every counted
// one when keys is nil) that no longer exist.
func (c *clients) sweep(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	check := func(ns string) {
		if _, counted := c.labels[ns]; counted && !c.ix.NamespaceExists(ns) {
			delete(c.labels, ns)
			c.requests.DeleteLabelValues(ns)
		}
	}
	if keys == nil {
		for ns := range c.labels {
			check(ns)
		}
		return
	}
	for _, k := range keys {
		if ns, ok := strings.CutPrefix(k, "ns/"); ok {
			check(ns)
		}
	}
}
