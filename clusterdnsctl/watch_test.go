package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// fakeServer is a RecordService and DiscoveryService on loopback whose
// streams do what the test says, and which records the requests.
type fakeServer struct {
	clusterdnsv1.UnimplementedDiscoveryServiceServer
	clusterdnsv1.UnimplementedRecordServiceServer

	watchServices func(n int, req *clusterdnsv1.WatchServicesRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]) error
	watch         func(n int, req *clusterdnsv1.WatchRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error

	mu    sync.Mutex
	calls int
}

func (f *fakeServer) next() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.calls
}

func (f *fakeServer) WatchServices(req *clusterdnsv1.WatchServicesRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]) error {
	return f.watchServices(f.next(), req, s)
}

func (f *fakeServer) Watch(req *clusterdnsv1.WatchRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	return f.watch(f.next(), req, s)
}

// serve runs f on a loopback port until the test ends and returns it.
func (f *fakeServer) serve(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	clusterdnsv1.RegisterDiscoveryServiceServer(gs, f)
	clusterdnsv1.RegisterRecordServiceServer(gs, f)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// ctlProcess is run() in a goroutine, as a process would run, with its
// standard output readable line by line.
type ctlProcess struct {
	cancel context.CancelFunc
	lines  *bufio.Scanner
	done   chan int
	stderr *strings.Builder
}

func startCtl(t *testing.T, args ...string) *ctlProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &ctlProcess{cancel: cancel, lines: bufio.NewScanner(pr), done: make(chan int, 1), stderr: &strings.Builder{}}
	var stderrMu sync.Mutex
	go func() {
		code := run(ctx, args, pw, writerFunc(func(b []byte) (int, error) {
			stderrMu.Lock()
			defer stderrMu.Unlock()
			return p.stderr.Write(b)
		}))
		pw.Close()
		p.done <- code
	}()
	t.Cleanup(func() {
		cancel()
		pr.Close()
	})
	return p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// line returns the next line of output, failing t at the end of output.
func (p *ctlProcess) line(t *testing.T) string {
	t.Helper()
	if !p.lines.Scan() {
		t.Fatalf("output ended; exit code %d", p.exit(t))
	}
	return p.lines.Text()
}

// exit waits (at most a minute) for the exit code.
func (p *ctlProcess) exit(t *testing.T) int {
	t.Helper()
	// Drain what is left so that the writer never blocks on the pipe.
	go func() {
		for p.lines.Scan() {
		}
	}()
	select {
	case code := <-p.done:
		return code
	case <-time.After(time.Minute):
		t.Fatal("clusterdnsctl did not exit within a minute")
		return -1
	}
}

func state(ns, name string, endpoints int) *clusterdnsv1.ServiceState {
	st := &clusterdnsv1.ServiceState{Ref: &clusterdnsv1.ServiceRef{Namespace: ns, Name: name}, Exists: true,
		Service: &clusterdnsv1.Service{Namespace: ns, Name: name, Type: clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP}}
	for range endpoints {
		st.Endpoints = append(st.Endpoints, &clusterdnsv1.Endpoint{Addresses: []string{"10.0.0.1"}, Ready: true, Serving: true})
	}
	return st
}

// TestWatchServicesFollow: a stream that ends with UNAVAILABLE is resumed
// under --follow from the revision and server id of the last message
// (not from the 0 a split batch's first part carries), and an interrupt
// ends the watch with exit 0.
func TestWatchServicesFollow(t *testing.T) {
	t.Parallel()
	resumed := make(chan *clusterdnsv1.WatchServicesRequest, 1)
	f := &fakeServer{watchServices: func(n int, req *clusterdnsv1.WatchServicesRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]) error {
		if n == 1 {
			for _, m := range []*clusterdnsv1.WatchServicesResponse{
				{Revision: 0, ServerId: "s1", States: []*clusterdnsv1.ServiceState{state("a", "b", 1)}},
				{Revision: 5, ServerId: "s1", States: []*clusterdnsv1.ServiceState{state("a", "c", 0)}},
			} {
				if err := s.Send(m); err != nil {
					return err
				}
			}
			return status.Error(codes.Unavailable, "lameduck")
		}
		resumed <- req
		if err := s.Send(&clusterdnsv1.WatchServicesResponse{Revision: 9, ServerId: "s1", Resumed: true,
			States: []*clusterdnsv1.ServiceState{state("a", "b", 2)}}); err != nil {
			return err
		}
		<-s.Context().Done()
		return nil
	}}
	addr := f.serve(t)
	p := startCtl(t, "watch", "a/b", "a/c", "--follow", "--recordsvc", addr, "-o", "json")
	var revisions []uint64
	for range 3 {
		var m clusterdnsv1.WatchServicesResponse
		line := p.line(t)
		if err := protojson.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		revisions = append(revisions, m.GetRevision())
	}
	if revisions[0] != 0 || revisions[1] != 5 || revisions[2] != 9 {
		t.Fatalf("revisions %v, want 0 5 9", revisions)
	}
	req := <-resumed
	if req.GetResumeRevision() != 5 || req.GetResumeServerId() != "s1" || len(req.GetRefs()) != 2 || req.GetClientName() != "clusterdnsctl" {
		t.Fatalf("resumed with %v", req)
	}
	p.cancel()
	if code := p.exit(t); code != exitOK {
		t.Fatalf("interrupted watch: exit %d, %s", code, p.stderr)
	}
}

