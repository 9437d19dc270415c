package dnsserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// diffRecords answers by the first label of the name, for server s1 at
// revision 1 (exact entries once the cache follows s1).
type diffRecords struct{}

func diffRR(name string, ttl uint32, data func(*clusterdnsv1.ResourceRecord)) *clusterdnsv1.ResourceRecord {
	r := &clusterdnsv1.ResourceRecord{Name: name, Ttl: ttl}
	data(r)
	return r
}

func diffA(ip string) func(*clusterdnsv1.ResourceRecord) {
	return func(r *clusterdnsv1.ResourceRecord) {
		r.Data = &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: ip}}
	}
}

func (diffRecords) Lookup(_ context.Context, name string, qtype uint16, _ string, _ clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	first, _, _ := strings.Cut(strings.ToLower(name), ".")
	resp := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Revision: 1, ServerId: "s1",
		Keys: []string{"svc/default/" + first}}
	soa := diffRR("cluster.local.", 30, func(r *clusterdnsv1.ResourceRecord) {
		r.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{
			Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1,
			Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}}
	})
	switch {
	case first == "one":
		resp.Answer = append(resp.Answer, diffRR(name, 30, diffA("10.96.0.1")))
	case first == "three" || first == "many":
		n := 3
		if first == "many" {
			n = 100
		}
		for i := range n {
			// Different TTLs show that they move with their records.
			resp.Answer = append(resp.Answer, diffRR(name, uint32(20+i%3), diffA(fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))))
		}
	case first == "six" && qtype == dns.TypeAAAA:
		for _, ip := range []string{"fd00::1", "fd00::2"} {
			resp.Answer = append(resp.Answer, diffRR(name, 30, func(r *clusterdnsv1.ResourceRecord) {
				r.Data = &clusterdnsv1.ResourceRecord_Aaaa{Aaaa: &clusterdnsv1.AAAARecord{Address: ip}}
			}))
		}
	case first == "srv" && qtype == dns.TypeSRV:
		for i, target := range []string{"a.srv.default.svc.cluster.local.", "b.srv.default.svc.cluster.local."} {
			resp.Answer = append(resp.Answer, diffRR(name, 30, func(r *clusterdnsv1.ResourceRecord) {
				r.Data = &clusterdnsv1.ResourceRecord_Srv{Srv: &clusterdnsv1.SRVRecord{Priority: 0, Weight: 50, Port: 80, Target: target}}
			}))
			resp.Additional = append(resp.Additional, diffRR(target, 30, diffA(fmt.Sprintf("10.2.0.%d", i+1))))
		}
	case first == "ext":
		resp.Answer = append(resp.Answer, diffRR(name, 30, func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: "www.example.org."}}
		}))
	case first == "in":
		resp.Answer = append(resp.Answer,
			diffRR(name, 30, func(r *clusterdnsv1.ResourceRecord) {
				r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: "one.default.svc.cluster.local."}}
			}),
			diffRR("one.default.svc.cluster.local.", 30, diffA("10.96.0.1")))
	case first == "5" && qtype == dns.TypePTR:
		resp.Answer = append(resp.Answer, diffRR(name, 30, func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Ptr{Ptr: &clusterdnsv1.PTRRecord{Target: "one.default.svc.cluster.local."}}
		}))
	case first == "nd" || first == "one" || first == "three" || first == "six" || first == "srv":
		resp.Result = clusterdnsv1.Result_RESULT_NO_DATA
		resp.Authority = append(resp.Authority, soa)
	default:
		resp.Result = clusterdnsv1.Result_RESULT_NAME_ERROR
		resp.Authority = append(resp.Authority, soa)
	}
	return resp, nil
}

// diffForwarder answers names under up.example. by their first label, as
// an upstream would, and fails every other query: the chase of an
// ExternalName answer ends in SERVFAIL.
type diffForwarder struct{}

