package forward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// errMismatch reports a TCP reply whose ID or question differs from the query. Over UDP such replies are
// skipped instead: anyone can send a datagram to our port, only the upstream shares the TCP connection.
var errMismatch = errors.New("reply does not match the query")

// maxUDPReply is the read buffer for UDP replies: a reply larger than the advertised EDNS size is still read
// whole (and then used), not cut into a malformed message.
const maxUDPReply = dns.MaxMsgSize

// newID returns a random query ID. math/rand/v2's top-level source is a ChaCha8 generator seeded by the
// runtime, so IDs are not predictable from earlier ones.
func newID() uint16 { return uint16(rand.Uint32()) }

// matches reports whether reply answers query: same ID, QR set, and the same questions (name compared
// case-insensitively, type and class exactly).
func matches(query, reply *dns.Msg) bool {
	if reply.Id != query.Id || !reply.Response || len(reply.Question) != len(query.Question) {
		return false
	}
	for i, q := range query.Question {
		r := reply.Question[i]
		if r.Qtype != q.Qtype || r.Qclass != q.Qclass || !strings.EqualFold(r.Name, q.Name) {
			return false
		}
	}
	return true
}

// attemptConn dials network/addr for one attempt bounded by timeout and ctx. The connection's deadline is
// the attempt's own; the end of ctx unblocks pending I/O through context.AfterFunc, which runs after ctx is
// done, so a caller seeing an I/O error can tell from ctx.Err whether ctx caused it. The returned stop func
// must be called before closing the connection.
func attemptConn(ctx context.Context, network, addr string, timeout time.Duration) (net.Conn, func(), error) {
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s %s: %w", network, addr, err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("set deadline on %s %s: %w", network, addr, err)
	}
	stop := context.AfterFunc(ctx, func() {
		// Ignore the error: the connection may already be closed when ctx ends.
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	return conn, func() { stop() }, nil
}

// exchangeUDP sends query from a new socket (a fresh ephemeral port) and returns the first reply that
// matches it. Datagrams that do not unpack or do not match are counted and skipped; the read goes on until
// the attempt's deadline.
func (f *Forwarder) exchangeUDP(ctx context.Context, addr string, query *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	wire, err := query.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	conn, stop, err := attemptConn(ctx, "udp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer stop()
	if _, err := conn.Write(wire); err != nil {
		return nil, fmt.Errorf("write udp %s: %w", addr, err)
	}
	bufp := f.buffers.Get().(*[]byte)
	defer f.buffers.Put(bufp)
	buf := *bufp
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("read udp %s: %w", addr, err)
		}
		reply := new(dns.Msg)
		// Unpack a copy: the buffer goes back to the pool while the message lives on.
		if err := reply.Unpack(bytes.Clone(buf[:n])); err != nil {
			f.metrics.failure(addr, reasonMalformed)
			f.log.Debug("ignoring malformed upstream reply", "upstream", addr, "err", err)
			continue
		}
		if !matches(query, reply) {
			f.metrics.failure(addr, reasonMismatch)
			f.log.Debug("ignoring mismatched upstream reply", "upstream", addr,
				"id", reply.Id, "want_id", query.Id, "question", reply.Question)
			continue
		}
		return reply, nil
	}
}

// exchangeTCP sends query over a new TCP connection and returns its reply, which must match (the retry of
// a truncated UDP reply).
func (f *Forwarder) exchangeTCP(ctx context.Context, addr string, query *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	wire, err := query.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	conn, stop, err := attemptConn(ctx, "tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	defer stop()
	reply, err := roundTrip(ctx, conn, wire, query, timeout)
	if err != nil {
		return nil, fmt.Errorf("tcp %s: %w", addr, err)
	}
	return reply, nil
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
