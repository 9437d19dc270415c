package dnsserver

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/miekg/dns"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// noRecords is a Records that is never asked.
type noRecords struct{}

func (noRecords) Lookup(context.Context, string, uint16, string, clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	panic("not asked")
}

// TestShedRaw: the REFUSED the UDP read loop sends for a query it sheds is
// byte for byte what the general path sends for REFUSED, whether the read
// loop parsed the query itself or had to unpack it; a message that is no
// query gets nothing.
func TestShedRaw(t *testing.T) {
	query := func(name string, change func(*dns.Msg)) []byte {
		m := new(dns.Msg).SetQuestion(name, dns.TypeA)
		if change != nil {
			change(m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		msg    []byte
		answer bool
	}{
		{"plain", query("a.default.svc.cluster.local.", nil), true},
		{"rd and cd", query("A.Default.svc.cluster.local.", func(m *dns.Msg) { m.RecursionDesired, m.CheckingDisabled = true, true }), true},
		{"edns with do", query("a.example.org.", func(m *dns.Msg) { m.SetEdns0(4096, true) }), true},
		{"edns with a cookie", query("a.example.org.", func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
		}), true},
		{"escaped name", query(`a\.b.default.svc.cluster.local.`, nil), true},
		{"a response", query("a.example.org.", func(m *dns.Msg) { m.Response = true }), false},
		{"garbage", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, false},
	}
	for _, forwarder := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s, forwarder %v", tt.name, forwarder), func(t *testing.T) {
				cfg := Config{Records: noRecords{}}
				if forwarder {
					cfg.Forwarder = noForwarder{}
				}
				h, err := NewHandler(t.Context(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				var s hitScratch
				parsed := parseRaw(tt.msg, &s)
				got, ok := h.shedRaw(nil, tt.msg, parsed, &s)
				if ok != tt.answer {
					t.Fatalf("answered %v, want %v", ok, tt.answer)
				}
				if !ok {
					return
				}
				req := new(dns.Msg)
				if err := req.Unpack(tt.msg); err != nil {
					t.Fatal(err)
				}
				resp := h.rcode(req, dns.RcodeRefused)
				h.finish(req, resp, clusterdnsv1.Transport_TRANSPORT_UDP)
				want, err := resp.Pack()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					var g dns.Msg
					_ = g.Unpack(got)
					t.Errorf("shed answer\n%v\nwant\n%v", &g, resp)
				}
			})
		}
	}
}

// noForwarder is a Forwarder that is never asked.
type noForwarder struct{}

func (noForwarder) Forward(context.Context, *dns.Msg) (*dns.Msg, error) { panic("not asked") }
