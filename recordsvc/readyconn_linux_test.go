package main

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/mem"

	"github.com/clusterdns/clusterdns/recordsvc/internal/admission"
)

// readyReader is what gRPC looks for on a connection to read it when ready.
type readyReader interface {
	ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error)
}

// TestReadyConn accepts TCP connections through the admission limit and
// readyListener and reads them as gRPC does: the data the peer sent, a
// timeout at the read deadline, io.EOF once the peer closed.
func TestReadyConn(t *testing.T) {
	tests := []struct {
		name string
		// peer acts on the client side, then the server reads once.
		peer     func(t *testing.T, c net.Conn)
		deadline bool
		want     string
		wantErr  error
	}{
		{name: "data", peer: func(t *testing.T, c net.Conn) { write(t, c, "hello") }, want: "hello"},
		{name: "data then close", peer: func(t *testing.T, c net.Conn) { write(t, c, "bye"); _ = c.Close() }, want: "bye"},
		{name: "closed", peer: func(_ *testing.T, c net.Conn) { _ = c.Close() }, wantErr: io.EOF},
		{name: "deadline", peer: func(*testing.T, net.Conn) {}, deadline: true, wantErr: os.ErrDeadlineExceeded},
	}
	pool := mem.DefaultBufferPool()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := acceptReady(t)
			rr, ok := server.(readyReader)
			if !ok {
				t.Fatalf("accepted %T, not read when ready", server)
			}
			tt.peer(t, client)
			if tt.deadline {
				if err := server.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			buf, n, err := rr.ReadOnReady(16, pool)
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

// acceptReady connects to a readyListener over the admission limit, as the
// record service listens, and returns both ends, closed at the test's end.
func acceptReady(t *testing.T) (client, server net.Conn) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := readyListener{admission.LimitListener(tcp, admission.ListenerLimits{Total: 10, PerIP: 10}, nil)}
	t.Cleanup(func() { lis.Close() })
	client, err = net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// TestReadyConnWrite writes through an accepted readyConn (package rawsock
// tests its raw writes at length) what the peer reads.
func TestReadyConnWrite(t *testing.T) {
	client, server := acceptReady(t)
	if _, ok := server.(*readyConn); !ok {
		t.Fatalf("accepted %T, not a readyConn", server)
	}
	if _, err := server.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("answer"))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "answer" {
		t.Fatalf("peer read %q, %v; want \"answer\"", got, err)
	}
}
