package grpcresolver

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"
)

// build starts a resolver of target against the record service at addr and
// closes it when the test ends.
func build(t *testing.T, addr, target string, opts ...Option) (*Builder, resolver.Resolver, *fakeCC) {
	t.Helper()
	opts = append([]Option{WithRecordService(addr), WithBackoff(20*time.Millisecond, 200*time.Millisecond), WithClientName(t.Name())}, opts...)
	b, err := NewBuilder(opts...)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	cc := newFakeCC(t)
	r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err != nil {
		t.Fatalf("Build(%s): %v", target, err)
	}
	t.Cleanup(r.Close)
	return b, r, cc
}

// TestResolverFollowsService: the first state, then each change, is pushed;
// a change that leaves the addresses alone pushes nothing.
func TestResolverFollowsService(t *testing.T) {
	f := newFakeDiscovery("server-1")
	echo := svc("demo", "echo", port("grpc", 50051))
	f.set("demo", "echo", echo, ep("10.1.0.1", "a", port("grpc", 8080)), ep("10.1.0.2", "b", port("grpc", 8081)))
	addr, _ := serveFake(t, f, "127.0.0.1:0")
	_, _, cc := build(t, addr, "clusterdns:///echo.demo:grpc")

	if got := addrsOf(cc.nextUpdate(t)); !slices.Equal(got, []string{"10.1.0.1:8080", "10.1.0.2:8081"}) {
		t.Fatalf("first state %q", got)
	}
	// A second endpoint terminating and a third one ready.
	term := ep("10.1.0.2", "b", port("grpc", 8081))
	term.Ready, term.Terminating = false, true
	f.set("demo", "echo", echo, ep("10.1.0.1", "a", port("grpc", 8080)), term, ep("10.1.0.3", "c", port("grpc", 8082)))
	s := cc.nextUpdate(t)
	if got := addrsOf(s); !slices.Equal(got, []string{"10.1.0.1:8080", "10.1.0.3:8082"}) {
		t.Fatalf("after change %q", got)
	}
	if z := ZoneFromAddress(s.Addresses[1]); z != "c" {
		t.Errorf("zone of %s: %q, want c", s.Addresses[1].Addr, z)
	}
	// A metrics port added to the Service changes nothing for grpc.
	f.set("demo", "echo", svc("demo", "echo", port("grpc", 50051), port("metrics", 9100)),
		ep("10.1.0.1", "a", port("grpc", 8080)), term, ep("10.1.0.3", "c", port("grpc", 8082)))
	// Then every endpoint goes: an empty state and the reason.
	f.set("demo", "echo", echo)
	if s := cc.nextUpdate(t); len(s.Addresses) != 0 || len(s.Endpoints) != 0 {
		t.Fatalf("state without endpoints: %q", addrsOf(s))
	}
	if err := cc.nextError(t); !strings.Contains(err.Error(), "no ready endpoints") {
		t.Fatalf("error %v, want no ready endpoints", err)
	}
	select {
	case s := <-cc.updates:
		t.Fatalf("unexpected extra state %q", addrsOf(s))
	default:
	}
	if reqs := f.watchRequests(); len(reqs) != 1 || reqs[0].GetClientName() != t.Name() || len(reqs[0].GetRefs()) != 1 ||
		reqs[0].GetRefs()[0].GetNamespace() != "demo" || reqs[0].GetRefs()[0].GetName() != "echo" || reqs[0].GetResumeServerId() != "" {
		t.Fatalf("watch requests %v", reqs)
	}
}

// TestResolverKeepsStateAndResumes: when the record service goes away the
// ClientConn keeps its addresses (no empty state, no error), and the
// resolver reconnects and resumes from its last revision and server id.
func TestResolverKeepsStateAndResumes(t *testing.T) {
	f := newFakeDiscovery("server-1")
	echo := svc("demo", "echo", port("grpc", 50051))
	f.set("demo", "echo", echo, ep("10.1.0.1", "a", port("grpc", 8080)))
	addr, stop := serveFake(t, f, "127.0.0.1:0")
	_, _, cc := build(t, addr, "clusterdns:///echo.demo:50051")
	if got := addrsOf(cc.nextUpdate(t)); !slices.Equal(got, []string{"10.1.0.1:8080"}) {
		t.Fatalf("first state %q", got)
	}
	f.mu.Lock()
	rev := f.revision
	f.mu.Unlock()

	// A cut stream resumes at once from where it stopped.
	f.cutStreams()
	eventually(t, "resumed stream", func() string {
		reqs := f.watchRequests()
		if len(reqs) < 2 {
			return fmt.Sprintf("%d requests", len(reqs))
		}
		if r := reqs[1]; r.GetResumeServerId() != "server-1" || r.GetResumeRevision() != rev {
			t.Fatalf("resume request %v, want server-1 at %d", r, rev)
		}
		return ""
	})

	// The server goes away for a while: several attempts fail.
	stop()
	time.Sleep(time.Second)
	select {
	case s := <-cc.updates:
		t.Fatalf("state pushed while the record service is down: %q", addrsOf(s))
	case err := <-cc.errs:
		t.Fatalf("error reported although the ClientConn has addresses: %v", err)
	default:
	}

	// A new server process on the same address: it cannot resume the old
	// one's revision and sends the full state, which changed meanwhile.
	f2 := newFakeDiscovery("server-2")
	f2.set("demo", "echo", echo, ep("10.1.0.1", "a", port("grpc", 8080)), ep("10.1.0.2", "a", port("grpc", 8080)))
	serveFake(t, f2, addr)
	if got := addrsOf(cc.nextUpdate(t)); !slices.Equal(got, []string{"10.1.0.1:8080", "10.1.0.2:8080"}) {
		t.Fatalf("state after reconnect %q", got)
	}
	reqs := f2.watchRequests()
	if len(reqs) == 0 || reqs[0].GetResumeServerId() != "server-1" || reqs[0].GetResumeRevision() != rev {
		t.Fatalf("first request to the new server %v, want resume from server-1 at %d", reqs, rev)
	}
}

