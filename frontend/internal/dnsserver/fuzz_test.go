package dnsserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// memRecords is an in-memory record service for fuzzing, answering by the
// first label of the name:
//
//	a     three A records      many  300 A records (truncation)
//	ext   CNAME to www.example.org. (chased upstream)
//	nr    NOT_READY            nd    NO_DATA with SOA
//	bad   a record without data (unusable answer)
//	other names of the zone NAME_ERROR with SOA; reverse names
//	NOT_AUTHORITATIVE (they fall through to the upstreams).
type memRecords struct{}

func (memRecords) Lookup(_ context.Context, name string, qtype uint16, _ string, _ clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, ".arpa.") {
		return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE}, nil
	}
	first, _, _ := strings.Cut(lower, ".")
	resp := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Revision: 1, ServerId: "fuzz",
		Keys: []string{"k/" + first}}
	switch first {
	case "a", "many":
		n := 3
		if first == "many" {
			n = 300
		}
		for i := range n {
			resp.Answer = append(resp.Answer, rec(name, aData(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))))
		}
	case "ext":
		resp.Answer = append(resp.Answer, rec(name, func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: "www.example.org."}}
		}))
	case "nr":
		resp.Result = clusterdnsv1.Result_RESULT_NOT_READY
	case "nd":
		resp.Result = clusterdnsv1.Result_RESULT_NO_DATA
		resp.Authority = []*clusterdnsv1.ResourceRecord{soaRecord()}
	case "bad":
		resp.Answer = []*clusterdnsv1.ResourceRecord{{Name: name, Ttl: 30}}
	default:
		resp.Result = clusterdnsv1.Result_RESULT_NAME_ERROR
		resp.Authority = []*clusterdnsv1.ResourceRecord{soaRecord()}
	}
	return resp, nil
}

// memForwarder is an in-memory upstream path for fuzzing, answering by the
// first label: fail (error), over (overloaded), tc (truncated reply), big
// (100 A records), nx (NXDOMAIN with SOA), servfail; anything else one A
// record.
type memForwarder struct{}

func (memForwarder) Forward(_ context.Context, req *dns.Msg) (*dns.Msg, error) {
	q := req.Question[0]
	first, _, _ := strings.Cut(strings.ToLower(q.Name), ".")
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	a := func(i int) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(192, 0, 2, byte(i)).To4()}
	}
	switch first {
	case "fail":
		return nil, errors.New("no upstream answered")
	case "over":
		return nil, forward.ErrOverloaded
	case "tc":
		m.Truncated = true
	case "big":
		for i := range 100 {
			m.Answer = append(m.Answer, a(i))
		}
	case "nx":
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR("example.org. 300 IN SOA ns.example.org. h.example.org. 1 2 3 4 60")
		m.Ns = append(m.Ns, soa)
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
	default:
		m.Answer = append(m.Answer, a(1))
	}
	return m, nil
}

// startFuzzServer starts a server on 127.0.0.1:0 with the in-memory record
// service and forwarder, a cache and a loop detector, stopped when tb ends.
func startFuzzServer(tb testing.TB) string {
	tb.Helper()
	cache, err := dnscache.New(dnscache.Config{MaxBytes: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cache.Close)
	srv, err := dnsserver.New(dnsserver.Config{
		Listen:       "127.0.0.1:0",
		Records:      memRecords{},
		Cache:        cache,
		Forwarder:    memForwarder{},
		LoopDetector: forward.NewLoopDetector("loop.clusterdns-loop-check."),
		OnLoop:       func(string) {},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return srv.UDPAddr().String()
}

// FuzzHandler feeds raw wire bytes to the real server over a real UDP
// socket. A message shorter than a header or with QR set must be dropped
// (the server's documented behaviour; the corpus test checks drops with
// real waits); every other message must get a reply that unpacks, carries
// the query's ID and opcode with QR set, fits the client's UDP size, and
// repeats a well-formed question exactly. A panic anywhere fails.
//
//	go test -run='^$' -fuzz=FuzzHandler -fuzztime=20s ./frontend/internal/dnsserver
func FuzzHandler(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(c.msg)
	}
	for _, seed := range []struct {
		name  string
		qtype uint16
		edns  uint16
		do    bool
	}{
		{"a.default.svc.cluster.local.", dns.TypeA, 0, false},
		{"many.default.svc.cluster.local.", dns.TypeA, 1232, false},
		{"ext.default.svc.cluster.local.", dns.TypeAAAA, 4096, true},
		{"nr.default.svc.cluster.local.", dns.TypeSRV, 0, false},
		{"nd.default.svc.cluster.local.", dns.TypeTXT, 0, false},
		{"bad.default.svc.cluster.local.", dns.TypeA, 0, false},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, 0, false},
		{"www.example.org.", dns.TypeA, 0, false},
		{"big.example.org.", dns.TypeA, 0, false},
		{"tc.example.org.", dns.TypeA, 1232, false},
		{"fail.example.org.", dns.TypeA, 0, false},
		{"over.example.org.", dns.TypeA, 0, false},
		{"nx.example.org.", dns.TypeMX, 0, false},
		{"loop.clusterdns-loop-check.", dns.TypeHINFO, 0, false},
	} {
		m := new(dns.Msg).SetQuestion(seed.name, seed.qtype)
		if seed.edns != 0 {
			m.SetEdns0(seed.edns, seed.do)
		}
		packed, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(packed)
	}
	addr := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > dns.DefaultMsgSize {
			t.Skip("larger than the server's UDP read buffer")
		}
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		if len(msg) < 12 || msg[2]&0x80 != 0 {
			return // dropped
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, dns.MaxMsgSize)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no reply to %x: %v", msg, err)
		}
		checkReply(t, msg, buf[:n])
	})
}

// checkReply asserts that reply is a well-formed answer to the raw query
// msg (at least a header long, QR clear).
func checkReply(t *testing.T, msg, reply []byte) {
	t.Helper()
	resp := new(dns.Msg)
	if err := resp.Unpack(reply); err != nil {
		t.Fatalf("reply %x to %x does not unpack: %v", reply, msg, err)
	}
	id := uint16(msg[0])<<8 | uint16(msg[1])
	opcode := int(msg[2]>>3) & 0xF
	if resp.Id != id || !resp.Response || resp.Opcode != opcode {
		t.Fatalf("reply id %#x QR %v opcode %d to query id %#x opcode %d", resp.Id, resp.Response, resp.Opcode, id, opcode)
	}
	req := new(dns.Msg)
	limit := dns.MinMsgSize
	if req.Unpack(msg) == nil {
		if o := req.IsEdns0(); o != nil && resp.IsEdns0() != nil {
			limit = int(min(max(o.UDPSize(), dns.MinMsgSize), 4096))
		}
		if opcode == dns.OpcodeQuery && len(req.Question) == 1 && resp.Rcode != dns.RcodeFormatError {
			if len(resp.Question) != 1 || resp.Question[0] != req.Question[0] {
				t.Fatalf("reply question %v to %v", resp.Question, req.Question)
			}
		}
	}
	if len(reply) > limit {
		t.Fatalf("reply of %d bytes over the client's %d", len(reply), limit)
	}
}
