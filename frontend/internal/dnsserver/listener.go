package dnsserver

import (
	"net"
	"net/netip"
	"sync"
)

// Reasons of the TCP rejection counter.
const (
	rejectMaxConnections = "max_connections"
	rejectPerIP          = "per_ip"
)

// limitListener is a net.Listener that keeps at most cap(slots) accepted
// connections open, and at most perIP of one client address: a connection
// accepted beyond either bound is closed at once (the client sees the
// connection reset or closed and can retry), and counted with rejected.
// Closing an accepted connection frees its slots. The per-address bound
// keeps one client from holding every slot while others are refused.
type limitListener struct {
	net.Listener
	slots    chan struct{}
	perIP    int
	opened   func(delta int)
	rejected func(reason string)

	mu sync.Mutex
	// byIP counts the open connections of each client address (an IPv4
	// address mapped into IPv6 counts as the IPv4 one); addresses without
	// a connection are removed.
	byIP map[netip.Addr]int
}

// newLimitListener wraps ln; max and perIP must be positive. opened is told
// +1 and -1 as connections open and close, rejected is called for each
// connection closed for want of a slot, with the bound reached.
func newLimitListener(ln net.Listener, max, perIP int, opened func(delta int), rejected func(reason string)) *limitListener {
	return &limitListener{
		Listener: ln,
		slots:    make(chan struct{}, max),
		perIP:    perIP,
		opened:   opened,
		rejected: rejected,
		byIP:     make(map[netip.Addr]int),
	}
}

// Accept waits for a connection that fits under the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !l.takeIP(ip) {
			_ = c.Close()
			l.rejected(rejectPerIP)
			continue
		}
		select {
		case l.slots <- struct{}{}:
			l.opened(1)
			lc := &limitConn{Conn: c}
			lc.release = sync.OnceFunc(func() {
				<-l.slots
				l.releaseIP(ip)
				l.opened(-1)
			})
			return lc, nil
		default:
			l.releaseIP(ip)
			_ = c.Close()
			l.rejected(rejectMaxConnections)
		}
	}
}

// takeIP counts one more connection of ip, unless it has perIP already.
func (l *limitListener) takeIP(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip] >= l.perIP {
		return false
	}
	l.byIP[ip]++
	return true
}

// releaseIP counts one connection of ip less.
func (l *limitListener) releaseIP(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.byIP[ip]; n > 1 {
		l.byIP[ip] = n - 1
	} else {
		delete(l.byIP, ip)
	}
}

// remoteIP is the client address of c; connections whose address is not
// TCP (tests' pipes) share the zero address.
func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// limitConn gives its slots back when closed.
type limitConn struct {
	net.Conn
	release func()
}

// Close closes the connection and frees its slots (once).
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
