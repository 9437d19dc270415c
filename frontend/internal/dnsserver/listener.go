package dnsserver

import (
	"net"
	"sync"
)

// limitListener is a net.Listener that keeps at most cap(slots) accepted
// connections open: a connection accepted beyond that is closed at once
// (the client sees the connection reset or closed and can retry), and
// counted with rejected. Closing an accepted connection frees its slot.
type limitListener struct {
	net.Listener
	slots    chan struct{}
	opened   func(delta int)
	rejected func()
}

// newLimitListener wraps ln; max must be positive. opened is told +1 and -1
// as connections open and close, rejected is called for each connection
// closed for want of a slot.
func newLimitListener(ln net.Listener, max int, opened func(delta int), rejected func()) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), opened: opened, rejected: rejected}
}

// Accept waits for a connection that fits under the bound.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.opened(1)
			lc := &limitConn{Conn: c}
			lc.release = sync.OnceFunc(func() {
				<-l.slots
				l.opened(-1)
			})
			return lc, nil
		default:
			_ = c.Close()
			l.rejected()
		}
	}
}

// limitConn gives its slot back when closed.
type limitConn struct {
	net.Conn
	release func()
}

// Close closes the connection and frees its slot (once).
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
