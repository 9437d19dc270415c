//go:build linux

package dnsserver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSourceOOB checks the control message that makes a reply leave from
// the address its query was sent to.
func TestSourceOOB(t *testing.T) {
	pktinfo4 := func(dst netip.Addr) []byte {
		b := make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))
		putCmsgHeader(b, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
		a := dst.As4()
		copy(b[unix.CmsgLen(0)+8:], a[:]) // ipi_addr
		return b
	}
	pktinfo6 := func(dst netip.Addr) []byte {
		b := make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo))
		putCmsgHeader(b, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
		a := dst.As16()
		copy(b[unix.CmsgLen(0):], a[:])
		return b
	}
	tests := []struct {
		name      string
		received  []byte
		wantLevel int32
		wantType  int32
		wantSrc   netip.Addr
	}{
		{"none", nil, 0, 0, netip.Addr{}},
		{"ipv4", pktinfo4(netip.MustParseAddr("127.0.0.2")), unix.IPPROTO_IP, unix.IP_PKTINFO, netip.MustParseAddr("127.0.0.2")},
		{"ipv6", pktinfo6(netip.MustParseAddr("fd00::53")), unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, netip.MustParseAddr("fd00::53")},
		{"ipv4-mapped", pktinfo6(netip.MustParseAddr("::ffff:10.0.0.10")), unix.IPPROTO_IP, unix.IP_PKTINFO, netip.MustParseAddr("10.0.0.10")},
		{"ipv6 first", append(pktinfo4(netip.MustParseAddr("10.0.0.1")), pktinfo6(netip.MustParseAddr("fd00::1"))...), unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, netip.MustParseAddr("fd00::1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := newUDPBatch(newTestUDPConn(t))
			if err != nil {
				t.Fatal(err)
			}
			copy(b.inOOB, tt.received)
			b.in[0].hdr.SetControllen(len(tt.received))
			got := b.sourceOOB(nil, 0)
			if !tt.wantSrc.IsValid() {
				if len(got) != 0 {
					t.Fatalf("control message %x, want none", got)
				}
				return
			}
			h, data, rest, err := unix.ParseOneSocketControlMessage(got)
			if err != nil || len(rest) != 0 {
				t.Fatalf("parse %x: %v (%d bytes left)", got, err, len(rest))
			}
			if h.Level != tt.wantLevel || h.Type != tt.wantType {
				t.Fatalf("level %d type %d, want %d %d", h.Level, h.Type, tt.wantLevel, tt.wantType)
			}
			var src netip.Addr
			if h.Type == unix.IP_PKTINFO {
				// in_pktinfo: interface, spec_dst (the source), addr.
				if ifindex := data[0] | data[1] | data[2] | data[3]; ifindex != 0 {
					t.Errorf("interface %x, want 0", data[:4])
				}
				src, _ = netip.AddrFromSlice(data[4:8])
			} else {
				src, _ = netip.AddrFromSlice(data[:16])
			}
			if src != tt.wantSrc {
				t.Errorf("source %v, want %v", src, tt.wantSrc)
			}
		})
	}
}

func newTestUDPConn(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestUDPWriterSend answers a datagram read by udpBatch through a
// udpWriter, as a worker answers a query handed off the read loop: the
// reply (one raw sendmsg to the client's address in the socket's own form)
// reaches the client from the address it asked, over IPv4, IPv6 and IPv4
// on a dual-stack socket.
func TestUDPWriterSend(t *testing.T) {
	tests := []struct {
		name           string
		listen, client string
	}{
		{name: "ipv4", listen: "127.0.0.1:0", client: "127.0.0.1"},
		{name: "ipv6", listen: "[::1]:0", client: "::1"},
		{name: "ipv4 on a dual-stack socket", listen: ":0", client: "127.0.0.1"},
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
			// As the miekg/dns server does: learn each query's destination.
			pktinfoOn(t, conn)
			b, err := newUDPBatch(conn)
			if err != nil {
				t.Fatal(err)
			}
			port := conn.LocalAddr().(*net.UDPAddr).Port
			client, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(tt.client), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if _, err := client.Write([]byte("query")); err != nil {
				t.Fatal(err)
			}
			if n, err := b.read(); err != nil || n != 1 {
				t.Fatalf("read %d datagrams, %v; want 1", n, err)
			}
			w := &udpWriter{conn: conn, raddr: b.addr(0), dest: b.dest(0), oob: b.sourceOOB(nil, 0)}
			if n, err := w.Write([]byte("reply")); err != nil || n != len("reply") {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if err := client.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, err := client.Read(buf)
			if err != nil || string(buf[:n]) != "reply" {
				t.Fatalf("client read %q, %v; want the reply", buf[:n], err)
			}
		})
	}
}

// pktinfoOn asks the kernel for the destination address of each datagram
// conn receives, with the options of both families: the one a socket's
// family lacks fails, which is ignored.
func pktinfoOn(t *testing.T, conn *net.UDPConn) {
	t.Helper()
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	err = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
}
