package recordclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
//
// A lookup's deadline holds however backed up the stream is: one sender
// goroutine per stream calls Send, which blocks on HTTP/2 flow control when
// the record service stops reading, and callers hand it their question
// through a bounded queue without waiting; the lock on the questions in
// flight is never held across Send, so a caller that gives up removes its
// question at once. When the queue or the table of questions in flight is
// full the lookup fails at once with ErrOverloaded rather than queueing
// behind questions that will time out anyway.
//
// Once the server has shown it reads batches (accepts_batch in an answer),
// the sender packs the questions queued together into one message, and the
// server answers those ready together in one: under load a message each
// way serves many misses, and so does each gRPC write, read and wakeup.

// streamRetryAfter is how long the client keeps to unary calls after a
// server answered LookupStream with UNIMPLEMENTED.
const streamRetryAfter = 30 * time.Second

// Bounds of one lookup stream: questions waiting for the sender, and
// questions sent or waiting whose answers have not come.
const (
	sendQueueSize = 1024
	maxInFlight   = 8192
	// maxBatch bounds the questions one message carries.
	maxBatch = 64
)

// ErrOverloaded is returned by Lookup when the lookup stream cannot take
// another question: its send queue or its table of questions in flight is
// full, because the record service does not keep up. It is never a
// verdict on the name.
var ErrOverloaded = errors.New("record service lookup stream overloaded")

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
	// opened is closed once the stream is open or failed to open (stream
	// nil).
	opened chan struct{}
	stream grpc.BidiStreamingClient[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]
	cancel context.CancelFunc
	// sendq feeds the sender goroutine.
	sendq chan *streamQuestion
	// questions takes back the questions the sender is done with
	// (Client.questions).
	questions *sync.Pool

	// mu guards the fields below; it is held for map operations only.
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan lookupResult
	// err is set when the stream broke; no question is taken after.
	err error

	// batching is set once the server has shown it reads batches.
	batching atomic.Bool
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

// streamQuestion is a question and the stream message that carries it.
// Questions are pooled (Client.questions), so that a cache miss allocates
// neither: refs counts the holders, the asking Lookup and, from the time
// the question is queued until it is sent or skipped, the sender; the
// last to let go gives it back.
type streamQuestion struct {
	msg  clusterdnsv1.LookupStreamRequest
	req  clusterdnsv1.LookupRequest
	refs atomic.Int32
}

// release lets go of q; the last holder puts it back into pool.
func (q *streamQuestion) release(pool *sync.Pool) {
	if q.refs.Add(-1) != 0 {
		return
	}
	// The messages are reset field by field: a proto message must not
	// be copied over.
	q.msg.Id, q.msg.Request, q.msg.Batch, q.msg.AcceptBatch = 0, nil, nil, false
	q.req.Name, q.req.Qtype, q.req.ClientIp, q.req.Transport, q.req.ClientZone = "", 0, "", 0, ""
	q.req.AcceptAbsentBelow = false
	pool.Put(q)
}