// TestResolverServiceMissing: a Service that does not exist is an error,
// not an empty address list; one that is deleted drops its addresses and
// reports why; one created later resolves.
func TestResolverServiceMissing(t *testing.T) {
	f := newFakeDiscovery("server-1")
	addr, _ := serveFake(t, f, "127.0.0.1:0")
	_, _, cc := build(t, addr, "clusterdns:///echo.demo:grpc")
	if s := cc.nextUpdate(t); len(s.Addresses) != 0 {
		t.Fatalf("state of a missing Service %q", addrsOf(s))
	}
	if err := cc.nextError(t); !strings.Contains(err.Error(), "service demo/echo does not exist") {
		t.Fatalf("error %v", err)
	}

	f.set("demo", "echo", svc("demo", "echo", port("grpc", 50051)), ep("10.1.0.1", "a", port("grpc", 8080)))
	if got := addrsOf(cc.nextUpdate(t)); !slices.Equal(got, []string{"10.1.0.1:8080"}) {
		t.Fatalf("state after creation %q", got)
	}
	f.set("demo", "echo", nil)
	if s := cc.nextUpdate(t); len(s.Addresses) != 0 || len(s.Endpoints) != 0 {
		t.Fatalf("state after deletion %q", addrsOf(s))
	}
	if err := cc.nextError(t); !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error after deletion %v", err)
	}
}

// TestResolverErrors: with nothing resolved yet, a failing record service
// is reported to the ClientConn (the call fails with the reason rather than
// waiting), and the resolver keeps trying.
func TestResolverErrors(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		addr, stop := serveFake(t, newFakeDiscovery("x"), "127.0.0.1:0")
		stop()
		_, _, cc := build(t, addr, "clusterdns:///echo.demo:grpc")
		if err := cc.nextError(t); status.Code(err) != codes.Unavailable {
			t.Fatalf("error %v, want UNAVAILABLE", err)
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		f := newFakeDiscovery("x")
		f.deny = status.Error(codes.PermissionDenied, "namespace demo not allowed")
		addr, _ := serveFake(t, f, "127.0.0.1:0")
		_, _, cc := build(t, addr, "clusterdns:///echo.demo:grpc")
		if err := cc.nextError(t); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "echo.demo:grpc") {
			t.Fatalf("error %v, want PERMISSION_DENIED naming the target", err)
		}
		eventually(t, "retry", func() string {
			if n := len(f.watchRequests()); n < 2 {
				return fmt.Sprintf("%d attempts", n)
			}
			return ""
		})
		if len(cc.updates) != 0 {
			t.Fatalf("a state was pushed on error: %q", addrsOf(<-cc.updates))
		}
	})
}

// TestResolverShareAndClose: the resolvers of one Builder share one
// connection, each holds one stream, and Close ends its stream; the
// connection closes with the last resolver.
func TestResolverShareAndClose(t *testing.T) {
	f := newFakeDiscovery("server-1")
	for i := range 5 {
		f.set("demo", fmt.Sprint("svc", i), svc("demo", fmt.Sprint("svc", i), port("grpc", 80)), ep(fmt.Sprint("10.1.0.", i+1), "a", port("grpc", 8080)))
	}
	addr, _ := serveFake(t, f, "127.0.0.1:0")
	b, err := NewBuilder(WithRecordService(addr))
	if err != nil {
		t.Fatal(err)
	}
	var rs []resolver.Resolver
	for i := range 5 {
		u, _ := url.Parse(fmt.Sprintf("clusterdns:///svc%d.demo:grpc", i))
		cc := newFakeCC(t)
		r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		if got := addrsOf(cc.nextUpdate(t)); !slices.Equal(got, []string{fmt.Sprintf("10.1.0.%d:8080", i+1)}) {
			t.Fatalf("svc%d: %q", i, got)
		}
	}
	b.mu.Lock()
	users, conn := b.users, b.conn
	b.mu.Unlock()
	if users != 5 || conn == nil {
		t.Fatalf("%d users of the shared connection, want 5", users)
	}
	if n := f.openStreams(); n != 5 {
		t.Fatalf("%d open streams, want 5", n)
	}
	for i, r := range rs {
		r.Close()
		eventually(t, "stream closed", func() string {
			if n := f.openStreams(); n != 4-i {
				return fmt.Sprintf("%d open streams, want %d", n, 4-i)
			}
			return ""
		})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.users != 0 || b.conn != nil {
		t.Fatalf("after the last Close: %d users, connection %v", b.users, b.conn)
	}
}
