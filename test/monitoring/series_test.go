package monitoring

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	// exampleCluster is the record service's --source file.
	exampleCluster = "../../deploy/examples/cluster.yaml"
	// clusterName is a Service of exampleCluster.
	clusterName = "kubernetes.default.svc.cluster.local"
	// forwardedName is outside the cluster zone: the frontend forwards it
	// to the test's upstream.
	forwardedName = "www.monitoring.test"
	// pollTimeout and pollEvery bound the waits for a counter to move.
	pollTimeout = 10 * time.Second
	pollEvery   = 100 * time.Millisecond
)

// running is a frontend and a record service on loopback with an upstream
// of the test's, and scrapes of both taken after real traffic.
type running struct {
	fe, rs   *stack.Process
	upstream string
	// before is the frontend's scrape before any query; frontend and
	// recordsvc are the scrapes after the traffic (the frontend's after
	// the record service was stopped, so that its lookup errors show).
	before, frontend, recordsvc stack.Metrics
}

// startWithTraffic starts the stack and sends the traffic every test of
// the package reads the metrics of: cluster names over UDP and TCP, a name
// asked until it is answered from the cache, an NXDOMAIN, a forwarded
// name, and, once the record service is stopped, a cluster name that
// cannot be looked up.
func startWithTraffic(t *testing.T) *running {
	t.Helper()
	bins := stack.Installed(t)
	r := &running{upstream: answeringUpstream(t)}
	r.rs = stack.StartRecordService(t, bins, "--source", "file:"+exampleCluster)
	r.fe = stack.StartFrontend(t, bins, r.rs.Addr, "--upstream", r.upstream)
	r.before = stack.ScrapeMetrics(t, r.fe.MetricsAddr)

	for _, q := range []struct {
		name  string
		qtype uint16
		tcp   bool
		rcode int
	}{
		{clusterName, dns.TypeA, false, dns.RcodeSuccess},
		{clusterName, dns.TypeA, true, dns.RcodeSuccess},
		{"nope.default.svc.cluster.local", dns.TypeA, false, dns.RcodeNameError},
		{forwardedName, dns.TypeA, false, dns.RcodeSuccess},
		{forwardedName, dns.TypeA, true, dns.RcodeSuccess},
	} {
		if resp := stack.Query(t, r.fe.Addr, q.name, q.qtype, q.tcp); resp.Rcode != q.rcode {
			t.Fatalf("%s %s over %s: %s, want %s", q.name, dns.TypeToString[q.qtype], stack.Transport(q.tcp),
				dns.RcodeToString[resp.Rcode], dns.RcodeToString[q.rcode])
		}
	}
	// The cache stores asynchronously: ask again until a hit is counted.
	waitMoved(t, r.fe, "coredns_cache_hits_total", r.before, func() {
		stack.Query(t, r.fe.Addr, clusterName, dns.TypeA, false)
	})
	r.recordsvc = stack.ScrapeMetrics(t, r.rs.MetricsAddr)

	if err := r.rs.Stop(); err != nil {
		t.Logf("record service stop: %v", err)
	}
	waitMoved(t, r.fe, "clusterdns_frontend_recordsvc_lookup_errors_total", r.before, func() {
		stack.Query(t, r.fe.Addr, "unreachable.default.svc.cluster.local", dns.TypeA, false)
	})
	r.frontend = stack.ScrapeMetrics(t, r.fe.MetricsAddr)
	return r
}

// waitMoved runs ask until the metric name's sum in the frontend's scrape
// exceeds its sum in before, failing t after pollTimeout.
func waitMoved(t *testing.T, fe *stack.Process, name string, before stack.Metrics, ask func()) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for i := 0; time.Now().Before(deadline) && i < int(pollTimeout/pollEvery); i++ {
		ask()
		if stack.ScrapeMetrics(t, fe.MetricsAddr).Sum(name) > before.Sum(name) {
			return
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("%s did not move within %s", name, pollTimeout)
}

// answeringUpstream runs a DNS server on a loopback UDP port that answers
// every A question with a documentation address, and returns its address.
// UDP is enough: the frontend forwards over TCP only after a truncated
// reply.
func answeringUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstream: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A:   net.IPv4(192, 0, 2, 10),
			})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// labelNames returns the label names of a sample key `name{a="x",b="y"}`.
func labelNames(sample string) []string {
	_, rest, ok := strings.Cut(sample, "{")
	if !ok {
		return nil
	}
	var names []string
	for len(rest) > 0 && rest[0] != '}' {
		name, after, ok := strings.Cut(rest, `="`)
		if !ok {
			break
		}
		names = append(names, strings.TrimPrefix(name, ","))
		// Skip the quoted value, escapes included.
		i := 0
		for i < len(after) && after[i] != '"' {
			if after[i] == '\\' {
				i++
			}
			i++
		}
		rest = after[min(i+1, len(after)):]
	}
	slices.Sort(names)
	return names
}

