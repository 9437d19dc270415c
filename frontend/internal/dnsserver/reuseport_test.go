package dnsserver_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
)

// TestUDPSockets: with several SO_REUSEPORT sockets every client gets its
// answers, cache hits are counted like any other request, and Shutdown
// ends the read loops while queries keep coming.
func TestUDPSockets(t *testing.T) {
	for _, sockets := range []int{1, 4} {
		t.Run(map[int]string{1: "one socket", 4: "four sockets"}[sockets], func(t *testing.T) {
			h := startHarness(t, harnessOptions{configure: func(c *dnsserver.Config) { c.UDPSockets = sockets }})
			h.ask(t, "udp", "web.default.svc.cluster.local.", dns.TypeA)
			h.cache.Wait()
			const clients, queries = 16, 20
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					conn, err := net.Dial("udp", h.udp)
					if err != nil {
						t.Error(err)
						return
					}
					defer conn.Close()
					c := &dns.Conn{Conn: conn}
					for i := range queries {
						m := new(dns.Msg).SetQuestion("Web.default.svc.cluster.local.", dns.TypeA)
						_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
						if err := c.WriteMsg(m); err != nil {
							t.Error(err)
							return
						}
						r, err := c.ReadMsg()
						if err != nil {
							t.Errorf("query %d: %v", i, err)
							return
						}
						if r.Id != m.Id || len(r.Answer) != 1 || r.Answer[0].Header().Name != "Web.default.svc.cluster.local." {
							t.Errorf("reply %v", r)
							return
						}
					}
				})
			}
			wg.Wait()
			if got := counterValue(t, h.reg, "clusterdns_frontend_requests_total", map[string]string{"transport": "udp", "rcode": "NOERROR"}); got != 1+clients*queries {
				t.Errorf("requests_total = %v, want %d", got, 1+clients*queries)
			}
			if got := counterValue(t, h.reg, "clusterdns_frontend_cache_hits_total", nil); got < clients*queries {
				t.Errorf("cache_hits_total = %v, want at least %d", got, clients*queries)
			}
			// Shutdown under load.
			var stop atomic.Bool
			var load sync.WaitGroup
			for range 2 {
				load.Go(func() {
					conn, err := net.Dial("udp", h.udp)
					if err != nil {
						return
					}
					defer conn.Close()
					q, _ := new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA).Pack()
					buf := make([]byte, 512)
					for !stop.Load() {
						_, _ = conn.Write(q)
						_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
						_, _ = conn.Read(buf)
					}
				})
			}
			time.Sleep(50 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := h.srv.Shutdown(ctx)
			stop.Store(true)
			load.Wait()
			if err != nil {
				t.Fatalf("Shutdown under load: %v", err)
			}
		})
	}
}
