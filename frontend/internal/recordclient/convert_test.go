package recordclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

func TestToRR(t *testing.T) {
	rec := func(name string, ttl uint32) *clusterdnsv1.ResourceRecord {
		return &clusterdnsv1.ResourceRecord{Name: name, Ttl: ttl}
	}
	with := func(r *clusterdnsv1.ResourceRecord, set func(*clusterdnsv1.ResourceRecord)) *clusterdnsv1.ResourceRecord {
		set(r)
		return r
	}
	a := func(addr string) func(*clusterdnsv1.ResourceRecord) {
		return func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: addr}}
		}
	}
	aaaa := func(addr string) func(*clusterdnsv1.ResourceRecord) {
		return func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Aaaa{Aaaa: &clusterdnsv1.AAAARecord{Address: addr}}
		}
	}
	srv := func(prio, weight, port uint32, target string) func(*clusterdnsv1.ResourceRecord) {
		return func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Srv{Srv: &clusterdnsv1.SRVRecord{Priority: prio, Weight: weight, Port: port, Target: target}}
		}
	}
	txt := func(values ...string) func(*clusterdnsv1.ResourceRecord) {
		return func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Txt{Txt: &clusterdnsv1.TXTRecord{Values: values}}
		}
	}
	tests := []struct {
		name    string
		rec     *clusterdnsv1.ResourceRecord
		want    string // presentation form
		wantErr string // substring of the error
	}{
		{"A", with(rec("web.default.svc.cluster.local.", 30), a("10.96.0.1")),
			"web.default.svc.cluster.local.\t30\tIN\tA\t10.96.0.1", ""},
		{"A name without dot", with(rec("Web.Default.svc.cluster.local", 30), a("10.96.0.1")),
			"Web.Default.svc.cluster.local.\t30\tIN\tA\t10.96.0.1", ""},
		{"AAAA", with(rec("web.default.svc.cluster.local.", 5), aaaa("fd00:10:96::1")),
			"web.default.svc.cluster.local.\t5\tIN\tAAAA\tfd00:10:96::1", ""},
		{"SRV", with(rec("_http._tcp.web.default.svc.cluster.local.", 30), srv(0, 50, 80, "web.default.svc.cluster.local.")),
			"_http._tcp.web.default.svc.cluster.local.\t30\tIN\tSRV\t0 50 80 web.default.svc.cluster.local.", ""},
		{"PTR", with(rec("1.0.96.10.in-addr.arpa.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Ptr{Ptr: &clusterdnsv1.PTRRecord{Target: "kubernetes.default.svc.cluster.local."}}
		}), "1.0.96.10.in-addr.arpa.\t30\tIN\tPTR\tkubernetes.default.svc.cluster.local.", ""},
		{"CNAME", with(rec("ext.default.svc.cluster.local.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: "example.org."}}
		}), "ext.default.svc.cluster.local.\t30\tIN\tCNAME\texample.org.", ""},
		{"TXT", with(rec("dns-version.cluster.local.", 30), txt("1.1.0")),
			"dns-version.cluster.local.\t30\tIN\tTXT\t\"1.1.0\"", ""},
		{"TXT escapes", with(rec("t.cluster.local.", 30), txt(`a"b\c`, "x\x01y")),
			"t.cluster.local.\t30\tIN\tTXT\t\"a\\\"b\\\\c\" \"x\\001y\"", ""},
		{"SOA", with(rec("cluster.local.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{
				Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 12,
				Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5,
			}}
		}), "cluster.local.\t30\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 12 7200 1800 86400 5", ""},
		{"NS", with(rec("cluster.local.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Ns{Ns: &clusterdnsv1.NSRecord{Target: "ns.dns.cluster.local."}}
		}), "cluster.local.\t30\tIN\tNS\tns.dns.cluster.local.", ""},

		{"nil record", nil, "", "nil record"},
		{"no data", rec("web.default.svc.cluster.local.", 30), "", "no data"},
		{"empty owner", with(rec("", 30), a("10.0.0.1")), "", "empty name"},
		{"bad owner", with(rec("a..b.", 30), a("10.0.0.1")), "", "malformed name"},
		{"long label", with(rec(strings.Repeat("x", 64)+".cluster.local.", 30), a("10.0.0.1")), "", "malformed name"},
		{"A with IPv6", with(rec("a.cluster.local.", 30), a("fd00::1")), "", "bad IPv4"},
		{"A garbage", with(rec("a.cluster.local.", 30), a("10.0.0")), "", "bad IPv4"},
		{"A empty", with(rec("a.cluster.local.", 30), a("")), "", "bad IPv4"},
		{"A nil message", with(rec("a.cluster.local.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_A{}
		}), "", "bad IPv4"},
		{"AAAA with IPv4", with(rec("a.cluster.local.", 30), aaaa("10.0.0.1")), "", "bad IPv6"},
		{"AAAA with zone", with(rec("a.cluster.local.", 30), aaaa("fe80::1%eth0")), "", "bad IPv6"},
		{"SRV port", with(rec("_x._tcp.a.cluster.local.", 30), srv(0, 0, 70000, "a.cluster.local.")), "", "over 65535"},
		{"SRV weight", with(rec("_x._tcp.a.cluster.local.", 30), srv(0, 65536, 80, "a.cluster.local.")), "", "over 65535"},
		{"SRV empty target", with(rec("_x._tcp.a.cluster.local.", 30), srv(0, 0, 80, "")), "", "empty name"},
		{"TXT none", with(rec("t.cluster.local.", 30), txt()), "", "no strings"},
		{"TXT too long", with(rec("t.cluster.local.", 30), txt(strings.Repeat("a", 256))), "", "over 255"},
		{"SOA bad rname", with(rec("cluster.local.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: ""}}
		}), "", "rname"},
		{"PTR nil message", with(rec("1.in-addr.arpa.", 30), func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Ptr{}
		}), "", "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToRR(tt.rec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ToRR error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToRR: %v", err)
			}
			if s := got.String(); s != tt.want {
				t.Errorf("ToRR = %s\nwant  %s", s, tt.want)
			}
			// Every converted record packs.
			buf := make([]byte, dns.Len(got)+16)
			if _, err := dns.PackRR(got, buf, 0, nil, false); err != nil {
				t.Errorf("PackRR: %v", err)
			}
		})
	}
}

