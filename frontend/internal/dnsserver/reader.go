package dnsserver

import (
	"errors"
	"net"
	"time"

	"github.com/miekg/dns"
)

// hotReader is the UDP read loop of a miekg/dns server with the hot path
// in it: a query the cache answers (see packHit) is answered right there,
// in the reading goroutine, without unpacking it or starting a goroutine;
// every other message goes on to the server as read.
//
// It sets no read deadline of its own, so that the one Shutdown sets ends
// the loop even while queries keep coming.
type hotReader struct {
	next dns.Reader
	h    *Handler
	// buf is the read buffer, kept while the hot path answers.
	buf []byte
	s   hitScratch
}

// readBufSize is the size of a UDP read buffer: the server's UDPSize plus
// one, so that miekg does not put buffers handed on into its pool.
const readBufSize = dns.DefaultMsgSize + 1

func newHotReader(next dns.Reader, h *Handler) *hotReader {
	return &hotReader{next: next, h: h}
}

// ReadTCP is the server's own.
func (r *hotReader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	return r.next.ReadTCP(conn, timeout)
}

// ReadPacketConn is the server's own (the hot path needs a *net.UDPConn).
func (r *hotReader) ReadPacketConn(conn net.PacketConn, timeout time.Duration) ([]byte, net.Addr, error) {
	pc, ok := r.next.(dns.PacketConnReader)
	if !ok {
		return nil, nil, errors.New("dnsserver: packet connection reader unavailable")
	}
	return pc.ReadPacketConn(conn, timeout)
}

// ReadUDP answers hot queries and returns the first other message.
func (r *hotReader) ReadUDP(conn *net.UDPConn, _ time.Duration) ([]byte, *dns.SessionUDP, error) {
	for {
		if r.buf == nil {
			r.buf = make([]byte, readBufSize-1, readBufSize)
		}
		n, sess, err := dns.ReadFromSessionUDP(conn, r.buf)
		if err != nil {
			return nil, nil, err
		}
		m := r.buf[:n]
		if r.h.fastEnabled() && parseRaw(m, &r.s) {
			if out, ok := r.h.serveHit(&r.s, time.Now()); ok {
				if _, err := dns.WriteToSessionUDP(conn, out, sess); err != nil {
					r.h.log.Debug("write DNS response", "client", sess.RemoteAddr(), "err", err)
				}
				continue
			}
		}
		r.buf = nil // the server owns it now
		return m, sess, nil
	}
}
