package forward

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// UDP sockets are reused, within limits that keep what RFC 5452 asks of a resolver's queries (section 9:
// random IDs and random source ports). Each socket is connected to one upstream, so the kernel drops
// datagrams from any other address, and bound by that connect to a port the kernel picks at random from
// the ephemeral range. A socket serves one query at a time, each with a new random ID, and a reply counts
// only when its ID and question match as well. After maxUDPUses queries or maxUDPAge, whichever comes
// first, the socket is closed and its successor gets a new random port, so a port stays in use for a few
// queries only. A socket that saw anything unexpected (a datagram that did not match, a timeout, an
// error, the caller giving up) is closed at once rather than reused: a late or forged reply waiting in its
// buffer must never meet a later query. Without reuse, each query costs a socket, a connect, a poller
// registration and a close, which is most of a forwarded query's cost on a loopback upstream.
const (
	maxUDPIdle = 64 // idle sockets kept per upstream; queries beyond them open sockets of their own
	maxUDPUses = 16
	maxUDPAge  = 5 * time.Second
)

// udpConn is a connected UDP socket to one upstream.
type udpConn struct {
	*net.UDPConn
	uses int
	born time.Time
}

// takeUDP returns an idle socket of u fit for another query, or nil.
func (u *upstream) takeUDP() *udpConn {
	for {
		select {
		case c := <-u.udp:
			if time.Since(c.born) < maxUDPAge {
				return c
			}
			_ = c.Close()
		default:
			return nil
		}
	}
}

// putUDP keeps c for a later query, or closes it when it has served its share or u has enough idle
// sockets.
func (u *upstream) putUDP(c *udpConn) {
	if c.uses >= maxUDPUses || time.Since(c.born) >= maxUDPAge {
		_ = c.Close()
		return
	}
	select {
	case u.udp <- c:
	default:
		_ = c.Close()
	}
}

// dialUDP opens a socket connected to u (a new random source port).
func dialUDP(u *upstream) (*udpConn, error) {
	conn, err := net.DialUDP("udp", nil, u.udpAddr)
	if err != nil {
		return nil, fmt.Errorf("dial udp %s: %w", u.hostPort, err)
	}
	return &udpConn{UDPConn: conn, born: time.Now()}, nil
}

// exchangeUDP sends q to u from a pooled socket (or a new one) and returns the first reply that matches
// it. Datagrams that do not unpack or do not match are counted and skipped, the read going on until the
// attempt's deadline; the socket is not reused after them. The end of ctx cuts the read short.
func (f *Forwarder) exchangeUDP(ctx context.Context, u *upstream, q *outQuery, timeout time.Duration) (*dns.Msg, error) {
	c := u.takeUDP()
	if c == nil {
		var err error
		if c, err = dialUDP(u); err != nil {
			return nil, err
		}
	}
	c.uses++
	reply, clean, err := f.readReply(ctx, u, c, q, timeout)
	if err != nil || !clean {
		_ = c.Close()
	} else {
		u.putUDP(c)
	}
	return reply, err
}

// readReply writes q on c and reads until a matching reply, an error or the deadline. clean is false when
// c must not serve another query: something else arrived, or the end of ctx touched its deadline.
func (f *Forwarder) readReply(ctx context.Context, u *upstream, c *udpConn, q *outQuery, timeout time.Duration) (reply *dns.Msg, clean bool, err error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, false, fmt.Errorf("set deadline on udp %s: %w", u.hostPort, err)
	}
	if ctx.Done() != nil {
		// The function runs only once ctx is done, so a caller seeing an I/O error can tell from ctx.Err
		// whether ctx caused it.
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				clean = false
			}
		}()
	}
	if _, err := c.Write(q.wire()); err != nil {
		return nil, false, fmt.Errorf("write udp %s: %w", u.hostPort, err)
	}
	bufp := f.buffers.Get().(*[]byte)
	defer f.buffers.Put(bufp)
	buf := *bufp
	clean = true
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, false, fmt.Errorf("read udp %s: %w", u.hostPort, err)
		}
		if !q.headerMatches(buf[:n]) {
			clean = false
			if n < 12 {
				f.metrics.failure(u.addr, reasonMalformed)
				f.log.Debug("ignoring malformed upstream reply", "upstream", u.addr, "bytes", n)
			} else {
				f.metrics.failure(u.addr, reasonMismatch)
				f.log.Debug("ignoring mismatched upstream reply", "upstream", u.addr, "want_id", q.id())
			}
			continue
		}
		m := new(dns.Msg)
		// Unpack a copy: the buffer goes back to the pool while the message lives on.
		if err := m.Unpack(bytes.Clone(buf[:n])); err != nil {
			clean = false
			f.metrics.failure(u.addr, reasonMalformed)
			f.log.Debug("ignoring malformed upstream reply", "upstream", u.addr, "err", err)
			continue
		}
		if !q.matches(m) {
			clean = false
			f.metrics.failure(u.addr, reasonMismatch)
			f.log.Debug("ignoring mismatched upstream reply", "upstream", u.addr,
				"id", m.Id, "want_id", q.id(), "question", m.Question)
			continue
		}
		return m, clean, nil
	}
}
