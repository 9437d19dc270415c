package dnsserver

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// TestInRecordZones checks the suffix test of the miss path against
// miekg/dns's reading of the labels.
func TestInRecordZones(t *testing.T) {
	h, err := NewHandler(context.Background(), Config{Records: benchRecords{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"cluster.local.", true},
		{"CLUSTER.Local.", true},
		{"web.default.svc.cluster.local.", true},
		{"Web.Default.SVC.Cluster.LOCAL.", true},
		{"web.default.svc.cluster.local", false},
		{"xcluster.local.", false},
		{"local.", false},
		{".", false},
		{"example.org.", false},
		{"cluster.local.example.", false},
		{`a\.cluster.local.`, false},
		{`a.cluster\.local.`, false},
		{`a\\.cluster.local.`, true},
		{"1.0.0.10.in-addr.arpa.", true},
		{"in-addr.arpa.", true},
		{"xin-addr.arpa.", false},
		{"b.a.ip6.arpa.", true},
		{"arpa.", false},
		{"web.ns.svc.clusterset.local.", true},
		{"clusterset.local.", true},
	} {
		old := dns.IsSubDomain(h.zone, tc.name) || dns.IsSubDomain(reverseV4, tc.name) || dns.IsSubDomain(reverseV6, tc.name) ||
			dns.IsSubDomain(clustersetZone, tc.name)
		if old != tc.want {
			t.Fatalf("%q: miekg/dns says %v, the table %v", tc.name, old, tc.want)
		}
		if got := h.inRecordZones(tc.name); got != tc.want {
			t.Errorf("inRecordZones(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
