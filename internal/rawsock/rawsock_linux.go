//go:build linux

package rawsock

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/mem"
)

// Wait is a syscall.RawConn's Read or Write: it calls f with the socket
// until f returns true, parking the goroutine in the poller until the
// socket is ready again each time f returns false.
type Wait func(f func(fd uintptr) bool) error

// Call makes the system call trap(fd, p, arg) on the socket through wait:
// again after an interruption, after waiting in the poller while the
// socket would block. It returns the call's result; a failed call's error
// is its syscall.Errno.
func Call(wait Wait, trap uintptr, p unsafe.Pointer, arg uintptr) (int, error) {
	var (
		n     int
		errno syscall.Errno
	)
	err := wait(func(fd uintptr) bool {
		var again bool
		n, errno, again = try(trap, fd, p, arg)
		return !again
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// try makes the call once (again after an interruption); again reports
// that the socket would block.
func try(trap, fd uintptr, p unsafe.Pointer, arg uintptr) (n int, errno syscall.Errno, again bool) {
	for {
		r, _, e := unix.RawSyscall6(trap, fd, uintptr(p), arg, 0, 0, 0)
		switch e {
		case 0:
			return int(r), 0, false
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, 0, true
		default:
			return 0, e, false
		}
	}
}

// Write writes all of p to the socket of rc, waiting in the poller while
// its buffer is full.
func Write(rc syscall.RawConn, p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := Call(rc.Write, unix.SYS_WRITE, unsafe.Pointer(&p[written]), uintptr(len(p)-written))
		written += n
		if err != nil {
			if errno, ok := err.(syscall.Errno); ok {
				err = os.NewSyscallError("write", errno)
			}
			return written, err
		}
	}
	return written, nil
}

// ReadOnReady waits until the socket of rc is readable (or its read
// deadline passes), then reads up to bufSize bytes into a buffer from pool,
// which the caller gives back; no buffer is held while waiting. A closed
// peer is io.EOF. This is gRPC's read-when-ready for connections that have
// it, so an idle connection holds no read buffer.
func ReadOnReady(rc syscall.RawConn, bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	var (
		buf   *[]byte
		n     int
		errno syscall.Errno
	)
	err := rc.Read(func(fd uintptr) bool {
		buf = pool.Get(bufSize)
		var again bool
		n, errno, again = try(unix.SYS_READ, fd, unsafe.Pointer(unsafe.SliceData(*buf)), uintptr(len(*buf)))
		if again || errno != 0 {
			pool.Put(buf)
			buf = nil
		}
		return !again
	})
	switch {
	case err != nil:
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case errno != 0:
		return nil, 0, os.NewSyscallError("read", errno)
	case n == 0:
		pool.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
}