// TestWatchStreamEnds: without --follow, a stream the server ends (with an
// error or cleanly) ends clusterdnsctl with exit 3 after printing what came,
// and so does a stream whose first message does not come within --timeout.
func TestWatchStreamEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		end    error
		sends  bool
		stderr string
	}{
		{"unavailable", status.Error(codes.Unavailable, "server stopping"), true, "server stopping"},
		{"clean end", nil, true, "the record service ended the stream"},
		{"silent", nil, false, "no message within --timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeServer{watch: func(n int, req *clusterdnsv1.WatchRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
				if !tc.sends {
					<-s.Context().Done()
					return nil
				}
				if err := s.Send(&clusterdnsv1.WatchResponse{Revision: 3, ServerId: "s", Resync: true, StateDigest: []byte{1}}); err != nil {
					return err
				}
				if err := s.Send(&clusterdnsv1.WatchResponse{Revision: 4, ServerId: "s", Keys: []string{"svc/a/b"}, StateDigest: []byte{2}}); err != nil {
					return err
				}
				return tc.end
			}}
			addr := f.serve(t)
			p := startCtl(t, "watch", "changes", "--recordsvc", addr, "--timeout", "500ms")
			if tc.sends {
				if l := p.line(t); l != "revision 3  server s  resync  digest 01  keys(0)" {
					t.Fatalf("first line %q", l)
				}
				if l := p.line(t); l != "revision 4  server s  digest 02  keys(1) svc/a/b" {
					t.Fatalf("second line %q", l)
				}
			}
			if code := p.exit(t); code != exitUnreachable || !strings.Contains(p.stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitUnreachable, p.stderr)
			}
		})
	}
}

// TestWatchChangesFollow: watch changes --follow resumes from the last
// message carrying a state digest (a revision's last part), not from a
// part without one.
func TestWatchChangesFollow(t *testing.T) {
	t.Parallel()
	resumed := make(chan *clusterdnsv1.WatchRequest, 1)
	f := &fakeServer{watch: func(n int, req *clusterdnsv1.WatchRequest, s grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
		if n == 1 {
			for _, m := range []*clusterdnsv1.WatchResponse{
				{Revision: 3, ServerId: "s", Resync: true, StateDigest: []byte{3}},
				{Revision: 4, ServerId: "s", Keys: []string{"svc/a/b"}},
			} {
				if err := s.Send(m); err != nil {
					return err
				}
			}
			return status.Error(codes.Unavailable, "stopping")
		}
		resumed <- req
		if err := s.Send(&clusterdnsv1.WatchResponse{Revision: 5, ServerId: "s", Resumed: true, StateDigest: []byte{5}}); err != nil {
			return err
		}
		<-s.Context().Done()
		return nil
	}}
	addr := f.serve(t)
	p := startCtl(t, "--recordsvc", addr, "watch", "changes", "--follow")
	for _, want := range []string{"revision 3 ", "revision 4 ", "revision 5 "} {
		if l := p.line(t); !strings.HasPrefix(l, want) {
			t.Fatalf("line %q, want it to start with %q", l, want)
		}
	}
	req := <-resumed
	if req.GetResumeRevision() != 3 || req.GetResumeServerId() != "s" || string(req.GetResumeDigest()) != "\x03" {
		t.Fatalf("resumed with %v", req)
	}
	p.cancel()
	if code := p.exit(t); code != exitOK {
		t.Fatalf("interrupted watch: exit %d, %s", code, p.stderr)
	}
}
