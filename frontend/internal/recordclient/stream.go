package recordclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Lookups travel over one LookupStream per connection rather than one
// unary call each: a cache miss then costs a message each way instead of a
// whole HTTP/2 stream (headers, trailers, stream bookkeeping and a server
// goroutine per call), which is most of a miss's cost in both processes.
//
// The stream is opened on first use and reopened after it breaks. A lookup
// whose stream breaks before its answer comes (the replica went away, shut
// down, or does not know LookupStream) is asked again with a unary Lookup
// within its own deadline, so it fails only where a unary call would. A
// server that answers UNIMPLEMENTED (an older record service) gets unary
// calls only, until streamRetryAfter has passed.

// streamRetryAfter is how long the client keeps to unary calls after a
// server answered LookupStream with UNIMPLEMENTED.
const streamRetryAfter = 30 * time.Second

// errStreamBroken marks a lookup the stream could not answer: the caller
// asks again with a unary call.
var errStreamBroken = errors.New("lookup stream broken")

// lookupResult is the answer to one question on the stream.
type lookupResult struct {
	resp *clusterdnsv1.LookupResponse
	err  error
}

// lookupStream is one LookupStream and the questions in flight on it.
type lookupStream struct {
	// opened is closed once the stream is open or failed to open (err).
	opened chan struct{}
	stream grpc.BidiStreamingClient[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]
	cancel context.CancelFunc

	// mu guards sending and the fields below.
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan lookupResult
	// err is set when the stream broke; no question is sent after.
	err error
}

// streams holds the client's current lookup stream.
type streams struct {
	mu  sync.Mutex
	cur *lookupStream
	// unaryUntil is when to try LookupStream again after UNIMPLEMENTED.
	unaryUntil time.Time
	// ctx ends every stream when the client closes.
	ctx    context.Context
	cancel context.CancelFunc
}

// lookupStreamed asks one question over the lookup stream. It returns
// errStreamBroken (wrapped) when the question should be asked with a unary
// call instead.
func (c *Client) lookupStreamed(ctx context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	ls := c.currentStream()
	if ls == nil {
		return nil, errStreamBroken
	}
	select {
	case <-ls.opened:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if ls.stream == nil {
		return nil, errStreamBroken
	}
	done := make(chan lookupResult, 1)
	ls.mu.Lock()
	if ls.err != nil {
		ls.mu.Unlock()
		return nil, errStreamBroken
	}
	id := ls.nextID
	ls.nextID++
	ls.pending[id] = done
	err := ls.stream.Send(&clusterdnsv1.LookupStreamRequest{Id: id, Request: req})
	ls.mu.Unlock()
	if err != nil {
		// The receiving goroutine sees the failure too and fails the
		// questions in flight, this one included.
		ls.cancel()
		return nil, errStreamBroken
	}
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		ls.mu.Lock()
		delete(ls.pending, id)
		ls.mu.Unlock()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// currentStream returns the open lookup stream, opening one when there is
// none; nil while the server is known not to implement LookupStream.
func (c *Client) currentStream() *lookupStream {
	s := &c.streams
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return s.cur
	}
	if s.ctx.Err() != nil || time.Now().Before(s.unaryUntil) {
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	ls := &lookupStream{opened: make(chan struct{}), cancel: cancel, pending: make(map[uint64]chan lookupResult)}
	s.cur = ls
	go c.runStream(ctx, ls)
	return ls
}

// runStream opens ls and delivers its answers until it breaks.
func (c *Client) runStream(ctx context.Context, ls *lookupStream) {
	defer ls.cancel()
	stream, err := c.rpc.LookupStream(ctx)
	if err != nil {
		ls.stream = nil
		c.streamBroken(ls, err)
		close(ls.opened)
		return
	}
	ls.stream = stream
	close(ls.opened)
	for {
		msg, err := stream.Recv()
		if err != nil {
			c.streamBroken(ls, err)
			return
		}
		ls.mu.Lock()
		done, ok := ls.pending[msg.GetId()]
		delete(ls.pending, msg.GetId())
		ls.mu.Unlock()
		if !ok {
			continue // its caller gave up
		}
		if reason := msg.GetInvalidArgument(); reason != "" {
			done <- lookupResult{err: status.Error(codes.InvalidArgument, reason)}
			continue
		}
		if msg.GetResponse() == nil {
			done <- lookupResult{err: errors.New("lookup stream response without an answer")}
			continue
		}
		done <- lookupResult{resp: msg.GetResponse()}
	}
}

// streamBroken retires ls after err: the questions in flight are handed
// back (errStreamBroken) and the next lookup opens a new stream.
func (c *Client) streamBroken(ls *lookupStream, err error) {
	s := &c.streams
	s.mu.Lock()
	if s.cur == ls {
		s.cur = nil
	}
	if status.Code(err) == codes.Unimplemented {
		s.unaryUntil = time.Now().Add(streamRetryAfter)
	}
	s.mu.Unlock()
	ls.mu.Lock()
	ls.err = fmt.Errorf("%w: %w", errStreamBroken, err)
	pending := ls.pending
	ls.pending = nil
	ls.mu.Unlock()
	for _, done := range pending {
		done <- lookupResult{err: errStreamBroken}
	}
	if s.ctx.Err() == nil && status.Code(err) != codes.Unimplemented {
		c.cfg.Logger.Debug("record service lookup stream broken", "target", c.cfg.Target, "err", err)
	}
}
