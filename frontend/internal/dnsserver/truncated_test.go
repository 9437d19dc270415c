package dnsserver_test

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// TestTruncatedClusterAnswer: an answer the record service cut to fit a DNS
// message (LookupResponse.truncated) reaches the client with TC set over
// TCP as well as UDP (over UDP cut further to the client's size); it is
// cached with its mark, so that asking again, by either transport, costs
// no lookup and still shows TC.
func TestTruncatedClusterAnswer(t *testing.T) {
	const name = "big.default.svc.cluster.local."
	const records = 200
	var ips []string
	for i := range records {
		ips = append(ips, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	h := startHarness(t, harnessOptions{})
	full := aAnswer([]string{"svc/default/big"}, ips...)
	h.fake.set(name, dns.TypeA, func(n string, rev uint64) *clusterdnsv1.LookupResponse {
		resp := full(n, rev)
		resp.Truncated = true
		return resp
	})
	tests := []struct {
		name        string
		network     string
		edns        uint16 // 0: no OPT record
		wantRecords int    // -1: fewer than sent, at least one
	}{
		{"tcp miss", "tcp", 0, records},
		{"tcp hit", "tcp", 1232, records},
		{"udp without edns", "udp", 0, -1},
		{"udp 1232", "udp", 1232, -1},
		{"udp 4096 (all fit)", "udp", 4096, records},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion(name, dns.TypeA)
			if tt.edns != 0 {
				q.SetEdns0(tt.edns, false)
			}
			resp := h.query(t, tt.network, q)
			h.cache.Wait()
			if resp.Rcode != dns.RcodeSuccess || !resp.Truncated || !resp.Authoritative {
				t.Fatalf("rcode %s TC %v AA %v, want NOERROR with TC and AA", dns.RcodeToString[resp.Rcode], resp.Truncated, resp.Authoritative)
			}
			switch n := len(resp.Answer); {
			case tt.wantRecords >= 0 && n != tt.wantRecords:
				t.Errorf("%d answer records, want %d", n, tt.wantRecords)
			case tt.wantRecords < 0 && (n == 0 || n >= records):
				t.Errorf("%d answer records, want fewer than %d and some", n, records)
			}
		})
	}
	if got := h.fake.callCount(name, dns.TypeA); got != 1 {
		t.Errorf("record service asked %d times, want once (the cut answer is cached)", got)
	}
}
