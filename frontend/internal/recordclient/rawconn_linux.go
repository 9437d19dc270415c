//go:build linux

package recordclient

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/mem"
)

// rawConn is the TCP connection to the record service, written and read
// with raw system calls: the socket does not block (the poller waits for
// it), so a call never waits in the kernel, and a raw one keeps the
// goroutine's processor (P). An ordinary one tells the scheduler the
// thread may block, so the first after an idle spell wakes the runtime's
// monitor thread, which then polls every 20 µs while the process is busy,
// and one longer than that has its P handed to another thread. A cache
// miss at a low query rate writes a question and reads an answer after
// idle spells, and those wake-ups were a large part of its cost on the
// frontend's CPU.
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
	if len(p) == 0 {
		return 0, nil
	}
	var (
		written int
		errno   syscall.Errno
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for written < len(p) {
			r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
			switch e {
			case 0:
				written += int(r)
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	if err != nil {
		return written, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return written, nil
}

// ReadOnReady waits until the socket is readable (or the read deadline
// passes), then reads up to bufSize bytes into a buffer from pool, which
// the caller gives back. A closed peer is io.EOF.
func (c *rawConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	var (
		buf   *[]byte
		n     int
		errno syscall.Errno
	)
	err := c.rc.Read(func(fd uintptr) bool {
		buf = pool.Get(bufSize)
		for {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(*buf))), uintptr(len(*buf)))
			switch e {
			case 0:
				n = int(r)
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				// Nothing yet: hold no buffer while waiting.
				pool.Put(buf)
				buf = nil
				return false
			default:
				pool.Put(buf)
				buf = nil
				errno = e
				return true
			}
		}
	})
	switch {
	case err != nil:
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case errno != 0:
		return nil, 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		pool.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
}
