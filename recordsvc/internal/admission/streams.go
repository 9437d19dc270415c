package admission

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// StreamLimits are the stream bounds of a StreamLimiter; 0 means no limit.
type StreamLimits struct {
	// PerClient bounds the concurrent streams of one client.
	PerClient int
	// Total bounds the concurrent streams of all clients.
	Total int
}

// StreamLimiter counts the open streams of each client.
type StreamLimiter struct {
	limits   StreamLimits
	clientOf func(grpc.ServerStream) string
	rejected func(kind string)

	mu     sync.Mutex
	total  int
	counts map[string]int
}

// NewStreamLimiter bounds streams by limits; clientOf names the client of
// a stream (its identity and address), rejected (may be nil) is called with
// the kind of each refused stream.
func NewStreamLimiter(limits StreamLimits, clientOf func(grpc.ServerStream) string, rejected func(kind string)) *StreamLimiter {
	if rejected == nil {
		rejected = func(string) {}
	}
	return &StreamLimiter{limits: limits, clientOf: clientOf, rejected: rejected, counts: make(map[string]int)}
}

// acquire takes a stream slot for client, or says which limit refuses it.
func (l *StreamLimiter) acquire(client string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limits.Total > 0 && l.total >= l.limits.Total {
		return KindStreamsTotal, false
	}
	if l.limits.PerClient > 0 && l.counts[client] >= l.limits.PerClient {
		return KindStreamsPerClient, false
	}
	l.total++
	l.counts[client]++
	return "", true
}

func (l *StreamLimiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.counts[client]--; l.counts[client] <= 0 {
		delete(l.counts, client)
	}
}

// Open is the number of streams open now.
func (l *StreamLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Interceptor refuses a stream beyond the limits with RESOURCE_EXHAUSTED
// before its handler runs, so a refused stream allocates nothing of the
// handler's (a Watch subscription, a LookupStream's goroutine and queue).
// Every streaming method counts, gRPC health's Watch included.
func (l *StreamLimiter) Interceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		client := l.clientOf(ss)
		kind, ok := l.acquire(client)
		if !ok {
			l.rejected(kind)
			return status.Errorf(codes.ResourceExhausted, "too many concurrent streams (%s)", kind)
		}
		defer l.release(client)
		return handler(srv, ss)
	}
}
