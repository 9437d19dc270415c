package dnsserver_test

import (
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// TestClientSpecificNeverCached: answers a visibility policy makes differ
// between clients (client_specific), positive, negative and
// not-authoritative alike, are asked afresh every time.
func TestClientSpecificNeverCached(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	specific := func(resp *clusterdnsv1.LookupResponse) *clusterdnsv1.LookupResponse {
		resp.ClientSpecific = true
		return resp
	}
	tests := []struct {
		qname string
		qtype uint16
		resp  func(name string, rev uint64) *clusterdnsv1.LookupResponse
	}{
		{"cs.default.svc.cluster.local.", dns.TypeA, func(name string, rev uint64) *clusterdnsv1.LookupResponse {
			return specific(aAnswer([]string{"svc/default/cs", "visibility"}, "10.96.0.9")(name, rev))
		}},
		{"csnx.default.svc.cluster.local.", dns.TypeA, func(string, uint64) *clusterdnsv1.LookupResponse {
			return specific(&clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Ttl: 30,
				Keys: []string{"svc/default/csnx", "visibility"}, Authority: []*clusterdnsv1.ResourceRecord{soaRecord()}})
		}},
		{"9.0.96.10.in-addr.arpa.", dns.TypePTR, func(string, uint64) *clusterdnsv1.LookupResponse {
			return specific(&clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE,
				Keys: []string{"ip/10.96.0.9", "visibility"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.qname, func(t *testing.T) {
			h.fake.set(tt.qname, tt.qtype, tt.resp)
			for range 3 {
				h.ask(t, "udp", tt.qname, tt.qtype)
				h.cache.Wait()
			}
			if got := h.fake.callCount(tt.qname, tt.qtype); got != 3 {
				t.Errorf("record service called %d times for three questions, want 3", got)
			}
		})
	}
}