// TestCoreDNSSeries: the frontend exposes every CoreDNS series the
// coredns-mixin's dashboards and alerts query, with CoreDNS's label names,
// and real queries move them.
func TestCoreDNSSeries(t *testing.T) {
	r := startWithTraffic(t)
	// The series and labels of CoreDNS's documentation (the prometheus,
	// cache and forward plugins); histograms by their buckets.
	want := map[string][]string{
		"coredns_dns_requests_total":                      {"family", "proto", "server", "type", "view", "zone"},
		"coredns_dns_responses_total":                     {"plugin", "rcode", "server", "view", "zone"},
		"coredns_dns_request_duration_seconds_bucket":     {"le", "server", "type", "view", "zone"},
		"coredns_cache_hits_total":                        {"server", "type", "view", "zones"},
		"coredns_cache_misses_total":                      {"server", "view", "zones"},
		"coredns_cache_entries":                           {"server", "type", "view", "zones"},
		"coredns_forward_requests_total":                  {"to"},
		"coredns_forward_responses_total":                 {"rcode", "to"},
		"coredns_forward_request_duration_seconds_bucket": {"le", "rcode", "to"},
		"coredns_panics_total":                            nil,
		"coredns_build_info":                              {"goversion", "revision", "version"},
		"process_resident_memory_bytes":                   nil,
		"process_cpu_seconds_total":                       nil,
		"go_goroutines":                                   nil,
	}
	for name, labels := range want {
		var found bool
		for sample := range r.frontend {
			if n, _, _ := strings.Cut(sample, "{"); n != name {
				continue
			}
			found = true
			if got := labelNames(sample); !slices.Equal(got, labels) {
				t.Errorf("%s: labels %q, want %q", sample, got, labels)
			}
		}
		if !found {
			t.Errorf("%s is not exposed", name)
		}
	}

	moved := func(name string, labels map[string]string) float64 {
		return r.frontend.SumWhere(name, labels) - r.before.SumWhere(name, labels)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		least  float64
	}{
		{"coredns_dns_requests_total", map[string]string{"proto": "udp", "type": "A", "zone": ".", "server": "dns://" + r.fe.Addr}, 4},
		{"coredns_dns_requests_total", map[string]string{"proto": "tcp", "type": "A"}, 2},
		{"coredns_dns_responses_total", map[string]string{"rcode": "NXDOMAIN"}, 1},
		{"coredns_dns_responses_total", map[string]string{"rcode": "SERVFAIL"}, 1},
		{"coredns_dns_request_duration_seconds_count", map[string]string{"type": "A"}, 6},
		{"coredns_cache_hits_total", nil, 1},
		{"coredns_cache_misses_total", nil, 1},
		{"coredns_forward_requests_total", map[string]string{"to": r.upstream}, 1},
		{"coredns_forward_responses_total", map[string]string{"to": r.upstream, "rcode": "NOERROR"}, 1},
		{"coredns_forward_request_duration_seconds_count", map[string]string{"to": r.upstream, "rcode": "NOERROR"}, 1},
	} {
		if got := moved(c.name, c.labels); got < c.least {
			t.Errorf("%s%v moved by %v, want at least %v", c.name, c.labels, got, c.least)
		}
	}
	if got := r.frontend.Sum("coredns_cache_entries"); got < 1 {
		t.Errorf("coredns_cache_entries = %v, want at least 1", got)
	}
	// The CoreDNS series add up to the frontend's own.
	if a, b := r.frontend.Sum("coredns_dns_requests_total"), r.frontend.Sum("clusterdns_frontend_requests_total"); a != b {
		t.Errorf("coredns_dns_requests_total sums to %v, clusterdns_frontend_requests_total to %v", a, b)
	}
	if a, b := r.frontend.Sum("coredns_cache_hits_total"), r.frontend.Sum("clusterdns_frontend_cache_hits_total"); a != b {
		t.Errorf("coredns_cache_hits_total = %v, clusterdns_frontend_cache_hits_total = %v", a, b)
	}
	for _, name := range []string{"clusterdns_build_info"} {
		if r.frontend.Sum(name) != 1 || r.recordsvc.Sum(name) != 1 {
			t.Errorf("%s: frontend %v, record service %v, want 1 on both", name, r.frontend.Sum(name), r.recordsvc.Sum(name))
		}
	}
	t.Log(fmt.Sprintf("frontend exposes %d metric names, record service %d", len(r.frontend.Names()), len(r.recordsvc.Names())))
}
