package main

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/mem"
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
	var (
		buf     *[]byte
		n       int
		readErr error
	)
	err := c.raw.Read(func(fd uintptr) bool {
		buf = pool.Get(bufSize)
		n, readErr = rawSyscall(unix.SYS_READ, fd, *buf)
		if readErr != nil {
			pool.Put(buf)
			buf = nil
		}
		// false: not readable yet, wait and call again.
		return !errors.Is(readErr, syscall.EAGAIN)
	})
	switch {
	case err != nil:
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case readErr != nil:
		return nil, 0, readErr
	case n == 0:
		pool.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
}

// The socket does not block (the poller waits for it), so readyConn reads
// and writes it with raw system calls, which keep the goroutine's
// processor (P): an ordinary call tells the scheduler the thread may
// block, so the first after an idle spell wakes the runtime's monitor
// thread, which then polls every 20 µs while the process is busy. A
// LookupStream question at a low rate is a read and a write after idle
// spells, and those wake-ups were a large part of its cost.

// Write writes all of p to the socket, waiting in the poller while its
// buffer is full.
func (c *readyConn) Write(p []byte) (int, error) {
	written := 0
	var writeErr error
	err := c.raw.Write(func(fd uintptr) bool {
		writeErr = nil
		for written < len(p) && writeErr == nil {
			var n int
			n, writeErr = rawSyscall(unix.SYS_WRITE, fd, p[written:])
			written += n
		}
		return !errors.Is(writeErr, syscall.EAGAIN)
	})
	if err == nil {
		err = writeErr
	}
	if err != nil {
		return written, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return written, nil
}

// rawSyscall reads or writes (trap) p on fd, again when interrupted.
func rawSyscall(trap, fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, syscall.EAGAIN
		}
		return 0, os.NewSyscallError("syscall", e)
	}
}
