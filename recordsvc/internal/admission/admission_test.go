package admission

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestLimitListener connects from two loopback addresses and checks which
// connections the server gets, and that closing one frees its slot.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string
	rejectedCh := make(chan string, 16)
	lis := LimitListener(inner, ListenerLimits{Total: 3, PerIP: 2}, func(k string) { rejectedCh <- k })
	defer lis.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	wait := func(what string) (net.Conn, string) {
		t.Helper()
		select {
		case c := <-accepted:
			return c, ""
		case k := <-rejectedCh:
			rejected = append(rejected, k)
			return nil, k
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: neither accepted nor rejected", what)
			return nil, ""
		}
	}
	steps := []struct {
		from string
		want string // "" accepted, else the rejection kind
	}{
		{"127.0.0.1", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1", KindConnectionsPerIP},
		{"127.0.0.2", ""},
		{"127.0.0.2", KindConnectionsTotal},
	}
	var first net.Conn
	for i, s := range steps {
		dial(s.from)
		c, kind := wait(s.from)
		if kind != s.want {
			t.Fatalf("step %d from %s: rejection %q, want %q", i, s.from, kind, s.want)
		}
		if i == 0 {
			first = c
		}
	}
	first.Close() // frees a slot of 127.0.0.1 and of the total
	dial("127.0.0.1")
	if c, kind := wait("after close"); c == nil {
		t.Fatalf("after a close: rejected (%s)", kind)
	}
}

type fakeStream struct {
	grpc.ServerStream
	client string
}

func (f fakeStream) Context() context.Context { return context.Background() }

func TestStreamLimiter(t *testing.T) {
	var kinds []string
	l := NewStreamLimiter(StreamLimits{PerClient: 2, Total: 3}, func(ss grpc.ServerStream) string { return ss.(fakeStream).client },
		func(k string) { kinds = append(kinds, k) })
	icpt := l.Interceptor()
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	results := make(chan error, 8)
	open := func(client string) {
		go func() {
			results <- icpt(nil, fakeStream{client: client}, &grpc.StreamServerInfo{FullMethod: "/x/Watch"}, func(any, grpc.ServerStream) error {
				started <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	expectStart := func() {
		t.Helper()
		select {
		case <-started:
		case err := <-results:
			t.Fatalf("stream refused: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("stream neither started nor refused")
		}
	}
	expectRefused := func(want string) {
		t.Helper()
		select {
		case <-started:
			t.Fatal("stream started beyond the limit")
		case err := <-results:
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("err %v, want RESOURCE_EXHAUSTED", err)
			}
			if kinds[len(kinds)-1] != want {
				t.Fatalf("kind %q, want %q", kinds[len(kinds)-1], want)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("stream neither started nor refused")
		}
	}
	open("a")
	expectStart()
	open("a")
	expectStart()
	open("a")
	expectRefused(KindStreamsPerClient)
	open("b")
	expectStart()
	open("c")
	expectRefused(KindStreamsTotal)
	if n := l.Open(); n != 3 {
		t.Fatalf("open = %d, want 3", n)
	}
	close(release)
	for range 3 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Open(); n != 0 {
		t.Fatalf("open after the streams ended = %d, want 0", n)
	}
}
