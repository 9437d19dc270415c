//go:build linux

package dnsserver

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// replyQueue sends the replies of a UDP socket's dispatched queries (cache
// misses, answered off the read loop) in batches, with sendmmsg: the
// record service answers many lookups in one stream message, and the
// goroutines it wakes then each have a reply ready at about the same time.
//
// There is no writer goroutine and no timer. The goroutine whose reply
// finds the queue idle becomes its flusher: it yields once, so that the
// goroutines made runnable with it pack and queue their replies, then sends
// everything queued, and again until nothing is. A goroutine whose reply
// finds a flusher at work leaves the reply to it. A lone reply thus goes
// out at once, from its own goroutine, for the price of a lock and a yield
// that finds nothing else to run.
type replyQueue struct {
	rc syscall.RawConn

	mu sync.Mutex
	// waiting are the replies queued for the next batch.
	waiting []queuedReply
	// flushing is set while a goroutine sends the queue.
	flushing bool

	// The flusher's own: the batch being sent and its headers.
	sending []queuedReply
	hdrs    []mmsghdr
	iovs    []unix.Iovec
}

// queuedReply is a packed reply and where it goes: msg, in buf (given back
// to pool once sent), to the client name from the source address oob
// gives (udpBatch.sourceOOB).
type queuedReply struct {
	buf  *[]byte
	pool *sync.Pool
	msg  []byte
	name unix.RawSockaddrInet6
	nlen uint32
	oob  []byte
}

func newReplyQueue(rc syscall.RawConn) *replyQueue {
	return &replyQueue{rc: rc, hdrs: make([]mmsghdr, batchSize), iovs: make([]unix.Iovec, batchSize)}
}

// submit sends r, now or together with the replies queued with it; r's
// buffer is the queue's from now on. The error is that of a batch this
// goroutine sent, nil when another goroutine sends r.
func (q *replyQueue) submit(r queuedReply) error {
	q.mu.Lock()
	q.waiting = append(q.waiting, r)
	if q.flushing {
		q.mu.Unlock()
		return nil
	}
	q.flushing = true
	q.mu.Unlock()
	// Let the goroutines that became runnable with this one (the other
	// answers of the same stream message) queue their replies first. With
	// none, this returns at once.
	runtime.Gosched()
	return q.flush()
}

// flush sends the queued replies until the queue is empty, and returns the
// first error.
func (q *replyQueue) flush() error {
	var first error
	for {
		q.mu.Lock()
		if len(q.waiting) == 0 {
			q.flushing = false
			q.mu.Unlock()
			return first
		}
		q.waiting, q.sending = q.sending[:0], q.waiting
		q.mu.Unlock()
		for start := 0; start < len(q.sending); start += batchSize {
			if err := q.send(q.sending[start:min(start+batchSize, len(q.sending))]); err != nil && first == nil {
				first = err
			}
		}
		for i := range q.sending {
			r := &q.sending[i]
			r.pool.Put(r.buf)
			// Drop the references, so that the slice holds no buffer or
			// control message while it waits for the next batch.
			*r = queuedReply{}
		}
	}
}

// send sends rs (at most batchSize) with sendmmsg.
func (q *replyQueue) send(rs []queuedReply) error {
	hs := q.hdrs[:len(rs)]
	for i := range rs {
		r := &rs[i]
		q.iovs[i] = unix.Iovec{}
		if len(r.msg) > 0 {
			q.iovs[i].Base = &r.msg[0]
			q.iovs[i].SetLen(len(r.msg))
		}
		hs[i] = mmsghdr{hdr: unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.name)), Namelen: r.nlen, Iov: &q.iovs[i]}}
		hs[i].hdr.SetIovlen(1)
		if len(r.oob) > 0 {
			hs[i].hdr.Control = &r.oob[0]
			hs[i].hdr.SetControllen(len(r.oob))
		}
	}
	err := sendBatch(q.rc, hs)
	// The headers point into the replies: drop the pointers once sent.
	clear(hs)
	clear(q.iovs[:len(rs)])
	return err
}
