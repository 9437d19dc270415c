package forward

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Upstream protocols.
const (
	protoUDP = "udp" // UDP, retried over TCP when the reply is truncated
	protoTCP = "tcp" // TCP only (RFC 7766)
	protoTLS = "tls" // DNS over TLS (RFC 7858)
)

// Connection reuse for TCP and TLS upstreams and for the TCP retries of UDP upstreams (RFC 7766 section
// 6.2.1, RFC 7858 section 3.4): a connection
// that answered goes back to its upstream's idle set and serves a later query, one query at a time, which
// spares TLS its handshake on every query. A connection idle for longer than maxIdle is closed rather than
// reused, since servers close idle connections themselves (often after 10 seconds or more); a reused
// connection that fails is closed and the query retried once on a new one.
const (
	maxIdleConns = 8
	maxIdle      = 5 * time.Second
)

// streamConn is an open TCP or TLS connection to an upstream.
type streamConn struct {
	net.Conn
	idleSince time.Time
}

// takeIdle returns an idle connection of u fit for reuse, or nil.
func (u *upstream) takeIdle() *streamConn {
	for {
		select {
		case c := <-u.idle:
			if time.Since(c.idleSince) < maxIdle {
				return c
			}
			_ = c.Close()
		default:
			return nil
		}
	}
}

// putIdle keeps c for reuse, or closes it when u has enough idle connections.
func (u *upstream) putIdle(c *streamConn) {
	c.idleSince = time.Now()
	select {
	case u.idle <- c:
	default:
		_ = c.Close()
	}
}

// closeIdle closes u's idle connections and sockets (u left the configuration).
func (u *upstream) closeIdle() {
	for {
		select {
		case c := <-u.idle:
			_ = c.Close()
		case c := <-u.udp:
			_ = c.Close()
		default:
			return
		}
	}
}

// exchangeStream sends q to u over a kept TCP or TLS connection when there is one, else over a new one,
// and returns the matching reply. It also carries the TCP retry of a UDP upstream's truncated reply.
func (f *Forwarder) exchangeStream(ctx context.Context, u *upstream, q *outQuery, timeout time.Duration) (*dns.Msg, error) {
	if c := u.takeIdle(); c != nil {
		reply, reusable, err := roundTrip(ctx, c, q, timeout)
		if err == nil {
			if reusable {
				u.putIdle(c)
			} else {
				_ = c.Close()
			}
			return reply, nil
		}
		_ = c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", u.addr, err)
		}
		// Most likely the upstream closed the connection meanwhile: retry on a new one.
		f.log.Debug("kept upstream connection failed; dialing a new one", "upstream", u.addr, "err", err)
	}
	c, err := f.dialStream(ctx, u, timeout)
	if err != nil {
		return nil, err
	}
	reply, reusable, err := roundTrip(ctx, c, q, timeout)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%s: %w", u.addr, err)
	}
	if reusable {
		u.putIdle(c)
	} else {
		_ = c.Close()
	}
	return reply, nil
}

// dialStream opens a TCP connection to u, with the TLS handshake for a TLS upstream: TLS 1.2 or later, the
// certificate verified against Config.TLSRootCAs (default: the system's roots) for u's server name.
func (f *Forwarder) dialStream(ctx context.Context, u *upstream, timeout time.Duration) (*streamConn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.hostPort)
	if err != nil {
		return nil, fmt.Errorf("dial tcp %s: %w", u.hostPort, err)
	}
	if u.proto == protoTLS {
		tc := tls.Client(conn, &tls.Config{
			ServerName:         u.serverName,
			RootCAs:            f.cfg.TLSRootCAs,
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: f.sessions,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("tls %s (server name %s): %w", u.hostPort, u.serverName, err)
		}
		conn = tc
	}
	return &streamConn{Conn: conn}, nil
}

// roundTrip writes q to c with its two-byte length and reads the matching reply, within timeout and ctx.
// reusable is false when the end of ctx touched c's deadline, which may happen even after the reply came:
// such a connection must not serve another query.
func roundTrip(ctx context.Context, c net.Conn, q *outQuery, timeout time.Duration) (reply *dns.Msg, reusable bool, err error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, false, err
	}
	reusable = true
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
		defer func() { reusable = stop() && reusable }()
	}
	if _, err := c.Write(q.framed); err != nil {
		return nil, false, fmt.Errorf("write: %w", err)
	}
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, false, fmt.Errorf("read: %w", err)
	}
	body := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, false, fmt.Errorf("read: %w", err)
	}
	reply = new(dns.Msg)
	if err := reply.Unpack(body); err != nil {
		return nil, false, fmt.Errorf("unpack reply: %w", err)
	}
	if !q.matches(reply) {
		return nil, false, errMismatch
	}
	return reply, reusable, nil
}

// exchangeOnce sends m, as it is with a new random ID, to u once in u's own protocol (UDP without the TCP
// retry), for probes.
func (f *Forwarder) exchangeOnce(ctx context.Context, u *upstream, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	q, err := packQuery(m)
	if err != nil {
		return nil, err
	}
	q.setID(newID())
	if u.proto == protoUDP {
		return f.exchangeUDP(ctx, u, q, timeout)
	}
	return f.exchangeStream(ctx, u, q, timeout)
}
