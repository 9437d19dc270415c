//go:build linux

package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/mem"
)

// tcpPair returns the two ends of a loopback TCP connection and the first
// one's socket.
func tcpPair(t *testing.T) (*net.TCPConn, syscall.RawConn, net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	dialed, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := dialed.(*net.TCPConn)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	return c, rc, peer
}

// TestWrite writes what the peer then reads: a
// small message, and one far larger than the socket buffers, which the
// write finishes only as the peer reads (the socket would block on the
// way).
func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{name: "empty", size: 0},
		{name: "small", size: 100},
		{name: "larger than the socket buffers", size: 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc, peer := tcpPair(t)
			want := make([]byte, tt.size)
			for i := range want {
				want[i] = byte(i * 7)
			}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(peer)
				got <- b
			}()
			n, err := Write(rc, want)
			if err != nil || n != len(want) {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("peer read %d bytes, not the %d written", len(b), len(want))
			}
		})
	}
}

// TestWriteErrors: a write after Close fails as net.Conn's does, and so
// does one whose deadline passes while the peer does not read.
func TestWriteErrors(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		c, rc, _ := tcpPair(t)
		c.Close()
		if _, err := Write(rc, []byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, rc, _ := tcpPair(t)
		if err := c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := Write(rc, make([]byte, 64<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 {
			t.Fatalf("Write to a peer that does not read: %d, %v; want some bytes and a deadline error", n, err)
		}
	})
}

// TestReadOnReady reads as gRPC does: the data the peer sent, io.EOF
// once the peer closed, a timeout at the read deadline.
func TestReadOnReady(t *testing.T) {
	tests := []struct {
		name     string
		peer     func(t *testing.T, c net.Conn)
		deadline bool
		want     string
		wantErr  error
	}{
		{name: "data", peer: func(t *testing.T, c net.Conn) { mustWrite(t, c, "hello") }, want: "hello"},
		{name: "data then close", peer: func(t *testing.T, c net.Conn) { mustWrite(t, c, "bye"); _ = c.Close() }, want: "bye"},
		{name: "closed", peer: func(_ *testing.T, c net.Conn) { _ = c.Close() }, wantErr: io.EOF},
		{name: "deadline", peer: func(*testing.T, net.Conn) {}, deadline: true, wantErr: os.ErrDeadlineExceeded},
	}
	pool := mem.DefaultBufferPool()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc, peer := tcpPair(t)
			tt.peer(t, peer)
			if tt.deadline {
				if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			buf, n, err := ReadOnReady(rc, 16, pool)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || buf != nil || n != 0 {
					t.Fatalf("got %d bytes, %v; want no buffer and %v", n, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string((*buf)[:n]); got != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
			pool.Put(buf)
		})
	}
}

func mustWrite(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}
