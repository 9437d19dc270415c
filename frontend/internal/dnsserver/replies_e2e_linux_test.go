//go:build linux

package dnsserver_test

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
)

// TestConcurrentMissReplies: cache misses whose lookups return together
// (so that their replies leave in batches) are each answered to the client
// that asked, with its own question and answer, from the local address
// that client sent its query to, on a server bound to the wildcard
// address.
func TestConcurrentMissReplies(t *testing.T) {
	tests := []struct {
		name   string
		misses int
		// dests are the server's addresses the clients ask, in turn.
		dests []string
	}{
		{name: "one miss", misses: 1, dests: []string{"127.0.0.2"}},
		{name: "a few misses", misses: 5, dests: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{name: "more than a sendmmsg", misses: 90, dests: []string{"127.0.0.1", "127.0.0.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHarness(t, harnessOptions{
				lookupTimeout: 20 * time.Second,
				configure: func(c *dnsserver.Config) {
					c.Listen = "0.0.0.0:0"
					c.UDPSockets = 1
				},
			})
			_, portText, err := net.SplitHostPort(h.udp)
			if err != nil {
				t.Fatal(err)
			}
			port, err := strconv.Atoi(portText)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, tt.misses)
			for i := range names {
				names[i] = fmt.Sprintf("burst-%d.default.svc.cluster.local.", i)
				h.fake.set(names[i], dns.TypeA, aAnswer([]string{"svc/default/burst"}, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)))
			}
			release := blockLookups(h, names...)

			clients := make([]*net.UDPConn, tt.misses)
			for i, name := range names {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
				q := new(dns.Msg).SetQuestion(name, dns.TypeA)
				q.Id = uint16(i + 1)
				p, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				dst := netip.AddrPortFrom(netip.MustParseAddr(tt.dests[i%len(tt.dests)]), uint16(port))
				if _, err := c.WriteToUDPAddrPort(p, dst); err != nil {
					t.Fatal(err)
				}
			}
			// Every lookup waits, then all return at once.
			waitGauge(t, h, "clusterdns_frontend_misses_in_flight", float64(tt.misses))
			release()

			for i, c := range clients {
				if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, dns.MaxMsgSize)
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("client %d (%s): %v", i, names[i], err)
				}
				if want := netip.MustParseAddr(tt.dests[i%len(tt.dests)]); from.Addr().Unmap() != want || int(from.Port()) != port {
					t.Errorf("client %d: reply from %v, want %v port %d", i, from, want, port)
				}
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				want := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
				if r.Id != uint16(i+1) || r.Rcode != dns.RcodeSuccess || len(r.Question) != 1 || r.Question[0].Name != names[i] ||
					len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
					t.Errorf("client %d: reply %v, want ID %d, %s A %s", i, r, i+1, names[i], want)
				}
			}
		})
	}
}
