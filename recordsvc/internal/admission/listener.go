// Package admission bounds what one client can make the record service
// hold: connections in total and per remote address (a net.Listener
// wrapper), and concurrent streams per client (a gRPC stream interceptor).
// Rejections are counted by kind.
package admission

import (
	"net"
	"sync"
)

// Rejection kinds, the label of the rejected counter.
const (
	KindConnectionsTotal = "connections_total"
	KindConnectionsPerIP = "connections_per_ip"
	KindStreamsPerClient = "streams_per_client"
	KindStreamsTotal     = "streams_total"
)

// ListenerLimits are the connection bounds of LimitListener; 0 means no
// limit.
type ListenerLimits struct {
	Total int
	PerIP int
}

// limitListener closes accepted connections beyond its limits at once: a
// refused connection costs a file descriptor for a moment, never a gRPC
// transport (two goroutines, buffers and HTTP/2 state).
type limitListener struct {
	net.Listener
	limits   ListenerLimits
	rejected func(kind string)

	mu    sync.Mutex
	total int
	perIP map[string]int
}

// LimitListener wraps l. rejected (may be nil) is called with the kind of
// each refused connection.
func LimitListener(l net.Listener, limits ListenerLimits, rejected func(kind string)) net.Listener {
	if rejected == nil {
		rejected = func(string) {}
	}
	return &limitListener{Listener: l, limits: limits, rejected: rejected, perIP: make(map[string]int)}
}

// Accept returns the next connection within the limits.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if kind, ok := l.admit(ip); !ok {
			l.rejected(kind)
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

// admit takes a slot for ip, or says which limit refuses it.
func (l *limitListener) admit(ip string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.Total > 0 && l.total >= l.limits.Total {
		return KindConnectionsTotal, false
	}
	if l.limits.PerIP > 0 && l.perIP[ip] >= l.limits.PerIP {
		return KindConnectionsPerIP, false
	}
	l.total++
	l.perIP[ip]++
	return "", true
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// limitedConn gives its slot back on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// NetConn is the connection c wraps, as tls.Conn's NetConn.
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// remoteIP is the host part of a TCP address (the whole string otherwise).
func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
