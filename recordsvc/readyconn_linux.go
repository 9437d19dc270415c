package main

import (
	"net"
	"syscall"

	"google.golang.org/grpc/mem"

	"github.com/clusterdns/clusterdns/internal/rawsock"
)

// gRPC reads a bare TCP connection only when data has arrived, into a
// buffer taken from a pool and given back once the frame is parsed, so an
// idle connection holds no read buffer. A connection it does not know (the
// admission limit's wrapper) gets a 32 KiB reader of its own for life: at
// 5,000 Watch subscribers, most of them idle between changes, that was
// 146 MB of the record service's heap (bench/results/fanout.md). gRPC takes
// the pooled path for any connection with a ReadOnReady method, which
// readyConn gives the admission wrapper from the TCP connection under it.

// readyListener hands out readyConns where the connection under an
// accepted one is TCP.
type readyListener struct{ net.Listener }

func (l readyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	inner, ok := c.(interface{ NetConn() net.Conn })
	if !ok {
		return c, nil
	}
	tcp, ok := inner.NetConn().(*net.TCPConn)
	if !ok {
		return c, nil
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return c, nil // read as any connection
	}
	return &readyConn{Conn: c, raw: raw}, nil
}

// readyConn is an accepted connection (reads, writes and Close go to it)
// whose socket it can read when ready.
type readyConn struct {
	net.Conn
	raw syscall.RawConn
}

// ReadOnReady waits until the socket is readable (or the read deadline
// passes), then reads up to bufSize bytes into a buffer from pool, which the
// caller gives back. A closed peer is io.EOF.
func (c *readyConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	return rawsock.ReadOnReady(c.raw, bufSize, pool)
}

// Write writes all of p to the socket, waiting in the poller while its
// buffer is full. Like reads, writes are raw system calls (package rawsock
// says why): a LookupStream question at a low rate is a read and a write
// after idle spells.
func (c *readyConn) Write(p []byte) (int, error) {
	n, err := rawsock.Write(c.raw, p)
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, nil
}
