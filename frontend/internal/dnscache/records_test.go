package dnscache

import (
	"testing"

	"github.com/miekg/dns"
)

// TestRecordsRoundTrip packs records as Set does and unpacks them as Get
// does: the same records, TTLs aged, and owner names equal to the query
// name but for case in the query's case.
func TestRecordsRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		asked   string
		age     uint32
		packTTL uint32
		opt     bool
		records []string
		want    []string
	}{
		{"owner is the question", "web.ns.svc.cluster.local.", 0, 0, false,
			[]string{"web.ns.svc.cluster.local. 30 IN A 10.0.0.1"},
			[]string{"web.ns.svc.cluster.local.\t30\tIN\tA\t10.0.0.1"}},
		{"query case", "Web.NS.svc.cluster.local.", 10, 0, false,
			[]string{"web.ns.svc.cluster.local. 30 IN CNAME db.ns.svc.cluster.local.", "db.ns.svc.cluster.local. 30 IN A 10.0.0.2"},
			[]string{"Web.NS.svc.cluster.local.\t20\tIN\tCNAME\tdb.ns.svc.cluster.local.", "db.ns.svc.cluster.local.\t20\tIN\tA\t10.0.0.2"}},
		{"other owner of a prefix", "web.ns.svc.cluster.local.", 0, 0, false,
			[]string{"b.web.ns.svc.cluster.local. 5 IN AAAA fd00::1", "ns.svc.cluster.local. 5 IN TXT \"a\\\\b\" \"c d\""},
			[]string{"b.web.ns.svc.cluster.local.\t5\tIN\tAAAA\tfd00::1", "ns.svc.cluster.local.\t5\tIN\tTXT\t\"a\\\\b\" \"c d\""}},
		{"escaped owner", "a\\.b.ns.svc.cluster.local.", 0, 0, false,
			[]string{"a\\.b.ns.svc.cluster.local. 30 IN A 10.0.0.3"},
			[]string{"a\\.b.ns.svc.cluster.local.\t30\tIN\tA\t10.0.0.3"}},
		{"wildcard and SRV", "_http._tcp.web.ns.svc.cluster.local.", 31, 0, false,
			[]string{"_http._tcp.web.ns.svc.cluster.local. 30 IN SRV 0 100 80 web.ns.svc.cluster.local."},
			[]string{"_http._tcp.web.ns.svc.cluster.local.\t0\tIN\tSRV\t0 100 80 web.ns.svc.cluster.local."}},
		{"root", ".", 0, 0, false,
			[]string{". 30 IN NS a.root-servers.net."},
			[]string{".\t30\tIN\tNS\ta.root-servers.net."}},
		{"SOA", "nope.ns.svc.cluster.local.", 1, 0, false,
			[]string{"cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 30"},
			[]string{"cluster.local.\t29\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 30"}},
		{"upstream lifetime, OPT left out", "example.com.", 2, 300, true,
			[]string{"example.com. 60 IN A 192.0.2.1", "example.com. 5 IN A 192.0.2.2"},
			[]string{"example.com.\t298\tIN\tA\t192.0.2.1", "example.com.\t298\tIN\tA\t192.0.2.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rrs []dns.RR
			for _, s := range tt.records {
				rrs = append(rrs, rr(t, s))
			}
			if tt.opt {
				rrs = append(rrs, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}})
			}
			wire, counts, err := packSections(tt.packTTL, 0, rrs, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			e := &entry{wire: wire, counts: counts, ttl: 30}
			r, ok := e.response(tt.asked, tt.age)
			if !ok {
				t.Fatal("records do not unpack")
			}
			if len(r.Answer) != len(tt.want) {
				t.Fatalf("%d records, want %d", len(r.Answer), len(tt.want))
			}
			for i, got := range r.Answer {
				if got.String() != tt.want[i] {
					t.Errorf("record %d = %q, want %q", i, got.String(), tt.want[i])
				}
			}
		})
	}
}