func (diffForwarder) Forward(_ context.Context, req *dns.Msg) (*dns.Msg, error) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain("up.example.", name) {
		return nil, errors.New("no upstream")
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	soa := rr("up.example. 3600 IN SOA ns.up.example. hostmaster.up.example. 1 7200 1800 86400 60")
	first, _, _ := strings.Cut(name, ".")
	switch {
	case first == "one" && q.Qtype == dns.TypeA:
		m.Answer = append(m.Answer, rr(q.Name+" 300 IN A 192.0.2.1"))
	case first == "three" && q.Qtype == dns.TypeA:
		for i := range 3 {
			m.Answer = append(m.Answer, rr(fmt.Sprintf("%s %d IN A 192.0.2.%d", q.Name, 300+i, i+1)))
		}
	case first == "six" && q.Qtype == dns.TypeAAAA:
		m.Answer = append(m.Answer, rr(q.Name+" 300 IN AAAA 2001:db8::1"), rr(q.Name+" 300 IN AAAA 2001:db8::2"))
	case first == "ad" && q.Qtype == dns.TypeA:
		m.AuthenticatedData = true
		m.Answer = append(m.Answer, rr(q.Name+" 300 IN A 192.0.2.9"))
	case first == "extra" && q.Qtype == dns.TypeA:
		m.Answer = append(m.Answer, rr(q.Name+" 300 IN A 192.0.2.10"))
		m.Extra = append(m.Extra, rr("info.up.example. 600 IN TXT \"upstream\""))
		m.SetEdns0(1232, false)
	case first == "one" || first == "six" || first == "three":
		m.Ns = append(m.Ns, soa)
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa)
	}
	return m, nil
}

// diffClock is a settable clock.
type diffClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *diffClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// testWriter is a ResponseWriter over UDP or TCP addresses that packs
// like miekg's and keeps the last reply.
type testWriter struct {
	tcp  bool
	last []byte
}

func (w *testWriter) LocalAddr() net.Addr { return w.RemoteAddr() }
func (w *testWriter) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (w *testWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *testWriter) Write(b []byte) (int, error) {
	w.last = append(w.last[:0], b...)
	return len(b), nil
}
func (w *testWriter) Close() error        { return nil }
func (w *testWriter) TsigStatus() error   { return nil }
func (w *testWriter) TsigTimersOnly(bool) {}
func (w *testWriter) Hijack()             {}

// rawServe answers the wire query b as the UDP read loop does: on the hot
// path when it can, else through ServeDNS. hot tells which.
func rawServe(t *testing.T, h *Handler, b []byte, tcp bool) (reply []byte, hot bool) {
	t.Helper()
	s := new(hitScratch)
	if h.fastEnabled() && parseRaw(b, s) {
		s.q.tcp = tcp
		if out, ok := h.serveHit(s, time.Now()); ok {
			return bytes.Clone(out), true
		}
	}
	req := new(dns.Msg)
	if err := req.Unpack(b); err != nil {
		t.Fatalf("unpack %x: %v", b, err)
	}
	w := &testWriter{tcp: tcp}
	h.ServeDNS(w, req)
	return w.last, false
}

