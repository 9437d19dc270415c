package dnscache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDropForwarded retires upstream answers, all or by zone, and keeps the
// record service's answers and upstream answers stored afterwards.
func TestDropForwarded(t *testing.T) {
	names := []string{"www.example.org.", "db.corp.example.", "x.sub.corp.example.", "corp.example."}
	tests := []struct {
		name  string
		zones []string
		kept  []bool // per name
	}{
		{"all", nil, []bool{false, false, false, false}},
		{"one zone", []string{"CORP.example"}, []bool{true, false, false, false}},
		{"sub zone", []string{"sub.corp.example."}, []bool{true, true, false, true}},
		{"root", []string{"."}, []bool{false, false, false, false}},
		{"other zone", []string{"other.example."}, []bool{true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{MaxStale: time.Hour})
			cluster := NewKey("a.default.svc.cluster.local.", dns.TypeA, dns.ClassINET, false)
			c.Set(cluster, c.Begin(), Response{Rcode: dns.RcodeSuccess, Cluster: true,
				Answer: []dns.RR{rr(t, "a.default.svc.cluster.local. 30 IN A 10.0.0.1")}})
			for _, n := range names {
				c.Set(NewForwardKey(n, dns.TypeA, dns.ClassINET, false), Fill{},
					Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, n+" 300 IN A 192.0.2.1")}})
			}
			c.Wait()
			c.DropForwarded(tt.zones)
			for i, n := range names {
				k := NewForwardKey(n, dns.TypeA, dns.ClassINET, false)
				if _, ok := c.Get(k); ok != tt.kept[i] {
					t.Errorf("%s: hit %v, want %v", n, ok, tt.kept[i])
				}
				if _, ok := c.GetStale(k); ok != tt.kept[i] {
					t.Errorf("%s: stale hit %v, want %v", n, ok, tt.kept[i])
				}
			}
			if _, ok := c.Get(cluster); !ok {
				t.Error("cluster answer dropped")
			}
			// Answers stored after the drop are served.
			k := NewForwardKey(names[1], dns.TypeA, dns.ClassINET, false)
			c.Set(k, Fill{}, Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, names[1]+" 300 IN A 192.0.2.2")}})
			c.Wait()
			if _, ok := c.Get(k); !ok {
				t.Error("answer stored after the drop not served")
			}
		})
	}
}

// TestReconfigure changes the lifetimes of upstream answers and the size
// while entries stay.
func TestReconfigure(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxTTL: time.Hour, MaxBytes: 1 << 20})
	a := Response{Rcode: dns.RcodeSuccess, Answer: []dns.RR{rr(t, "www.example.org. 86400 IN A 192.0.2.1")}}
	k := NewForwardKey("www.example.org.", dns.TypeA, dns.ClassINET, false)
	c.Set(k, Fill{}, a)
	c.Wait()
	if got := c.Lifetime(a); got != 3600 {
		t.Fatalf("Lifetime %d, want 3600", got)
	}
	if err := c.Reconfigure(Config{MaxTTL: time.Minute, MaxBytes: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	if got := c.Lifetime(a); got != 60 {
		t.Errorf("after Reconfigure: Lifetime %d, want 60", got)
	}
	if got := c.rc.MaxCost(); got <= 1<<20 {
		t.Errorf("max cost %d after growing to 2 MiB", got)
	}
	if _, ok := c.Get(k); !ok {
		t.Error("entry lost by Reconfigure")
	}
	if err := c.Reconfigure(Config{MaxBytes: -1}); err == nil {
		t.Error("negative size accepted")
	}
}