// lookupStreamed asks one question over the lookup stream, giving up at
// deadline or when ctx ends. It returns errStreamBroken (wrapped) when the
// question should be asked with a unary call instead, and ErrOverloaded
// when the stream is backed up.
func (c *Client) lookupStreamed(ctx context.Context, q *streamQuestion, deadline time.Time) (*clusterdnsv1.LookupResponse, error) {
	ls := c.currentStream()
	if ls == nil {
		return nil, errStreamBroken
	}
	timer := c.timers.Get().(*time.Timer)
	timer.Reset(time.Until(deadline))
	// Stopped, a timer's channel holds nothing (Go 1.23 timers): it can
	// be used again.
	defer func() {
		timer.Stop()
		c.timers.Put(timer)
	}()
	select {
	case <-ls.opened:
	case <-timer.C:
		return nil, status.FromContextError(context.DeadlineExceeded).Err()
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if ls.stream == nil {
		return nil, errStreamBroken
	}
	if len(ls.sendq) == cap(ls.sendq) {
		// Backed up: fail without contending for the lock.
		return nil, ErrOverloaded
	}
	done := c.dones.Get().(chan lookupResult)
	ls.mu.Lock()
	if ls.err != nil {
		ls.mu.Unlock()
		c.dones.Put(done)
		return nil, errStreamBroken
	}
	if len(ls.pending) >= maxInFlight {
		ls.mu.Unlock()
		c.dones.Put(done)
		return nil, ErrOverloaded
	}
	id := ls.nextID
	ls.nextID++
	ls.pending[id] = done
	ls.mu.Unlock()
	q.msg.Id, q.msg.Request = id, &q.req
	q.refs.Add(1) // the sender's
	select {
	case ls.sendq <- q:
	default:
		q.refs.Add(-1)
		// Nothing sends on done once its question is forgotten.
		if ls.forget(id) {
			c.dones.Put(done)
		}
		return nil, ErrOverloaded
	}
	select {
	case r := <-done:
		// Its one result taken, done is empty and no one else holds it.
		c.dones.Put(done)
		return r.resp, r.err
	case <-timer.C:
		ls.forget(id)
		return nil, status.FromContextError(context.DeadlineExceeded).Err()
	case <-ctx.Done():
		ls.forget(id)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// forget removes a question whose caller gave up: its answer, if it comes,
// is dropped, and the sender skips it if it has not sent it yet. It reports
// whether the question was still waiting (no answer was handed over).
func (ls *lookupStream) forget(id uint64) bool {
	ls.mu.Lock()
	_, ok := ls.pending[id]
	delete(ls.pending, id)
	ls.mu.Unlock()
	return ok
}

// waiting reports whether the question id still has a caller.
func (ls *lookupStream) waiting(id uint64) bool {
	ls.mu.Lock()
	_, ok := ls.pending[id]
	ls.mu.Unlock()
	return ok
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
	ls := &lookupStream{
		opened:    make(chan struct{}),
		cancel:    cancel,
		sendq:     make(chan *streamQuestion, sendQueueSize),
		questions: &c.questions,
		pending:   make(map[uint64]chan lookupResult),
	}
	s.cur = ls
	go c.runStream(ctx, ls)
	return ls
}

// runStream opens ls, starts its sender and delivers its answers until it
// breaks.
func (c *Client) runStream(ctx context.Context, ls *lookupStream) {
	defer ls.cancel()
	stream, err := c.rpc.LookupStream(ctx, c.streamCodec)
	if err != nil {
		ls.stream = nil
		c.streamBroken(ls, err)
		close(ls.opened)
		return
	}
	ls.stream = stream
	close(ls.opened)
	go ls.send(ctx)
	for {
		msg, err := stream.Recv()
		if err != nil {
			c.streamBroken(ls, err)
			return
		}
		if msg.GetAcceptsBatch() && !ls.batching.Load() {
			ls.batching.Store(true)
		}
		ls.deliver(msg)
		for _, m := range msg.GetBatch() {
			ls.deliver(m)
		}
	}
}

// deliver hands one answer to the caller waiting for it, if it still is.
func (ls *lookupStream) deliver(msg *clusterdnsv1.LookupStreamResponse) {
	ls.mu.Lock()
	done, ok := ls.pending[msg.GetId()]
	delete(ls.pending, msg.GetId())
	ls.mu.Unlock()
	if !ok {
		return // its caller gave up
	}
	// done has room for the one result it ever gets.
	switch {
	case msg.GetInvalidArgument() != "":
		done <- lookupResult{err: status.Error(codes.InvalidArgument, msg.GetInvalidArgument())}
	case msg.GetResponse() == nil:
		done <- lookupResult{err: errors.New("lookup stream response without an answer")}
	default:
		done <- lookupResult{resp: msg.GetResponse()}
	}
}

// send writes the queued questions to the stream until it ends, skipping
// those whose callers gave up. A failed Send ends the stream; the
// receiving goroutine then fails the questions in flight.
func (ls *lookupStream) send(ctx context.Context) {
	batch := make([]*streamQuestion, 0, maxBatch)
	msgs := make([]*clusterdnsv1.LookupStreamRequest, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-ls.sendq:
			if !ls.waiting(q.msg.GetId()) {
				q.release(ls.questions)
				continue
			}
			req := &q.msg
			req.AcceptBatch = true
			batch = batch[:0]
			if ls.batching.Load() {
				batch = ls.collect(batch)
				msgs = msgs[:0]
				for _, b := range batch {
					msgs = append(msgs, &b.msg)
				}
				req.Batch = msgs
			}
			err := ls.stream.Send(req)
			// Marshalled: gRPC keeps no reference to the messages.
			req.Batch = nil
			clear(msgs)
			q.release(ls.questions)
			for _, b := range batch {
				b.release(ls.questions)
			}
			clear(batch)
			if err != nil {
				ls.cancel()
				return
			}
		}
	}
}

// collect appends to batch the questions queued now whose callers still
// wait, without waiting, up to maxBatch - 1 of them.
func (ls *lookupStream) collect(batch []*streamQuestion) []*streamQuestion {
	for len(batch) < maxBatch-1 {
		select {
		case q := <-ls.sendq:
			if ls.waiting(q.msg.GetId()) {
				batch = append(batch, q)
			} else {
				q.release(ls.questions)
			}
		default:
			return batch
		}
	}
	return batch
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