// TestTXTWireBytes checks that TXT strings reach the wire byte for byte.
func TestTXTWireBytes(t *testing.T) {
	for _, raw := range []string{"plain", `quote"back\slash`, "ctl\x00\x7f\xff", ""} {
		rr, err := ToRR(&clusterdnsv1.ResourceRecord{Name: "t.cluster.local.", Ttl: 1,
			Data: &clusterdnsv1.ResourceRecord_Txt{Txt: &clusterdnsv1.TXTRecord{Values: []string{raw}}}})
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		buf := make([]byte, 512)
		off, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("%q: pack: %v", raw, err)
		}
		rdata := buf[off-len(raw)-1 : off]
		if int(rdata[0]) != len(raw) || string(rdata[1:]) != raw {
			t.Errorf("%q: wire rdata %q", raw, rdata)
		}
	}
}

func TestToMsg(t *testing.T) {
	aRec := &clusterdnsv1.ResourceRecord{Name: "Web.default.svc.cluster.local.", Ttl: 30,
		Data: &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: "10.96.0.5"}}}
	soaRec := &clusterdnsv1.ResourceRecord{Name: "cluster.local.", Ttl: 30,
		Data: &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{
			Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1, Minimum: 5}}}
	badRec := &clusterdnsv1.ResourceRecord{Name: "x.cluster.local.", Ttl: 30}
	tests := []struct {
		name      string
		resp      *clusterdnsv1.LookupResponse
		wantRcode int
		wantAn    int
		wantNs    int
		wantExtra int
		wantErr   error
	}{
		{"success", &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS,
			Answer: []*clusterdnsv1.ResourceRecord{aRec}, Additional: []*clusterdnsv1.ResourceRecord{aRec}},
			dns.RcodeSuccess, 1, 0, 1, nil},
		{"no data", &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NO_DATA,
			Authority: []*clusterdnsv1.ResourceRecord{soaRec}}, dns.RcodeSuccess, 0, 1, 0, nil},
		{"name error", &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR,
			Authority: []*clusterdnsv1.ResourceRecord{soaRec}}, dns.RcodeNameError, 0, 1, 0, nil},
		{"not ready", &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NOT_READY}, 0, 0, 0, 0, ErrNotReady},
		{"not authoritative", &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE}, 0, 0, 0, 0, ErrNotAuthoritative},
		{"unspecified", &clusterdnsv1.LookupResponse{}, 0, 0, 0, 0, ErrNoResult},
		{"unknown result", &clusterdnsv1.LookupResponse{Result: 99}, 0, 0, 0, 0, ErrNoResult},
		{"nil response", nil, 0, 0, 0, 0, ErrNoResult},
	}
	req := new(dns.Msg).SetQuestion("Web.default.svc.cluster.local.", dns.TypeA)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ToMsg(req, tt.resp)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ToMsg error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToMsg: %v", err)
			}
			if m.Rcode != tt.wantRcode || !m.Authoritative || !m.Response || m.Id != req.Id {
				t.Errorf("header: rcode %d aa %v qr %v id %d, want rcode %d, AA, QR, id %d",
					m.Rcode, m.Authoritative, m.Response, m.Id, tt.wantRcode, req.Id)
			}
			if len(m.Answer) != tt.wantAn || len(m.Ns) != tt.wantNs || len(m.Extra) != tt.wantExtra {
				t.Errorf("sections %d/%d/%d, want %d/%d/%d", len(m.Answer), len(m.Ns), len(m.Extra), tt.wantAn, tt.wantNs, tt.wantExtra)
			}
			if m.Question[0].Name != "Web.default.svc.cluster.local." {
				t.Errorf("question %q lost the query's case", m.Question[0].Name)
			}
		})
	}
	for _, section := range []string{"answer", "authority", "additional"} {
		resp := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Answer: []*clusterdnsv1.ResourceRecord{aRec}}
		switch section {
		case "answer":
			resp.Answer = append(resp.Answer, badRec)
		case "authority":
			resp.Authority = []*clusterdnsv1.ResourceRecord{badRec}
		case "additional":
			resp.Additional = []*clusterdnsv1.ResourceRecord{badRec}
		}
		if _, err := ToMsg(req, resp); err == nil || !strings.Contains(err.Error(), section) {
			t.Errorf("bad record in %s: error %v, want one naming the section", section, err)
		}
	}
}
