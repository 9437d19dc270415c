package recordserver

import (
	"context"
	"reflect"
	"sync"

	"google.golang.org/grpc"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Bounds of the encoded changes kept for sharing: a few seconds of churn,
// enough for every stream that keeps up. A stream further behind encodes
// what it sends for itself; a change too large for the byte bound is never
// kept (each stream encodes it, as before sharing).
const (
	encodedKept      = 256
	encodedKeptBytes = 4 << 20
)

// encodedChanges shares the encoded Watch message of each change between
// the streams that send it: with thousands of frontends watching one
// replica, a change is marshalled once instead of once per stream. A
// PreparedMsg holds only the encoded bytes, read and never written by the
// streams that send it, so one may go out on many streams at once. The
// zero value is ready to use.
type encodedChanges struct {
	mu    sync.Mutex
	msgs  map[uint64]*grpc.PreparedMsg
	order []encodedEntry // oldest first
	bytes int
	// encodes counts the messages encoded, kept or not: what sharing
	// saves is streams × changes minus this.
	encodes uint64
}

type encodedEntry struct {
	revision uint64
	size     int
}

// get returns the encoded message of revision, calling encode (which
// returns the message and its size in bytes) only when no stream has
// encoded it yet or its encoding is no longer kept. The lock is held while
// encoding so that the thousands of streams woken by one change wait for
// one encoding rather than each making its own.
func (e *encodedChanges) get(revision uint64, encode func() (*grpc.PreparedMsg, int, error)) (*grpc.PreparedMsg, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if pm, ok := e.msgs[revision]; ok {
		return pm, nil
	}
	pm, size, err := encode()
	if err != nil {
		return nil, err
	}
	e.encodes++
	full := len(e.order) >= encodedKept || e.bytes+size > encodedKeptBytes
	switch {
	case size > encodedKeptBytes/4:
		return pm, nil // a reload: kept, it would push out everything else
	case full && len(e.order) > 0 && revision < e.order[0].revision:
		return pm, nil // a stream far behind: what others need stays
	}
	if e.msgs == nil {
		e.msgs = make(map[uint64]*grpc.PreparedMsg, encodedKept)
	}
	e.msgs[revision] = pm
	e.order = append(e.order, encodedEntry{revision, size})
	e.bytes += size
	drop := 0
	for len(e.order)-drop > encodedKept || e.bytes > encodedKeptBytes {
		old := e.order[drop]
		delete(e.msgs, old.revision)
		e.bytes -= old.size
		drop++
	}
	if drop > 0 {
		e.order = append(e.order[:0], e.order[drop:]...)
	}
	return pm, nil
}

// kept is the number of encoded messages held and their bytes.
func (e *encodedChanges) kept() (n, bytes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.msgs), e.bytes
}

// shareable tells whether a message encoded for another stream may be sent
// on stream, of context ctx, as it is. Two conditions make it so:
//   - the stream encodes as every other such stream does, with the proto
//     codec and no compression (a client that compresses its requests gets
//     compressed responses, encoded for its stream alone), so the bytes
//     encoded for one are byte for byte those for any other;
//   - the stream is gRPC's own under the generated handler's typed wrapper:
//     no interceptor wrapped it to rewrite what is sent (scopedWatchStream
//     filters each message down to its client's namespaces). A PreparedMsg
//     would go past such a wrapper unread and leak every key, so any
//     wrapper, known or not, turns sharing off for its stream.
func shareable(ctx context.Context, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) bool {
	ts, ok := grpc.ServerTransportStreamFromContext(ctx).(interface {
		SendCompress() string
		ContentSubtype() string
	})
	if !ok {
		return false
	}
	if sub := ts.ContentSubtype(); ts.SendCompress() != "" || (sub != "" && sub != "proto") {
		return false
	}
	typed, ok := stream.(*grpc.GenericServerStream[clusterdnsv1.WatchRequest, clusterdnsv1.WatchResponse])
	if !ok {
		return false
	}
	// gRPC's stream type is unexported: recognised by name. Were it
	// renamed, sharing would stop (TestWatchSharedEncoding would fail)
	// but no message would go out wrong.
	t := reflect.TypeOf(typed.ServerStream)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "google.golang.org/grpc" && t.Elem().Name() == "serverStream"
}