// TestHotPathSameBytes: for every cached answer and every kind of query,
// the hot path (from wire bytes and from an unpacked message) sends
// exactly the bytes the general path sends, and it does answer the plain
// cases.
func TestHotPathSameBytes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		exact     bool
		forwarder bool
	}{
		{"exact", true, false},
		{"aging", false, false},
		{"exact with forwarder", true, true},
		{"aging with forwarder", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &diffClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			cache, err := dnscache.New(dnscache.Config{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer cache.Close()
			if tc.exact {
				cache.Resync("s1", 1)
			}
			handler := func(slow bool) *Handler {
				metrics, err := NewMetrics(prometheus.NewRegistry(), cache)
				if err != nil {
					t.Fatal(err)
				}
				cfg := Config{Records: diffRecords{}, Cache: cache, Metrics: metrics,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), QueryLog: slow}
				if tc.forwarder {
					cfg.Forwarder = diffForwarder{}
				}
				h, err := NewHandler(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			fill, hot, general := handler(true), handler(false), handler(true)
			type question struct {
				name  string
				qtype uint16
			}
			questions := []question{
				{"one.default.svc.cluster.local.", dns.TypeA},
				{"one.default.svc.cluster.local.", dns.TypeAAAA},
				{"three.default.svc.cluster.local.", dns.TypeA},
				{"six.default.svc.cluster.local.", dns.TypeAAAA},
				{"many.default.svc.cluster.local.", dns.TypeA},
				{"srv.default.svc.cluster.local.", dns.TypeSRV},
				{"ext.default.svc.cluster.local.", dns.TypeA},
				{"in.default.svc.cluster.local.", dns.TypeA},
				{"gone.default.svc.cluster.local.", dns.TypeA},
				{"nd.default.svc.cluster.local.", dns.TypeTXT},
				{"5.0.96.10.in-addr.arpa.", dns.TypePTR},
				// Upstream answers (REFUSED and never cached without a forwarder).
				{"one.up.example.", dns.TypeA},
				{"one.up.example.", dns.TypeAAAA},
				{"three.up.example.", dns.TypeA},
				{"six.up.example.", dns.TypeAAAA},
				{"ad.up.example.", dns.TypeA},
				{"extra.up.example.", dns.TypeA},
				{"nx.up.example.", dns.TypeA},
				{"www.example.org.", dns.TypeA},
			}
			cases := func(name string) []string {
				return []string{name, strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:],
					strings.ToUpper(name[:len(name)/2]) + name[len(name)/2:]}
			}
			for _, q := range questions {
				for _, do := range []bool{false, true} {
					m := new(dns.Msg).SetQuestion(q.name, q.qtype)
					if do {
						m.SetEdns0(1232, true)
					}
					fill.ServeDNS(&testWriter{}, m)
				}
			}
			cache.Wait()
			clk.mu.Lock()
			clk.now = clk.now.Add(7 * time.Second)
			clk.mu.Unlock()
			hotAnswers := 0
			for _, q := range questions {
				for _, name := range cases(q.name) {
					for _, edns := range []struct {
						size   uint16
						do     bool
						cookie bool
					}{{0, false, false}, {512, false, false}, {1232, false, false}, {4096, true, false}, {1232, false, true}} {
						for _, flags := range []struct{ rd, cd bool }{{true, false}, {false, true}} {
							for _, tcp := range []bool{false, true} {
								for round := range 3 {
									m := new(dns.Msg).SetQuestion(name, q.qtype)
									m.Id = uint16(1000 + round)
									m.RecursionDesired, m.CheckingDisabled = flags.rd, flags.cd
									if edns.size != 0 {
										m.SetEdns0(edns.size, edns.do)
										if edns.cookie {
											o := m.IsEdns0()
											o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
										}
									}
									b, err := m.Pack()
									if err != nil {
										t.Fatal(err)
									}
									desc := fmt.Sprintf("%s %s edns=%+v flags=%+v tcp=%v round %d", name, dns.TypeToString[q.qtype], edns, flags, tcp, round)
									// Both handlers rotate in step: one query each.
									got, isHot := rawServe(t, hot, b, tcp)
									want := &testWriter{tcp: tcp}
									general.ServeDNS(want, m.Copy())
									if !bytes.Equal(got, want.last) {
										g, w := new(dns.Msg), new(dns.Msg)
										_ = g.Unpack(got)
										_ = w.Unpack(want.last)
										t.Fatalf("%s (hot %v):\ngot  %x\nwant %x\n%v\n%v", desc, isHot, got, want.last, g, w)
									}
									if isHot {
										hotAnswers++
									}
									// The same through ServeDNS with the message.
									w2 := &testWriter{tcp: tcp}
									hot.ServeDNS(w2, m.Copy())
									want = &testWriter{tcp: tcp}
									general.ServeDNS(want, m.Copy())
									if !bytes.Equal(w2.last, want.last) {
										t.Fatalf("%s through ServeDNS:\ngot  %x\nwant %x", desc, w2.last, want.last)
									}
								}
							}
						}
					}
				}
			}
			if hotAnswers == 0 {
				t.Fatal("the hot path answered nothing")
			}
			// A plain query for a single A record is answered hot.
			b, _ := new(dns.Msg).SetQuestion("one.default.svc.cluster.local.", dns.TypeA).Pack()
			if _, isHot := rawServe(t, hot, b, false); !isHot {
				t.Error("plain A query not answered on the hot path")
			}
			// So is one for a name the upstreams answered.
			b, _ = new(dns.Msg).SetQuestion("one.up.example.", dns.TypeA).Pack()
			if _, isHot := rawServe(t, hot, b, false); isHot != tc.forwarder {
				t.Errorf("plain A query for an upstream answer: hot %v, want %v", isHot, tc.forwarder)
			}
			t.Logf("%d answers on the hot path", hotAnswers)
		})
	}
}

