package recordclient

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// fuzzRecord builds one record from fuzz fields: kind picks the data type
// (A, AAAA, SRV, PTR, CNAME, NS, TXT, SOA, none), the other fields fill it.
func fuzzRecord(name string, ttl uint32, kind uint8, text string, n1, n2, n3 uint32, raw []byte) *clusterdnsv1.ResourceRecord {
	r := &clusterdnsv1.ResourceRecord{Name: name, Ttl: ttl}
	switch kind % 9 {
	case 0:
		r.Data = &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: text}}
	case 1:
		r.Data = &clusterdnsv1.ResourceRecord_Aaaa{Aaaa: &clusterdnsv1.AAAARecord{Address: text}}
	case 2:
		r.Data = &clusterdnsv1.ResourceRecord_Srv{Srv: &clusterdnsv1.SRVRecord{Priority: n1, Weight: n2, Port: n3, Target: text}}
	case 3:
		r.Data = &clusterdnsv1.ResourceRecord_Ptr{Ptr: &clusterdnsv1.PTRRecord{Target: text}}
	case 4:
		r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: text}}
	case 5:
		r.Data = &clusterdnsv1.ResourceRecord_Ns{Ns: &clusterdnsv1.NSRecord{Target: text}}
	case 6:
		r.Data = &clusterdnsv1.ResourceRecord_Txt{Txt: &clusterdnsv1.TXTRecord{Values: []string{string(raw), text}}}
	case 7:
		r.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{Mname: text, Rname: string(raw),
			Serial: n1, Refresh: n2, Retry: n3, Expire: n1 ^ n2, Minimum: n3 ^ n1}}
	}
	return r
}

