package ctl

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
	"github.com/clusterdns/clusterdns/test/stack"
)

// importedZone is the zone file the Corefile of TestImportCorefileServes
// names.
const importedZone = `@    3600 IN SOA ns.example.internal. hostmaster.example.internal. 1 7200 3600 1209600 300
@    3600 IN NS  ns.example.internal.
ns    300 IN A   10.3.0.53
www   300 IN A   10.3.0.1
`

// TestImportCorefileServes runs clusterdnsctl import-corefile on a
// kubeadm-style Corefile with hosts entries, a rewrite, a stub domain and a
// zone file, and gives its output to a real frontend as --config: the
// frontend answers the hosts name, the rewritten name (with the asked name
// in the answer), the default upstream, the stub domain and the static zone
// over UDP and TCP. Both upstreams are DNS servers of this test on
// 127.0.0.1; stack.StartFrontend insists on an --upstream flag (so nothing
// leaks to resolv.conf), which is given the Corefile's default upstream.
func TestImportCorefileServes(t *testing.T) {
	t.Parallel()
	bins := stack.InstalledCtl(t)
	rs := fileRecordService(t, bins)
	upstream := answeringUpstream(t, "192.0.2.8")
	stub := answeringUpstream(t, "192.0.2.7")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "db.example.internal"), []byte(importedZone), 0o600); err != nil {
		t.Fatal(err)
	}
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    hosts {
        10.2.0.5 db.corp.example
        fallthrough
    }
    rewrite name exact api.corp.example kubernetes.default.svc.cluster.local
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . %s
    cache 30
    loop
    reload
    loadbalance
}
stub.example:53 {
    forward . %s
}
example.internal:53 {
    file db.example.internal
}
`, upstream, stub)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "frontend.yaml")
	r := ctl(t, bins, "import-corefile", corefile, "--output-file", cfg)
	// The one thing left out: CoreDNS's hosts also reads its container's
	// /etc/hosts.
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Corefile:7: hosts: not carried over:") ||
		!strings.HasSuffix(r.stderr, "\n1 directive(s) or option(s) not carried over\n") {
		t.Fatalf("import-corefile: %s", r)
	}
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dnsconfig.Parse(data); err != nil {
		t.Fatalf("the output does not parse: %v\n%s", err, data)
	}

	fe := stack.StartFrontend(t, bins, rs.Addr, "--upstream", upstream, "--config", cfg)
	type question struct {
		name  string
		qtype uint16
		want  string
	}
	questions := []question{
		{"db.corp.example.", dns.TypeA, "db.corp.example. 3600 IN A 10.2.0.5"},
		{"api.corp.example.", dns.TypeA, "api.corp.example. 30 IN A 10.96.0.1"},
		// The upstream says 60; `cache 30` caps it.
		{"www.stub.example.", dns.TypeA, "www.stub.example. 30 IN A 192.0.2.7"},
		{"www.example.internal.", dns.TypeA, "www.example.internal. 300 IN A 10.3.0.1"},
		{"www.outside.example.", dns.TypeA, "www.outside.example. 30 IN A 192.0.2.8"},
	}
	for _, tcp := range []bool{false, true} {
		for _, tc := range questions {
			m := stack.Query(t, fe.Addr, tc.name, tc.qtype, tcp)
			var got []string
			for _, rr := range m.Answer {
				got = append(got, strings.Join(strings.Fields(rr.String()), " "))
			}
			// A cached answer's TTL counts down; the second round (TCP)
			// may see it a second lower.
			if m.Rcode != dns.RcodeSuccess || len(got) != 1 || !sameRecord(got[0], tc.want) {
				t.Errorf("%s %s over %s: %s %q, want NOERROR %q\n%s", tc.name, dns.TypeToString[tc.qtype], stack.Transport(tcp),
					dns.RcodeToString[m.Rcode], got, tc.want, data)
			}
		}
	}
}

// sameRecord compares two one-line records, allowing got's TTL to be up to
// 2 seconds below want's (the cache counts it down).
func sameRecord(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	if len(g) != len(w) || len(g) < 2 {
		return false
	}
	gt, err1 := strconv.Atoi(g[1])
	wt, err2 := strconv.Atoi(w[1])
	if err1 != nil || err2 != nil || gt > wt || gt < wt-2 {
		return false
	}
	g[1], w[1] = "", ""
	return slices.Equal(g, w)
}

// answeringUpstream serves, over UDP on loopback, an A record of addr with
// TTL 60 for every A question, and returns its address.
func answeringUpstream(t *testing.T, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question; len(q) == 1 && q[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.ParseIP(addr)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
