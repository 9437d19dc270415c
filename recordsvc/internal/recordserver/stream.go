package recordserver

import (
	"context"
	"errors"
	"io"
	"sync"

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
	go func() {
		defer close(reqs)
		for {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
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
	for {
		select {
		case resp, open := <-answers:
			if !open {
				return streamEnd(recvErr)
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			<-slots
		case <-s.done:
			return status.Error(codes.Unavailable, "record service shutting down")
		}
	}
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
