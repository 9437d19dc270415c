package recordclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// deafRecords opens LookupStreams and never reads them, as a record service
// that is stopped (SIGSTOP) or stuck: once the HTTP/2 flow-control window
// is full the client's Send blocks.
type deafRecords struct{ *fakeRecords }

func (f *deafRecords) LookupStream(stream grpc.BidiStreamingServer[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]) error {
	<-stream.Context().Done()
	return nil
}

// lookupOutcome is how one Lookup ended and how long it took.
type lookupOutcome struct {
	err error
	d   time.Duration
}

// lookupBurst makes n lookups at once, each with a name of its own, and
// returns how each ended.
func lookupBurst(c *recordclient.Client, n int) []lookupOutcome {
	// Long names fill the flow-control window with few questions.
	pad := strings.Repeat("x", 60)
	long := strings.Repeat(pad+".", 12)
	out := make([]lookupOutcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("%sq%d.cluster.local.", long, i)
			start := time.Now()
			_, err := c.Lookup(context.Background(), name, 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
			out[i] = lookupOutcome{err: err, d: time.Since(start)}
		})
	}
	wg.Wait()
	return out
}

// TestLookupTimeoutOnBackedUpStream: while the stream is backed up (the
// sender blocked in Send), every Lookup still returns within its timeout,
// with a margin for a loaded machine (3x): the questions sent or queued
// time out, and while the send queue is full the others fail at once with
// ErrOverloaded. None waits for another.
func TestLookupTimeoutOnBackedUpStream(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"1s", time.Second},
		{"2s", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			// The smallest windows gRPC allows: a few dozen questions fill
			// them.
			s := grpc.NewServer(grpc.InitialWindowSize(64<<10), grpc.InitialConnWindowSize(64<<10))
			clusterdnsv1.RegisterRecordServiceServer(s, &deafRecords{fakeRecords: newFake()})
			go func() { _ = s.Serve(ln) }()
			t.Cleanup(s.Stop)
			c, err := recordclient.New(recordclient.Config{Target: ln.Addr().String(), LookupTimeout: tt.timeout})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			limit := 3 * tt.timeout

			// More questions than the window and the send queue hold.
			first := lookupBurst(c, 1500)
			var timedOut, overloaded int
			for i, o := range first {
				switch {
				case errors.Is(o.err, recordclient.ErrOverloaded):
					overloaded++
				case status.Code(o.err) == codes.DeadlineExceeded:
					timedOut++
				default:
					t.Fatalf("lookup %d: %v, want a timeout or ErrOverloaded", i, o.err)
				}
				if o.d > limit {
					t.Errorf("lookup %d (%v) took %v, want at most %v", i, o.err, o.d, limit)
				}
			}
			t.Logf("first burst: %d timed out, %d overloaded", timedOut, overloaded)
			if overloaded == 0 {
				t.Fatal("no lookup failed fast with ErrOverloaded: the stream never backed up")
			}
		})
	}
}
