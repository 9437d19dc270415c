package recordclient

import (
	"errors"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc/mem"
)

// TestRawConn: newRawConn gives a TCP connection raw reads and writes
// (package rawsock tests them) and leaves others alone; its errors are
// net.OpErrors as a net.Conn's, and a closed peer is io.EOF.
func TestRawConn(t *testing.T) {
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
	c, ok := newRawConn(dialed).(*rawConn)
	if !ok {
		t.Fatalf("newRawConn(%T) is not a rawConn", dialed)
	}
	if _, err := c.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("question"))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "question" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	peer.Close()
	if _, _, err := c.ReadOnReady(16, mem.DefaultBufferPool()); err != io.EOF {
		t.Fatalf("ReadOnReady after the peer closed: %v, want io.EOF", err)
	}
	c.Close()
	_, err = c.Write([]byte("x"))
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "write" || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want a write net.OpError wrapping net.ErrClosed", err)
	}

	pipe, other := net.Pipe()
	defer pipe.Close()
	defer other.Close()
	if _, ok := newRawConn(pipe).(*rawConn); ok {
		t.Error("a pipe became a rawConn")
	}
}
