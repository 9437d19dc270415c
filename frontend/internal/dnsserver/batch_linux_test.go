//go:build linux

package dnsserver

import (
	"net"
	"net/netip"
	"testing"

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
