//go:build linux

package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestReplyQueue answers queries read by udpBatch through udpWriters, as
// the workers of the read loop answer cache misses, over real sockets:
// replies written while a flusher is at work wait in the queue and then
// leave together (more than one sendmmsg's worth too), each to its own
// client, with its own answer, from the address that client asked; a lone
// reply leaves at once.
func TestReplyQueue(t *testing.T) {
	repeat := func(n int, addrs ...string) []string {
		var out []string
		for i := range n {
			out = append(out, addrs[i%len(addrs)])
		}
		return out
	}
	tests := []struct {
		name   string
		listen string
		// dests is the address each client sends its query to.
		dests []string
		// held makes the replies find a flusher at work, so that they
		// queue until it sends them.
		held bool
	}{
		{name: "lone reply", listen: "0.0.0.0:0", dests: []string{"127.0.0.2"}},
		{name: "batch to several local addresses", listen: "0.0.0.0:0", dests: repeat(7, "127.0.0.1", "127.0.0.2", "127.0.0.3"), held: true},
		{name: "more than one sendmmsg", listen: "0.0.0.0:0", dests: repeat(batchSize+9, "127.0.0.1", "127.0.0.4"), held: true},
		{name: "ipv6", listen: "[::]:0", dests: repeat(4, "::1"), held: true},
		{name: "dual-stack socket", listen: ":0", dests: []string{"127.0.0.1", "::1", "127.0.0.3"}, held: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			laddr, err := net.ResolveUDPAddr("udp", tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.ListenUDP("udp", laddr)
			if err != nil {
				t.Skipf("listen %s: %v", tt.listen, err)
			}
			defer conn.Close()
			pktinfoOn(t, conn)
			if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			b, err := newUDPBatch(conn)
			if err != nil {
				t.Fatal(err)
			}
			port := conn.LocalAddr().(*net.UDPAddr).Port

			clients := make([]*net.UDPConn, len(tt.dests))
			for i, dst := range tt.dests {
				ip := net.ParseIP(dst)
				local := net.IPv6loopback
				if ip.To4() != nil {
					local = net.IPv4(127, 0, 0, 1)
				}
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: local})
				if err != nil {
					t.Skipf("client socket: %v", err)
				}
				defer c.Close()
				clients[i] = c
				q := new(dns.Msg).SetQuestion(fmt.Sprintf("q%d.example.", i), dns.TypeA)
				q.Id = uint16(i + 1)
				p, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.WriteToUDP(p, &net.UDPAddr{IP: ip, Port: port}); err != nil {
					t.Skipf("send to %s: %v", dst, err)
				}
			}

			// Read every query and make its writer, as the read loop does.
			pool := &sync.Pool{New: func() any { p := make([]byte, dns.MaxMsgSize); return &p }}
			writers := make([]*udpWriter, len(tt.dests))
			queries := make([]*dns.Msg, len(tt.dests))
			for read := 0; read < len(tt.dests); {
				n, err := b.read()
				if err != nil {
					t.Fatalf("read after %d queries: %v", read, err)
				}
				for k := range n {
					q := new(dns.Msg)
					if err := q.Unpack(b.msg(k)); err != nil {
						t.Fatal(err)
					}
					i := int(q.Id) - 1
					queries[i] = q
					writers[i] = &udpWriter{conn: conn, raddr: b.addr(k), dest: b.dest(k), oob: b.sourceOOB(nil, k), bufs: pool}
				}
				read += n
			}

			q := b.replies
			if tt.held {
				q.mu.Lock()
				q.flushing = true
				q.mu.Unlock()
			}
			var wg sync.WaitGroup
			for i, w := range writers {
				wg.Go(func() {
					m := new(dns.Msg).SetReply(queries[i])
					m.Answer = []dns.RR{&dns.A{
						Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
						A:   net.IPv4(10, 0, byte(i>>8), byte(i)),
					}}
					if err := w.WriteMsg(m); err != nil {
						t.Errorf("reply %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			if tt.held {
				q.mu.Lock()
				queued := len(q.waiting)
				q.mu.Unlock()
				if queued != len(writers) {
					t.Fatalf("%d replies queued behind the flusher, want %d", queued, len(writers))
				}
				if err := q.flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
			}

			for i, c := range clients {
				if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, dns.MaxMsgSize)
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				if want := netip.MustParseAddr(tt.dests[i]); from.Addr().Unmap() != want || int(from.Port()) != port {
					t.Errorf("client %d: reply from %v, want %v port %d", i, from, want, port)
				}
				r := new(dns.Msg)
				if err := r.Unpack(buf[:n]); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				wantIP := net.IPv4(10, 0, byte(i>>8), byte(i))
				if r.Id != uint16(i+1) || r.Question[0].Name != fmt.Sprintf("q%d.example.", i) ||
					len(r.Answer) != 1 || !r.Answer[0].(*dns.A).A.Equal(wantIP) {
					t.Errorf("client %d: reply %v, want ID %d and its own answer %v", i, r, i+1, wantIP)
				}
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.flushing || len(q.waiting) != 0 {
				t.Errorf("queue after sending: flushing %v, %d waiting; want idle and empty", q.flushing, len(q.waiting))
			}
		})
	}
}
