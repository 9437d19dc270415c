package stack

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// RefusingUpstream starts a DNS server on a loopback port that answers every
// query REFUSED, over UDP and TCP, and returns its address. Frontends started
// by tests forward there unless the test names its own upstream, so no test
// traffic leaves the machine through the host's resolv.conf.
func RefusingUpstream(t testing.TB) string {
	t.Helper()
	refuse := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("stack: upstream udp listen: %v", err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatalf("stack: upstream tcp listen: %v", err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: refuse}
	tcp := &dns.Server{Listener: ln, Handler: refuse}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return pc.LocalAddr().String()
}