// FuzzToMsg converts record-service answers built from fuzz input (a
// LookupResponse decoded from proto bytes, plus one record built from
// fuzz fields in its answer section) into a DNS reply. It must never panic;
// an answer it accepts must pack, unpack to the same records, carry the
// request's ID and question, AA set and the rcode of the result; results
// without an answer must give their sentinel errors.
//
//	go test -run='^$' -fuzz=FuzzToMsg -fuzztime=20s ./frontend/internal/recordclient
func FuzzToMsg(f *testing.F) {
	seeds := []*clusterdnsv1.LookupResponse{
		{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Answer: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("web.default.svc.cluster.local.", 30, 0, "10.96.0.1", 0, 0, 0, nil),
			fuzzRecord("web.default.svc.cluster.local.", 30, 1, "fd00:10:96::1", 0, 0, 0, nil),
		}, Keys: []string{"svc/default/web"}, Revision: 7, ServerId: "s1"},
		{Result: clusterdnsv1.Result_RESULT_SUCCESS, Answer: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("_http._tcp.web.default.svc.cluster.local.", 30, 2, "web.default.svc.cluster.local.", 0, 100, 80, nil),
		}, Additional: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("web.default.svc.cluster.local.", 30, 0, "10.96.0.1", 0, 0, 0, nil),
		}},
		{Result: clusterdnsv1.Result_RESULT_SUCCESS, Answer: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("1.0.96.10.in-addr.arpa.", 30, 3, "kubernetes.default.svc.cluster.local.", 0, 0, 0, nil),
		}},
		{Result: clusterdnsv1.Result_RESULT_SUCCESS, Answer: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("ext.default.svc.cluster.local.", 30, 4, "www.example.org.", 0, 0, 0, nil),
		}},
		{Result: clusterdnsv1.Result_RESULT_SUCCESS, Answer: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("dns-version.cluster.local.", 30, 6, "1.1.0", 0, 0, 0, []byte("\x00\"\\\x7f")),
		}},
		{Result: clusterdnsv1.Result_RESULT_SUCCESS, Answer: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("cluster.local.", 30, 5, "ns.dns.cluster.local.", 0, 0, 0, nil),
		}},
		{Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Authority: []*clusterdnsv1.ResourceRecord{
			fuzzRecord("cluster.local.", 30, 7, "ns.dns.cluster.local.", 1, 7200, 1800, []byte("hostmaster.cluster.local.")),
		}},
		{Result: clusterdnsv1.Result_RESULT_NO_DATA},
		{Result: clusterdnsv1.Result_RESULT_NOT_READY},
		{Result: clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE},
		{},
	}
	for i, s := range seeds {
		data, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("web.default.svc.cluster.local.", uint16(dns.TypeA), data,
			"x.default.svc.cluster.local.", uint32(30), uint8(i), "10.0.0.1", uint32(1), uint32(2), uint32(3), []byte("txt"))
	}
	f.Fuzz(func(t *testing.T, qname string, qtype uint16, data []byte,
		name string, ttl uint32, kind uint8, text string, n1, n2, n3 uint32, raw []byte) {
		req := new(dns.Msg).SetQuestion(dns.Fqdn(qname), qtype)
		if _, err := req.Pack(); err != nil {
			t.Skip("the request itself is not a DNS message")
		}
		resp := new(clusterdnsv1.LookupResponse)
		if err := proto.Unmarshal(data, resp); err != nil {
			t.Skip("not a LookupResponse")
		}
		if kind < 9 {
			resp.Answer = append(resp.Answer, fuzzRecord(name, ttl, kind, text, n1, n2, n3, raw))
		}
		reqCopy := req.Copy()
		m, err := ToMsg(req, resp)
		switch resp.GetResult() {
		case clusterdnsv1.Result_RESULT_NOT_READY:
			if !errors.Is(err, ErrNotReady) {
				t.Fatalf("NOT_READY: error %v", err)
			}
			return
		case clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE:
			if !errors.Is(err, ErrNotAuthoritative) {
				t.Fatalf("NOT_AUTHORITATIVE: error %v", err)
			}
			return
		case clusterdnsv1.Result_RESULT_SUCCESS, clusterdnsv1.Result_RESULT_NO_DATA, clusterdnsv1.Result_RESULT_NAME_ERROR:
		default:
			if !errors.Is(err, ErrNoResult) {
				t.Fatalf("result %v: error %v", resp.GetResult(), err)
			}
			return
		}
		if err != nil {
			return // a record that cannot be converted: refused, fine
		}
		if req.String() != reqCopy.String() {
			t.Fatal("ToMsg modified the request")
		}
		wantRcode := dns.RcodeSuccess
		if resp.GetResult() == clusterdnsv1.Result_RESULT_NAME_ERROR {
			wantRcode = dns.RcodeNameError
		}
		if m.Rcode != wantRcode || !m.Authoritative || !m.Response || m.Id != req.Id ||
			len(m.Question) != 1 || m.Question[0] != req.Question[0] {
			t.Fatalf("reply header %v", m)
		}
		if m.Len() > dns.MaxMsgSize {
			return // too large for one message: the server truncates it
		}
		packed, err := m.Pack()
		if err != nil {
			t.Fatalf("accepted answer does not pack: %v\n%v", err, m)
		}
		back := new(dns.Msg)
		if err := back.Unpack(packed); err != nil {
			t.Fatalf("packed answer does not unpack: %v\n%v", err, m)
		}
		for _, pair := range [][2][]dns.RR{{m.Answer, back.Answer}, {m.Ns, back.Ns}, {m.Extra, back.Extra}} {
			if len(pair[0]) != len(pair[1]) {
				t.Fatalf("%d records packed, %d unpacked", len(pair[0]), len(pair[1]))
			}
			for i := range pair[0] {
				if !dns.IsDuplicate(pair[0][i], pair[1][i]) || pair[0][i].Header().Ttl != pair[1][i].Header().Ttl {
					t.Fatalf("record %d changed on the wire:\n%v\n%v", i, pair[0][i], pair[1][i])
				}
			}
		}
	})
}
