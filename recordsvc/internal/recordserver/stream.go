package recordserver

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

const (
	// lookupStreamInFlight bounds the questions of one LookupStream that
	// are read but not yet answered and sent. When it is reached the
	// stream is not read further, so HTTP/2 flow control pushes back on
	// the client instead of the server buffering without end.
	lookupStreamInFlight = 64
	// lookupStreamWorkers answer the questions of one stream concurrently,
	// so that one large answer does not hold up the small ones behind it.
	lookupStreamWorkers = 4
)

// LookupStream answers the questions of one stream, each as Lookup would,
// in the order the answers are ready. A question Lookup would refuse with
// INVALID_ARGUMENT gets a response carrying invalid_argument instead, and
// the stream goes on. The stream ends when the client closes it or at
// Shutdown (codes.Unavailable: clients then ask elsewhere), so that
// GracefulStop is not held up.
//
// One goroutine receives, lookupStreamWorkers answer and this one sends:
// gRPC allows one receiver and one sender, and only the handler's goroutine
// may send. They live as long as the stream, so a question costs no
// goroutine.
func (s *Server) LookupStream(stream grpc.BidiStreamingServer[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	// slots holds a token per question in flight: taken before a
	// question is read, given back once its answer is sent.
	slots := make(chan struct{}, lookupStreamInFlight)
	reqs := make(chan *clusterdnsv1.LookupStreamRequest)
	answers := make(chan *clusterdnsv1.LookupStreamResponse, lookupStreamInFlight)
	recvErr := make(chan error, 1)
	// batching is set once the client said it reads answers in batches.
	var batching atomic.Bool
	go func() {
		defer close(reqs)
		// take waits for a slot; false when the stream ended.
		take := func() bool {
			select {
			case slots <- struct{}{}:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// put hands a question to the workers; false when the stream ended.
		put := func(req *clusterdnsv1.LookupStreamRequest) bool {
			select {
			case reqs <- req:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			if !take() {
				return
			}
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if req.GetAcceptBatch() {
				batching.Store(true)
			}
			more := req.GetBatch()
			req.Batch = nil
			if !put(req) {
				return
			}
			// Each question of a batch takes a slot of its own, so the
			// bound holds whatever the client packs into a message.
			for _, q := range more {
				q.Batch = nil
				if !take() || !put(q) {
					return
				}
			}
		}
	}()
	var workers sync.WaitGroup
	for range lookupStreamWorkers {
		workers.Go(func() {
			for req := range reqs {
				select {
				case answers <- s.answerStream(req):
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		workers.Wait()
		close(answers)
	}()
	batch := make([]*clusterdnsv1.LookupStreamResponse, 0, lookupStreamBatch)
	for {
		select {
		case resp, open := <-answers:
			if !open {
				return streamEnd(recvErr)
			}
			resp.AcceptsBatch = true
			if batching.Load() {
				// The answers ready now go out in one message.
				batch = collect(answers, batch[:0])
				resp.Batch = batch
			}
			err := stream.Send(resp)
			resp.Batch = nil
			if err != nil {
				return err
			}
			for range 1 + len(batch) {
				<-slots
			}
			clear(batch)
			batch = batch[:0]
		case <-s.done:
			return status.Error(codes.Unavailable, "record service shutting down")
		}
	}
}

// lookupStreamBatch bounds the answers one LookupStreamResponse carries.
const lookupStreamBatch = 64

// collect appends to batch the answers waiting in answers, without
// waiting, up to lookupStreamBatch - 1 of them.
func collect(answers <-chan *clusterdnsv1.LookupStreamResponse, batch []*clusterdnsv1.LookupStreamResponse) []*clusterdnsv1.LookupStreamResponse {
	for len(batch) < lookupStreamBatch-1 {
		select {
		case resp, open := <-answers:
			if !open {
				return batch
			}
			batch = append(batch, resp)
		default:
			return batch
		}
	}
	return batch
}

// streamEnd is how a LookupStream ends once every answer is sent: cleanly
// when the client closed its side, else with the receive error.
func streamEnd(recvErr <-chan error) error {
	select {
	case err := <-recvErr:
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	default:
		return nil // the stream's context ended; gRPC reports why
	}
}

// answerStream answers one question of a LookupStream.
func (s *Server) answerStream(req *clusterdnsv1.LookupStreamRequest) *clusterdnsv1.LookupStreamResponse {
	resp, err := s.answer(req.GetRequest())
	if err != nil {
		return &clusterdnsv1.LookupStreamResponse{Id: req.GetId(), InvalidArgument: err.Error()}
	}
	return &clusterdnsv1.LookupStreamResponse{Id: req.GetId(), Response: resp}
}
