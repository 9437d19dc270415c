package dnsserver_test

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// TestClientOptionsNotForwarded: a client's EDNS options (CLIENT-SUBNET,
// RFC 7871; COOKIE, RFC 7873) never reach the upstreams, the answer is
// cached once for every client whatever its subnet, and the client gets
// back an OPT record without options: this server answers as one that
// implements neither, which both RFCs allow.
func TestClientOptionsNotForwarded(t *testing.T) {
	ecs := func(ip string, bits uint8) dns.EDNS0 {
		family := uint16(1)
		if net.ParseIP(ip).To4() == nil {
			family = 2
		}
		return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: bits, Address: net.ParseIP(ip)}
	}
	cookie := func(c string) dns.EDNS0 { return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c} }
	tests := []struct {
		name    string
		network string
		options []dns.EDNS0
	}{
		{"subnet v4", "udp", []dns.EDNS0{ecs("198.51.100.0", 24)}},
		{"another subnet", "udp", []dns.EDNS0{ecs("203.0.113.0", 24)}},
		{"subnet v6 over tcp", "tcp", []dns.EDNS0{ecs("2001:db8::", 56)}},
		{"client cookie", "udp", []dns.EDNS0{cookie("0102030405060708")}},
		{"client and server cookie", "tcp", []dns.EDNS0{cookie("0102030405060708" + "1112131415161718191a1b1c1d1e1f20")}},
		{"cookie and subnet", "udp", []dns.EDNS0{cookie("a1a2a3a4a5a6a7a8"), ecs("192.0.2.0", 24)}},
	}
	s := startForwarding(t, harnessOptions{})
	const name = "www.example.org."
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion(name, dns.TypeA)
			q.SetEdns0(1232, false)
			opt := q.IsEdns0()
			opt.Option = tt.options
			resp := s.query(t, tt.network, q)
			s.cache.Wait()
			if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
				t.Fatalf("rcode %s answer %v", dns.RcodeToString[resp.Rcode], resp.Answer)
			}
			o := resp.IsEdns0()
			if o == nil {
				t.Fatal("no OPT record in the response")
			}
			if len(o.Option) != 0 {
				t.Errorf("response options %v, want none", o.Option)
			}
		})
	}
	got := s.def.received(name)
	if len(got) != 1 {
		t.Errorf("upstream asked %d times, want once: the answer does not depend on the client's subnet", len(got))
	}
	for _, q := range got {
		if len(q.options) != 0 {
			t.Errorf("upstream received EDNS options %v, want none", q.options)
		}
	}
}
