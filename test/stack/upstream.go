package stack

import (
	"fmt"
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
	pc, ln, err := listenUDPAndTCP()
	if err != nil {
		t.Fatalf("stack: upstream: %v", err)
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

// listenUDPAndTCP binds a free UDP port on loopback and the TCP port of the
// same number. The UDP port is free by construction but its TCP twin may be
// taken by another process, so a few ports are tried.
func listenUDPAndTCP() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("udp listen: %w", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("no loopback port free for both UDP and TCP: %w", lastErr)
}
