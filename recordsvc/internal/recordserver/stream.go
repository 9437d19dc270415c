package recordserver

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

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
// One goroutine receives and this one sends: gRPC allows one receiver and
// one sender, and only the handler's goroutine may send. The receiver
// answers a question itself when it is cheap, which nearly every one is (a
// miss of a frontend's cache is a name parsed and a map or two read), so a
// miss costs one hand-off between goroutines here rather than two. A
// question known to be expensive (its answer was large enough to memoize,
// so it may also wait for another stream's computation of it) goes to one
// of up to lookupStreamWorkers workers instead, so that it does not hold up
// the small ones behind it. Workers start when such questions find none
// idle and stop after lookupStreamIdle without one, so an idle stream (a
// frontend between misses, thousands of them on one replica) holds only
// the receiver and the sender.
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
	var workers sync.WaitGroup
	// exited takes a token from each worker that stops for idleness, so the
	// receiver's count of running workers stays exact.
	exited := make(chan struct{}, lookupStreamWorkers)
	go func() {
		running := 0
		// take waits for a slot; false when the stream ended.
		take := func() bool {
			select {
			case slots <- struct{}{}:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// put answers a cheap question at once; it hands an expensive one
		// to an idle worker, else to a new one while fewer than
		// lookupStreamWorkers run, else waits for one; false when the
		// stream ended.
		put := func(req *clusterdnsv1.LookupStreamRequest) bool {
			if !s.memo.known(req.GetRequest()) {
				// answers has room for every question holding a slot,
				// so this never waits.
				select {
				case answers <- s.answerStream(req):
					return true
				case <-ctx.Done():
					return false
				}
			}
			select {
			case reqs <- req:
				return true
			default:
			}
			if running < lookupStreamWorkers {
				running++
				workers.Go(func() { s.answerWorker(ctx, req, reqs, answers, exited) })
				return true
			}
			select {
			case reqs <- req:
				return true
			case <-exited:
				// A worker stopped for idleness as this question came:
				// start its successor with the question.
				workers.Go(func() { s.answerWorker(ctx, req, reqs, answers, exited) })
				return true
			case <-ctx.Done():
				return false
			}
		}
		// The receiver is the only goroutine that starts workers, so it
		// also waits for them (idle ones end when reqs closes) before the
		// sender learns that no answer comes anymore.
		defer func() {
			close(reqs)
			workers.Wait()
			close(answers)
		}()
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

// answerWorker answers first, then the questions put hands it, until the
// stream ends or none came for lookupStreamIdle; it then leaves a token on
// exited so the receiver knows a worker fewer runs.
func (s *Server) answerWorker(ctx context.Context, first *clusterdnsv1.LookupStreamRequest, reqs <-chan *clusterdnsv1.LookupStreamRequest, answers chan<- *clusterdnsv1.LookupStreamResponse, exited chan<- struct{}) {
	wait := time.Duration(s.streamIdle.Load())
	idle := time.NewTimer(wait)
	defer idle.Stop()
	req := first
	for {
		select {
		case answers <- s.answerStream(req):
		case <-ctx.Done():
			return
		}
		idle.Reset(wait)
		var open bool
		select {
		case req, open = <-reqs:
			if !open {
				return
			}
		case <-idle.C:
			exited <- struct{}{}
			return
		case <-ctx.Done():
			return
		}
	}
}

// lookupStreamIdle is how long a LookupStream worker waits for a question
// before it stops.
const lookupStreamIdle = 5 * time.Second

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
