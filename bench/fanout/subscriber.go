package fanout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Connection settings of a subscriber: those of the frontend's record
// service client (frontend/internal/recordclient), except the transport
// buffers, which are smaller so that thousands of connections fit in the
// harness's memory (a frontend has one).
const (
	keepaliveTime    = 15 * time.Second
	keepaliveTimeout = 5 * time.Second
	minBackoff       = 100 * time.Millisecond
	maxBackoff       = 5 * time.Second
	connectTimeout   = 2 * time.Second
	streamWindow     = 1 << 20
	connWindow       = 4 << 20
	transportBuffer  = 4 << 10
)

// LocalAddr is the loopback source address of subscriber i (from 0):
// 127.1.0.1 onwards, so that each subscriber is a client address of its
// own, as each frontend pod is, and the record service's per-address
// limits apply to each as to one frontend. Linux delivers all of 127/8 to
// the loopback interface, so these need no configuration.
func LocalAddr(i int) netip.Addr {
	n := i + 1
	return netip.AddrFrom4([4]byte{127, byte(1 + n>>16), byte(n >> 8), byte(n)})
}

// resumePoint is the last complete revision a subscriber applied.
type resumePoint struct {
	revision uint64
	serverID string
	digest   []byte
}

// Subscriber is one simulated frontend: a gRPC connection from its own
// address, a Watch stream kept open and resumed as the frontend's client
// does, and lookups over a LookupStream.
type Subscriber struct {
	ID    int
	Local netip.Addr

	fleet *Fleet
	conn  *grpc.ClientConn
	rpc   clusterdnsv1.RecordServiceClient

	// point is owned by the watch goroutine.
	point resumePoint

	// What the harness observes.
	up       atomic.Bool
	upAt     atomic.Int64 // when the open stream delivered its first message
	serverID atomic.Pointer[string]
	revision atomic.Uint64
	streams  atomic.Int64 // streams that delivered a first message
	resumes  atomic.Int64
	resyncs  atomic.Int64
	broken   atomic.Int64 // streams that ended
	gaps     atomic.Int64 // revisions skipped within a stream
	lastErr  atomic.Pointer[string]

	lookups lookupStream
}

func newSubscriber(f *Fleet, id int) (*Subscriber, error) {
	s := &Subscriber{ID: id, Local: LocalAddr(id), fleet: f}
	local := &net.TCPAddr{IP: s.Local.AsSlice()}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: local}
		return d.DialContext(ctx, "tcp", addr)
	}
	conn, err := grpc.NewClient("passthrough:///"+f.Target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: connectTimeout,
		}),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithReadBufferSize(transportBuffer),
		grpc.WithWriteBufferSize(transportBuffer),
		grpc.WithSharedWriteBuffer(true),
	)
	if err != nil {
		return nil, fmt.Errorf("subscriber %d: %w", id, err)
	}
	s.conn, s.rpc = conn, clusterdnsv1.NewRecordServiceClient(conn)
	s.lookups.sub = s
	return s, nil
}

// ServerID is the server of the open stream, "" when none is open.
func (s *Subscriber) ServerID() string {
	if p := s.serverID.Load(); p != nil && s.up.Load() {
		return *p
	}
	return ""
}

func (s *Subscriber) setErr(err error) {
	msg := err.Error()
	s.lastErr.Store(&msg)
}

