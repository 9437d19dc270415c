package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestSectionDiff(t *testing.T) {
	tests := []struct {
		name      string
		want, got []string
		equal     bool
		gotOPT    bool // an EDNS0 OPT record is added to got
	}{
		{"same records, other order and TTLs",
			[]string{"a.example. 30 IN A 192.0.2.1", "a.example. 30 IN A 192.0.2.2"},
			[]string{"a.example. 5 IN A 192.0.2.2", "a.example. 29 IN A 192.0.2.1"}, true, false},
		{"SOA serial ignored, other fields not",
			[]string{"cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"},
			[]string{"cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1765432 7200 1800 86400 30"}, true, false},
		{"SOA minimum differs",
			[]string{"cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"},
			[]string{"cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"}, false, false},
		{"OPT ignored",
			[]string{"a.example. 30 IN A 192.0.2.1"},
			[]string{"a.example. 30 IN A 192.0.2.1"}, true, true},
		{"owner case matters",
			[]string{"A.example. 30 IN A 192.0.2.1"},
			[]string{"a.example. 30 IN A 192.0.2.1"}, false, false},
		{"missing record",
			[]string{"a.example. 30 IN A 192.0.2.1", "a.example. 30 IN A 192.0.2.2"},
			[]string{"a.example. 30 IN A 192.0.2.1"}, false, false},
		{"duplicate record counts",
			[]string{"a.example. 30 IN A 192.0.2.1"},
			[]string{"a.example. 30 IN A 192.0.2.1", "a.example. 30 IN A 192.0.2.1"}, false, false},
		{"SRV fields compared",
			[]string{"_http._tcp.web.ns.svc.cluster.local. 30 IN SRV 0 100 80 web.ns.svc.cluster.local."},
			[]string{"_http._tcp.web.ns.svc.cluster.local. 30 IN SRV 0 50 80 web.ns.svc.cluster.local."}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseRRs(t, tt.got)
			if tt.gotOPT {
				m := new(dns.Msg)
				m.SetEdns0(1232, false)
				got = append(got, m.IsEdns0())
			}
			diff := sectionDiff("extra", parseRRs(t, tt.want), got)
			if (diff == "") != tt.equal {
				t.Errorf("sectionDiff = %q, want equal=%v", diff, tt.equal)
			}
		})
	}
}

func TestCheckNegative(t *testing.T) {
	soa := func(owner string) dns.RR {
		rr, err := dns.NewRR(owner + " 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30")
		if err != nil {
			t.Fatal(err)
		}
		return rr
	}
	tests := []struct {
		name string
		msg  dns.Msg
		want string // substring of the complaint; "" for none
	}{
		{"NXDOMAIN with SOA", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError, Authoritative: true}, Ns: []dns.RR{soa("cluster.local.")}}, ""},
		{"no SOA", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError, Authoritative: true}}, "authority has 0"},
		{"SOA of another zone", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError, Authoritative: true}, Ns: []dns.RR{soa("example.")}}, "want cluster.local."},
		{"not authoritative", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError}, Ns: []dns.RR{soa("cluster.local.")}}, "AA"},
		{"SERVFAIL", dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeServerFailure}}, "SERVFAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkNegative(&tt.msg, dns.RcodeNameError)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("checkNegative = %q, want a complaint containing %q", got, tt.want)
			}
		})
	}
}

func TestDecodeObjects(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []string // kind/namespace/name
		wantErr bool
	}{
		{"documents with empty ones and comments", `
# leading comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: a
---
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: a
  annotations:
    clusterdns.test/pod-ips: "10.244.0.1,fd00::1"
`, []string{"Namespace//a", "Pod/a/p"}, false},
		{"JSON", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}`, []string{"Service//s"}, false},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: x\n", nil, true},
		{"bad YAML", "apiVersion: v1\nkind: [\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeObjects([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("objects %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExpectedSize(t *testing.T) {
	row := conformanceRow{Name: "a.example.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess}
	small := parseRRs(t, []string{"a.example. 30 IN A 192.0.2.1"})
	var large []dns.RR
	for i := range 100 {
		large = append(large, parseRRs(t, []string{fmt.Sprintf("a.example. 30 IN AAAA 2001:db8::%x", i+1)})...)
	}
	if got := expectedSize(row, small, nil, nil); got > 100 {
		t.Errorf("one A record: %d bytes", got)
	}
	if got := expectedSize(row, large, nil, nil); got <= 1232 {
		t.Errorf("100 AAAA records: %d bytes, want more than 1232", got)
	}
}
