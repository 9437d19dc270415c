package recordclient_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// streamRecords is a RecordService with LookupStream: it answers each
// question with the question's name in server_id, so that a test sees
// every answer reach the right caller. A question named "invalid." is
// refused; "break." ends the stream instead of answering. With batching
// set it reads batched questions, says so, and answers each message's
// questions in one message; without, it is a server that knows no batches.
type streamRecords struct {
	*fakeRecords
	batching bool
	// miss answers every question as the record service answers a name
	// that does not exist: NXDOMAIN with the zone's SOA and two keys.
	miss     bool
	streamed atomic.Int64
	unary    atomic.Int64
	// batches counts the messages that carried a batch, sizes the
	// questions they held.
	batches, batched atomic.Int64
}

func (f *streamRecords) Lookup(_ context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	f.unary.Add(1)
	return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, ServerId: req.GetName()}, nil
}

func (f *streamRecords) LookupStream(stream grpc.BidiStreamingServer[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil
		}
		if n := len(msg.GetBatch()); n > 0 {
			f.batches.Add(1)
			f.batched.Add(int64(n + 1))
		}
		questions := []*clusterdnsv1.LookupStreamRequest{msg}
		if f.batching {
			questions = append(questions, msg.GetBatch()...)
		}
		var answers []*clusterdnsv1.LookupStreamResponse
		for _, req := range questions {
			f.streamed.Add(1)
			resp := &clusterdnsv1.LookupStreamResponse{Id: req.GetId(), AcceptsBatch: f.batching}
			switch name := req.GetRequest().GetName(); name {
			case "break.":
				return status.Error(codes.Unavailable, "stream broken by the test")
			case "invalid.":
				resp.InvalidArgument = "name: invalid"
			default:
				resp.Response = &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, ServerId: name}
				if f.miss {
					resp.Response = missAnswer(name)
				}
			}
			answers = append(answers, resp)
		}
		if f.batching && msg.GetAcceptBatch() {
			answers[0].Batch = answers[1:]
			answers = answers[:1]
		}
		for _, resp := range answers {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}

func newStreamClient(t testing.TB, srv clusterdnsv1.RecordServiceServer, unary bool) *recordclient.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(s, srv)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	var c *recordclient.Client
	c, err = recordclient.New(recordclient.Config{Target: ln.Addr().String(), UnaryLookups: unary})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLookupStream(t *testing.T) {
	tests := []struct {
		name         string
		unary        bool
		batching     bool
		wantStreamed bool
	}{
		{"streamed", false, false, true},
		{"streamed in batches", false, true, true},
		{"unary by configuration", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &streamRecords{fakeRecords: newFake(), batching: tt.batching}
			c := newStreamClient(t, f, tt.unary)
			ctx := t.Context()
			// Many callers at once: each gets the answer to its own question.
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for i := range 200 {
				wg.Go(func() {
					name := fmt.Sprintf("q%d.cluster.local.", i)
					resp, err := c.Lookup(ctx, name, 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
					switch {
					case err != nil:
						errs <- err
					case resp.GetServerId() != name:
						errs <- fmt.Errorf("asked %s, got the answer to %s", name, resp.GetServerId())
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if streamed := f.streamed.Load() > 0; streamed != tt.wantStreamed || (streamed && f.unary.Load() != 0) {
				t.Fatalf("streamed %d, unary %d; want streamed: %v", f.streamed.Load(), f.unary.Load(), tt.wantStreamed)
			}
			if !c.Ready() {
				t.Fatal("not Ready after answered lookups")
			}
			// A server that does not say it reads batches never gets one:
			// their questions would go unanswered.
			if !tt.batching && f.batches.Load() != 0 {
				t.Fatalf("%d batches sent to a server without batches", f.batches.Load())
			}
			t.Logf("%d of %d questions came in %d batches", f.batched.Load(), f.streamed.Load(), f.batches.Load())
		})
	}
}

// TestLookupStreamFallback checks the cases the stream cannot answer: a
// server without LookupStream and a stream that breaks are answered by
// unary calls; a refused question is InvalidArgument as with a unary call.
func TestLookupStreamFallback(t *testing.T) {
	t.Run("server without LookupStream", func(t *testing.T) {
		f := newFake()
		c := newStreamClient(t, f, false)
		for range 3 {
			if _, err := c.Lookup(t.Context(), "a.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP); err != nil {
				t.Fatal(err)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.lookups) != 3 {
			t.Fatalf("%d unary lookups, want 3", len(f.lookups))
		}
	})
	t.Run("stream breaks", func(t *testing.T) {
		f := &streamRecords{fakeRecords: newFake()}
		c := newStreamClient(t, f, false)
		resp, err := c.Lookup(t.Context(), "break.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
		if err != nil || resp.GetServerId() != "break." {
			t.Fatalf("got %v %v, want the unary answer", resp, err)
		}
		if f.unary.Load() != 1 {
			t.Fatalf("%d unary lookups, want 1", f.unary.Load())
		}
		// The next question opens a new stream.
		resp, err = c.Lookup(t.Context(), "after.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
		if err != nil || resp.GetServerId() != "after." || f.unary.Load() != 1 {
			t.Fatalf("got %v %v (unary %d), want a streamed answer", resp, err, f.unary.Load())
		}
	})
	t.Run("invalid argument", func(t *testing.T) {
		f := &streamRecords{fakeRecords: newFake()}
		c := newStreamClient(t, f, false)
		_, err := c.Lookup(t.Context(), "invalid.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("got %v, want InvalidArgument", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		f := &stalledRecords{fakeRecords: newFake()}
		c := newStreamClient(t, f, false)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Lookup(ctx, "a.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})
}

// stalledRecords takes questions on its LookupStream and never answers.
type stalledRecords struct{ *fakeRecords }

func (f *stalledRecords) LookupStream(stream grpc.BidiStreamingServer[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]) error {
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
	}
}
