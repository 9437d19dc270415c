package fanout

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// lookupTimeout bounds one lookup, as the frontend's --lookup-timeout.
const lookupTimeout = 2 * time.Second

// lookupStream is a subscriber's LookupStream, opened on first use and
// reopened after it breaks, as the frontend's client does; one question at
// a time (a subscriber asks far less than once a second).
type lookupStream struct {
	sub *Subscriber

	mu     sync.Mutex
	stream grpc.BidiStreamingClient[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]
	cancel context.CancelFunc
	nextID uint64
}

func (l *lookupStream) drop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.stream, l.cancel = nil, nil
}

func (l *lookupStream) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop()
}

// ask sends one question and waits for its answer, for at most
// lookupTimeout.
func (l *lookupStream) ask(ctx context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stream == nil {
		sctx, cancel := context.WithCancel(ctx)
		stream, err := l.sub.rpc.LookupStream(sctx)
		if err != nil {
			cancel()
			return nil, err
		}
		l.stream, l.cancel = stream, cancel
	}
	l.nextID++
	id := l.nextID
	if err := l.stream.Send(&clusterdnsv1.LookupStreamRequest{Id: id, Request: req}); err != nil {
		_, err = l.stream.Recv() // the stream's status says why
		l.drop()
		return nil, err
	}
	timer := time.AfterFunc(lookupTimeout, l.cancel)
	resp, err := l.stream.Recv()
	if !timer.Stop() && err == nil {
		err = status.Error(codes.DeadlineExceeded, "lookup timed out")
	}
	if err != nil {
		l.drop()
		return nil, err
	}
	if resp.GetId() != id {
		l.drop()
		return nil, errors.New("lookup stream answered another question")
	}
	if msg := resp.GetInvalidArgument(); msg != "" {
		return nil, status.Error(codes.InvalidArgument, msg)
	}
	return resp.GetResponse(), nil
}

// LookupLoad asks names of the cluster at a steady total rate from random
// subscribers: names that exist (answered SUCCESS) and names that do not
// (NAME_ERROR), half each, as a frontend's misses.
type LookupLoad struct {
	// Existing are names that exist for the whole run (type A);
	// Missing names that never exist.
	Existing, Missing []string
	// Rate is the total number of lookups per second.
	Rate float64
	// Workers bounds the lookups in flight.
	Workers int
}

// LookupStats counts the lookups' outcomes.
type LookupStats struct {
	// Correct answers: SUCCESS for existing names, NAME_ERROR for missing.
	Correct atomic.Int64
	// FalseNXDOMAIN: NAME_ERROR for an existing name. Never allowed.
	FalseNXDOMAIN atomic.Int64
	// Wrong: any other result that is not the right one, NOT_READY aside.
	Wrong atomic.Int64
	// NotReady: RESULT_NOT_READY (an unsynced record service: SERVFAIL).
	NotReady atomic.Int64
	// Unavailable: the call failed for want of the record service
	// (UNAVAILABLE, deadline, canceled); other failures count as Wrong.
	Unavailable atomic.Int64
	// Shed: lookups not sent because every worker was busy.
	Shed atomic.Int64
}

// Total is the number of lookups asked.
func (s *LookupStats) Total() int64 {
	return s.Correct.Load() + s.FalseNXDOMAIN.Load() + s.Wrong.Load() + s.NotReady.Load() + s.Unavailable.Load()
}

// Run asks until ctx ends.
func (l LookupLoad) Run(ctx context.Context, f *Fleet, stats *LookupStats) {
	if l.Rate <= 0 || len(l.Existing) == 0 || len(l.Missing) == 0 {
		<-ctx.Done()
		return
	}
	type job struct {
		sub   *Subscriber
		name  string
		exist bool
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range max(l.Workers, 1) {
		wg.Go(func() {
			for j := range jobs {
				resp, err := j.sub.lookups.ask(ctx, &clusterdnsv1.LookupRequest{Name: j.name, Qtype: 1, Transport: clusterdnsv1.Transport_TRANSPORT_UDP})
				stats.count(j.exist, resp, err)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	subs := f.Subscribers()
	start := time.Now()
	var sent float64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := time.Since(start).Seconds()*l.Rate - sent
		for ; due >= 1; due-- {
			sent++
			exist := rand.N(2) == 0
			names := l.Missing
			if exist {
				names = l.Existing
			}
			j := job{sub: subs[rand.N(len(subs))], name: names[rand.N(len(names))], exist: exist}
			select {
			case jobs <- j:
			default:
				stats.Shed.Add(1)
			}
		}
	}
}

func (s *LookupStats) count(exist bool, resp *clusterdnsv1.LookupResponse, err error) {
	switch {
	case err != nil && transient(err):
		s.Unavailable.Add(1)
	case err != nil:
		s.Wrong.Add(1)
	case resp.GetResult() == clusterdnsv1.Result_RESULT_NOT_READY:
		s.NotReady.Add(1)
	case exist && resp.GetResult() == clusterdnsv1.Result_RESULT_SUCCESS,
		!exist && resp.GetResult() == clusterdnsv1.Result_RESULT_NAME_ERROR:
		s.Correct.Add(1)
	case exist && resp.GetResult() == clusterdnsv1.Result_RESULT_NAME_ERROR:
		s.FalseNXDOMAIN.Add(1)
	default:
		s.Wrong.Add(1)
	}
}

// transient tells whether a failed lookup failed for want of the record
// service (restarting, stopped), which a frontend answers SERVFAIL or stale.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}
