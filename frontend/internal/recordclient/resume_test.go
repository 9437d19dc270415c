package recordclient_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// requestFake is a fakeRecords that passes on the WatchRequests it
// receives.
type requestFake struct {
	*fakeRecords
	reqs chan *clusterdnsv1.WatchRequest
}

// serveFake starts a gRPC server for f on a free loopback port.
func serveFake(t *testing.T, f *requestFake) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(s, f)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func (f *requestFake) Watch(req *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	f.reqs <- req
	return f.fakeRecords.Watch(req, stream)
}

// resumeRecorder is a recorder that can resume.
type resumeRecorder struct{ recorder }

func (r resumeRecorder) Resume(server string, rev uint64, keys []string, same bool) {
	r.events <- fmt.Sprintf("resume %s %d %s same=%v", server, rev, strings.Join(keys, ","), same)
}

// expectRequest checks the resume point of the next WatchRequest.
func expectRequest(t *testing.T, reqs <-chan *clusterdnsv1.WatchRequest, rev uint64, server, digest string) {
	t.Helper()
	select {
	case req := <-reqs:
		if req.GetResumeRevision() != rev || req.GetResumeServerId() != server || string(req.GetResumeDigest()) != digest {
			t.Fatalf("WatchRequest resumes from (%d, %q, %q), want (%d, %q, %q)", req.GetResumeRevision(),
				req.GetResumeServerId(), req.GetResumeDigest(), rev, server, digest)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no WatchRequest")
	}
}

// TestWatchResume: the client asks to resume from the last message with a
// state digest it applied (a revision split over messages counts once its
// last part is applied), hands a resumed catch-up to Resume, and starts
// afresh after a resync; a handler that cannot resume never asks.
func TestWatchResume(t *testing.T) {
	tests := []struct {
		name      string
		canResume bool
	}{
		{"handler that resumes", true},
		{"handler that cannot", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := newFake()
			f := &requestFake{fakeRecords: base, reqs: make(chan *clusterdnsv1.WatchRequest, 8)}
			addr := serveFake(t, f)
			c := newClient(t, addr, time.Second)
			rec := recorder{events: make(chan string, 16)}
			var h interface {
				Resync(string, uint64)
				Invalidate(string, uint64, []string)
				Disconnected()
			} = rec
			if tt.canResume {
				h = resumeRecorder{rec}
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); _ = c.Watch(ctx, h) }()
			t.Cleanup(func() { cancel(); <-done })
			want := func(rev uint64, server, digest string) {
				t.Helper()
				if !tt.canResume {
					rev, server, digest = 0, "", ""
				}
				expectRequest(t, f.reqs, rev, server, digest)
			}

			want(0, "", "")
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 5, ServerId: "s1", Resync: true, StateDigest: []byte("d5")})
			expect(t, rec.events, "resync s1 5")
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 6, ServerId: "s1", Keys: []string{"a"}, StateDigest: []byte("d6")})
			expect(t, rec.events, "invalidate s1 6 a")
			// Revision 7 split over two messages, of which only the first
			// arrives.
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 7, ServerId: "s1", Keys: []string{"b"}})
			expect(t, rec.events, "invalidate s1 7 b")
			base.breaks <- struct{}{}
			expect(t, rec.events, "disconnected")

			want(6, "s1", "d6")
			// The catch-up, in two messages of revision 9.
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 9, ServerId: "s1", Resumed: true, Keys: []string{"b", "c"}})
			if tt.canResume {
				expect(t, rec.events, "resume s1 9 b,c same=true")
			} else {
				expect(t, rec.events, "resync s1 9")
			}
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 9, ServerId: "s1", Keys: []string{"d"}, StateDigest: []byte("d9")})
			expect(t, rec.events, "invalidate s1 9 d")
			base.breaks <- struct{}{}
			expect(t, rec.events, "disconnected")

			want(9, "s1", "d9")
			// Another replica resumes by digest.
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 40, ServerId: "s2", Resumed: true, StateDigest: []byte("d40")})
			if tt.canResume {
				expect(t, rec.events, "resume s2 40  same=false")
			} else {
				expect(t, rec.events, "resync s2 40")
			}
			base.breaks <- struct{}{}
			expect(t, rec.events, "disconnected")

			want(40, "s2", "d40")
			// It could not resume: a resync without a digest leaves nothing
			// to resume from.
			send(t, base, &clusterdnsv1.WatchResponse{Revision: 2, ServerId: "s3", Resync: true})
			expect(t, rec.events, "resync s3 2")
			base.breaks <- struct{}{}
			expect(t, rec.events, "disconnected")
			want(0, "", "")
		})
	}
}
