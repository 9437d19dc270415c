//go:build linux

package recordclient

import (
	"io"
	"net"
	"syscall"

	"google.golang.org/grpc/mem"

	"github.com/clusterdns/clusterdns/internal/rawsock"
)

// rawConn is the TCP connection to the record service, written and read
// with raw system calls (package rawsock says why): a cache miss at a low
// query rate writes a question and reads an answer after idle spells, and
// the scheduler's wake-ups around ordinary calls were a large part of its
// cost on the frontend's CPU.
//
// ReadOnReady is what gRPC reads a connection with when it has it: it
// reads only once data has arrived, into a buffer from gRPC's pool.
type rawConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

// newRawConn returns conn as a rawConn when it is a TCP connection, else
// conn itself.
func newRawConn(conn net.Conn) net.Conn {
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return conn
	}
	return &rawConn{TCPConn: tcp, rc: rc}
}

// Write writes all of p, waiting in the poller while the socket buffer is
// full.
func (c *rawConn) Write(p []byte) (int, error) {
	n, err := rawsock.Write(c.rc, p)
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, nil
}

// ReadOnReady waits until the socket is readable (or the read deadline
// passes), then reads up to bufSize bytes into a buffer from pool, which
// the caller gives back. A closed peer is io.EOF.
func (c *rawConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	buf, n, err := rawsock.ReadOnReady(c.rc, bufSize, pool)
	if err != nil && err != io.EOF {
		return nil, 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return buf, n, err
}