// TestParseRawRejects: what the hot path leaves to the general path.
func TestParseRawRejects(t *testing.T) {
	ok := func() *dns.Msg { return new(dns.Msg).SetQuestion("one.default.svc.cluster.local.", dns.TypeA) }
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := pack(ok())
	tests := []struct {
		name string
		msg  []byte
		want bool
	}{
		{"plain", base, true},
		{"with OPT", pack(ok().SetEdns0(1232, true)), true},
		{"response", func() []byte { m := ok(); m.Response = true; return pack(m) }(), false},
		{"opcode", func() []byte { m := ok(); m.Opcode = dns.OpcodeNotify; return pack(m) }(), false},
		{"EDNS version 1", func() []byte { m := ok().SetEdns0(1232, false); m.IsEdns0().SetVersion(1); return pack(m) }(), false},
		{"EDNS option", func() []byte {
			m := ok().SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
			return pack(m)
		}(), false},
		{"escaped label", pack(new(dns.Msg).SetQuestion(`a\.b.default.svc.cluster.local.`, dns.TypeA)), false},
		{"star", pack(new(dns.Msg).SetQuestion(`*.default.svc.cluster.local.`, dns.TypeA)), false},
		{"trailing byte", append(bytes.Clone(base), 0), false},
		{"short", base[:len(base)-1], false},
		{"two questions", func() []byte { b := bytes.Clone(base); b[5] = 2; return b }(), false},
		{"answer record", func() []byte { b := bytes.Clone(base); b[7] = 1; return b }(), false},
		{"pointer name", append(append(bytes.Clone(base[:12]), 0xC0, 12), 0, 1, 0, 1), false},
		{"root", pack(new(dns.Msg).SetQuestion(".", dns.TypeA)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRaw(tt.msg, new(hitScratch)); got != tt.want {
				t.Errorf("parseRaw = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParseRaw: whatever parseRaw accepts unpacks with miekg/dns into the
// same question, ID, flags and EDNS values, and parseMsg agrees on it.
//
//	go test -run='^$' -fuzz=FuzzParseRaw -fuzztime=20s ./frontend/internal/dnsserver
func FuzzParseRaw(f *testing.F) {
	for _, m := range []*dns.Msg{
		new(dns.Msg).SetQuestion("one.default.svc.cluster.local.", dns.TypeA),
		new(dns.Msg).SetQuestion("One.Default.svc.cluster.local.", dns.TypeAAAA).SetEdns0(1232, true),
		new(dns.Msg).SetQuestion("5.0.96.10.in-addr.arpa.", dns.TypePTR).SetEdns0(4096, false),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := new(hitScratch)
		if !parseRaw(b, s) {
			return
		}
		q := s.q
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatalf("parseRaw accepted %x, which does not unpack: %v", b, err)
		}
		if m.Response || m.Opcode != dns.OpcodeQuery || len(m.Question) != 1 || len(m.Answer)+len(m.Ns) != 0 {
			t.Fatalf("parseRaw accepted %v", m)
		}
		mq := m.Question[0]
		if mq.Name != string(q.text) || mq.Qtype != q.qtype || mq.Qclass != q.qclass || m.Id != q.id {
			t.Fatalf("parseRaw read %q %d %d id %d, miekg %v id %d", q.text, q.qtype, q.qclass, q.id, mq, m.Id)
		}
		if string(q.lower) != strings.ToLower(mq.Name) {
			t.Fatalf("lower %q of %q", q.lower, mq.Name)
		}
		o := m.IsEdns0()
		if (o != nil) != q.edns || (o != nil && (o.UDPSize() != q.udpSize || o.Do() != q.do || o.Version() != 0)) {
			t.Fatalf("EDNS %v, parseRaw edns %v size %d do %v", o, q.edns, q.udpSize, q.do)
		}
		s2 := new(hitScratch)
		if !parseMsg(m, false, s2) {
			t.Fatalf("parseMsg refused %v", m)
		}
		if !bytes.Equal(s2.q.qname, q.qname) || s2.q.flags&(flagRD|flagCD) != q.flags&(flagRD|flagCD) || !bytes.Equal(s2.q.lower, q.lower) {
			t.Fatalf("parseMsg %+v, parseRaw %+v", s2.q, q)
		}
	})
}