// watch keeps a Watch stream open until ctx ends, reopening a broken one
// after an exponential backoff with jitter (reset by a stream that
// delivered), asking to resume from the last complete revision.
func (s *Subscriber) watch(ctx context.Context) {
	delay := minBackoff
	for {
		delivered, err := s.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.broken.Add(1)
		if err != nil {
			s.setErr(err)
		}
		if delivered {
			delay = minBackoff
		}
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

// watchOnce runs one stream until it fails, checking that revisions follow
// one another and recording each complete revision's delivery.
func (s *Subscriber) watchOnce(ctx context.Context) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &clusterdnsv1.WatchRequest{ClientName: fmt.Sprint("fanout-", s.ID)}
	asked := s.point.serverID != ""
	if asked {
		req.ResumeRevision, req.ResumeServerId, req.ResumeDigest = s.point.revision, s.point.serverID, s.point.digest
	}
	stream, err := s.rpc.Watch(ctx, req)
	if err != nil {
		return false, err
	}
	defer func() {
		if delivered {
			s.up.Store(false)
		}
	}()
	var last uint64
	complete := true // the last message carried a digest: its revision is whole
	for {
		msg, err := stream.Recv()
		if err != nil {
			return delivered, err
		}
		now := time.Now()
		resync := false
		switch {
		case !delivered:
			delivered = true
			id := msg.GetServerId()
			s.serverID.Store(&id)
			if asked && msg.GetResumed() && !msg.GetResync() {
				s.resumes.Add(1)
			} else {
				s.resyncs.Add(1)
				resync = true
			}
			last = msg.GetRevision()
			s.streams.Add(1)
			s.upAt.Store(now.UnixNano())
			s.up.Store(true)
		case msg.GetResync():
			s.resyncs.Add(1)
			resync = true
			last = msg.GetRevision()
		default:
			rev := msg.GetRevision()
			if !(rev == last && !complete) && rev != last+1 {
				s.gaps.Add(1)
			}
			last = rev
			if len(msg.GetStateDigest()) > 0 {
				if rec := s.fleet.recorder.Load(); rec != nil {
					rec.Delivered(rev, msg.GetKeys(), msg.GetChangeTime().AsTime(), now)
				}
			}
		}
		s.revision.Store(last)
		complete = len(msg.GetStateDigest()) > 0
		if complete {
			s.point = resumePoint{revision: msg.GetRevision(), serverID: msg.GetServerId(), digest: msg.GetStateDigest()}
		} else if resync {
			s.point = resumePoint{}
		}
	}
}

// Fleet is the set of subscribers of one record service address.
type Fleet struct {
	Target string

	recorder atomic.Pointer[Recorder]
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu   sync.Mutex
	subs []*Subscriber
}

// NewFleet returns an empty fleet for the record service at target.
func NewFleet(target string) *Fleet {
	f := &Fleet{Target: target}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// Record makes subscribers report their deliveries to r (nil: to none).
func (f *Fleet) Record(r *Recorder) { f.recorder.Store(r) }

// Subscribers returns the subscribers so far.
func (f *Fleet) Subscribers() []*Subscriber {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Subscriber(nil), f.subs...)
}

// Grow adds subscribers until there are n, starting their watches, and
// waits until every one of them has an open stream on one server, for at
// most timeout. It returns how long that took.
func (f *Fleet) Grow(ctx context.Context, n int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	f.mu.Lock()
	for len(f.subs) < n {
		s, err := newSubscriber(f, len(f.subs))
		if err != nil {
			f.mu.Unlock()
			return 0, err
		}
		f.subs = append(f.subs, s)
		f.wg.Go(func() { s.watch(f.ctx) })
	}
	f.mu.Unlock()
	_, err := f.WaitAll(ctx, timeout, func(s *Subscriber) bool { return s.ServerID() != "" })
	return time.Since(start), err
}

// WaitAll waits until ok holds for every subscriber, for at most timeout,
// and returns when it last turned true (by the subscribers' own upAt when
// ok is about an open stream, else the time the wait saw it).
func (f *Fleet) WaitAll(ctx context.Context, timeout time.Duration, ok func(*Subscriber) bool) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		var example *Subscriber
		for _, s := range f.Subscribers() {
			if !ok(s) {
				missing++
				example = s
			}
		}
		if missing == 0 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			last := ""
			if p := example.lastErr.Load(); p != nil {
				last = *p
			}
			return time.Time{}, fmt.Errorf("%d of %d subscribers not there after %s (subscriber %d from %s: last error %q)",
				missing, len(f.Subscribers()), timeout, example.ID, example.Local, last)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Close ends every stream and connection.
func (f *Fleet) Close() {
	f.cancel()
	f.wg.Wait()
	for _, s := range f.Subscribers() {
		s.lookups.close()
		_ = s.conn.Close() // the harness is done with it either way
	}
}

// Counts sums the subscribers' stream counters.
type Counts struct {
	Streams, Resumes, Resyncs, Broken, Gaps int64
}

// Counts returns the sums over all subscribers.
func (f *Fleet) Counts() Counts {
	var c Counts
	for _, s := range f.Subscribers() {
		c.Streams += s.streams.Load()
		c.Resumes += s.resumes.Load()
		c.Resyncs += s.resyncs.Load()
		c.Broken += s.broken.Load()
		c.Gaps += s.gaps.Load()
	}
	return c
}
