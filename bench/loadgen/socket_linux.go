package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batchSize is the most datagrams one system call moves.
const batchSize = 64

// gsoSpace is the control message space of a UDP_SEGMENT size.
var gsoSpace = unix.CmsgSpace(2)

// replyBufSize holds any reply to a query without EDNS (512 octets) and
// most larger ones; a longer datagram is cut, its header and question
// still match.
const replyBufSize = 2048

// socketBuffer is the receive buffer asked for each socket, so that a
// burst of replies waits in the kernel rather than being dropped there
// (the kernel caps it at net.core.rmem_max).
const socketBuffer = 4 << 20

// slot is one query in flight on a socket.
type slot struct {
	// sent is when it was sent, from the start of the run.
	sent time.Duration
	// q is the index of its query.
	q int32
	// id is the DNS ID it was sent with: the slot's index in the low
	// bits, a count of the slot's uses in the high ones.
	id   uint16
	busy bool
}

// stats is what one socket counted.
type stats struct {
	sent, completed, lost, mismatched, errors int64
	reads, writes                             int64
	rcodes                                    [16]int64
	hist                                      histogram
	// lastSend and lastReply are from the start of the run.
	lastSend, lastReply time.Duration
}

// worker drives one connected UDP socket from one goroutine.
type worker struct {
	conn    *net.UDPConn
	rc      syscall.RawConn
	p       *packed
	src     *source
	timeout time.Duration
	// rate is this socket's share of the query rate, 0 for unlimited.
	rate float64

	slots    []slot
	slotBuf  []byte // maxQueryLen per slot, the query as sent
	slotBits uint
	free     []uint16
	inflight int

	// out are the messages of a send: one datagram each, or with gso a
	// run of queries of one length sent as one buffer that the kernel
	// cuts into datagrams (UDP_SEGMENT), which takes the IP and device
	// path once for the run instead of once per query.
	out    []mmsghdr
	outOOB []byte
	// msgFirst and msgCount are the queries (indexes into outIov) of
	// each message.
	msgFirst, msgCount []int
	// outIov[i] points into slotBuf.
	outIov []unix.Iovec
	gso    bool
	in     []mmsghdr
	inIov  []unix.Iovec
	inBuf  []byte

	// The system calls and their results, built once so that a call
	// through the RawConn allocates nothing.
	recvFn, sendFn   func(fd uintptr) bool
	recvN, sendN     int
	recvErr, sendErr syscall.Errno
	sendFrom, sendTo int

	// deadline is the read deadline set on conn, from the start of the run.
	deadline time.Duration
	stats    stats
}

func newWorker(server *net.UDPAddr, p *packed, src *source, window int, rate float64, timeout time.Duration, gso bool) (*worker, error) {
	conn, err := net.DialUDP("udp", nil, server)
	if err != nil {
		return nil, fmt.Errorf("loadgen: socket: %w", err)
	}
	if err := conn.SetReadBuffer(socketBuffer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("loadgen: socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("loadgen: socket: %w", err)
	}
	slotBits := uint(bits.Len(uint(window - 1)))
	w := &worker{
		conn: conn, rc: rc, p: p, src: src, timeout: timeout, rate: rate,
		slots:    make([]slot, 1<<slotBits),
		slotBuf:  make([]byte, (1<<slotBits)*maxQueryLen),
		slotBits: slotBits,
		free:     make([]uint16, 0, window),
		out:      make([]mmsghdr, batchSize),
		outOOB:   make([]byte, batchSize*gsoSpace),
		msgFirst: make([]int, batchSize),
		msgCount: make([]int, batchSize),
		outIov:   make([]unix.Iovec, batchSize),
		in:       make([]mmsghdr, batchSize),
		inIov:    make([]unix.Iovec, batchSize),
		inBuf:    make([]byte, batchSize*replyBufSize),
		deadline: -1,
	}
	// Popped from the end: slot 0 goes first.
	for i := window - 1; i >= 0; i-- {
		w.free = append(w.free, uint16(i))
	}
	if gso {
		// A kernel without UDP segmentation offload does not know the
		// option.
		_, err := unix.GetsockoptInt(int(fd(rc)), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		w.gso = err == nil
	}
	for i := range batchSize {
		w.inIov[i].Base = &w.inBuf[i*replyBufSize]
		w.inIov[i].SetLen(replyBufSize)
		w.in[i].hdr.Iov = &w.inIov[i]
		w.in[i].hdr.SetIovlen(1)
	}
	w.recvFn = func(fd uintptr) bool {
		w.recvN, w.recvErr = mmsg(fd, unix.SYS_RECVMMSG, unsafe.Pointer(&w.in[0]), batchSize)
		return w.recvErr != unix.EAGAIN
	}
	w.sendFn = func(fd uintptr) bool {
		w.sendN, w.sendErr = mmsg(fd, unix.SYS_SENDMMSG, unsafe.Pointer(&w.out[w.sendFrom]), w.sendTo-w.sendFrom)
		return w.sendErr != unix.EAGAIN
	}
	return w, nil
}

// fd returns the descriptor of rc.
func fd(rc syscall.RawConn) uintptr {
	var f uintptr
	rc.Control(func(d uintptr) { f = d })
	return f
}

// mmsg makes one recvmmsg or sendmmsg call (trap) on fd, retried when
// interrupted.
func mmsg(fd, trap uintptr, hdrs unsafe.Pointer, vlen int) (int, syscall.Errno) {
	for {
		r, _, e := unix.Syscall6(trap, fd, uintptr(hdrs), uintptr(vlen), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		return int(r), e
	}
}

func (w *worker) close() { w.conn.Close() }

// run sends and receives until end (or until the source runs out), then
// waits for the queries in flight until they are answered or time out.
func (w *worker) run(ctx context.Context, start, end time.Time) error {
	stopAfter := end.Sub(start)
	scanEvery := min(max(w.timeout/8, time.Millisecond), 20*time.Millisecond)
	nextScan := scanEvery
	stopping := false
	for {
		now := time.Since(start)
		if ctx.Err() != nil {
			return fmt.Errorf("loadgen: %w", ctx.Err())
		}
		if !stopping && (now >= stopAfter || w.send(now)) {
			stopping = true
		}
		if now >= nextScan {
			w.expire(now)
			nextScan = now + scanEvery
		}
		if stopping && w.inflight == 0 {
			return nil
		}

		// Wait for replies, at most until the next thing to do: the end
		// of sending, the next timeout scan, the next query the rate
		// allows.
		deadline := stopAfter
		if stopping {
			deadline = now + w.timeout
		}
		if w.inflight > 0 {
			deadline = min(deadline, nextScan)
		}
		if w.rate > 0 && !stopping && len(w.free) > 0 {
			deadline = min(deadline, w.nextSend())
		}
		if deadline <= now {
			continue
		}
		if deadline != w.deadline {
			if err := w.conn.SetReadDeadline(start.Add(deadline)); err != nil {
				return fmt.Errorf("loadgen: %w", err)
			}
			w.deadline = deadline
		}
		err := w.rc.Read(w.recvFn)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			return fmt.Errorf("loadgen: read: %w", err)
		case w.recvErr != 0:
			// Such as ECONNREFUSED from an ICMP error about an earlier
			// query: the socket still works.
			w.stats.errors++
			continue
		}
		w.stats.reads++
		w.receive(w.recvN, time.Since(start))
	}
}

// nextSend is when the rate allows this socket's next query.
func (w *worker) nextSend() time.Duration {
	return time.Duration(float64(w.stats.sent) / w.rate * float64(time.Second))
}

// send sends as many queries as there are free slots and the rate allows,
// and reports whether the source has run out.
func (w *worker) send(now time.Duration) bool {
	for {
		k := min(len(w.free), batchSize)
		if w.rate > 0 {
			allowed := int64(now.Seconds()*w.rate) + 1 - w.stats.sent
			k = int(min(int64(k), allowed))
		}
		if k <= 0 {
			return false
		}
		first, count := w.src.claim(k)
		if count == 0 {
			return true
		}
		n := int64(w.p.len())
		for j := range count {
			qi := int((first + int64(j)) % n)
			idx := w.free[len(w.free)-1]
			w.free = w.free[:len(w.free)-1]
			s := &w.slots[idx]
			s.id = (s.id>>w.slotBits+1)<<w.slotBits | idx
			s.q, s.sent, s.busy = int32(qi), now, true
			q := w.p.query(qi)
			buf := w.slotBuf[int(idx)*maxQueryLen:][:len(q)]
			copy(buf, q)
			buf[0], buf[1] = byte(s.id>>8), byte(s.id)
			w.outIov[j].Base = &buf[0]
			w.outIov[j].SetLen(len(q))
		}
		w.inflight += count
		w.sendBatch(w.messages(count))
		w.stats.lastSend = now
	}
}

// messages lays the first count prepared queries out in messages and
// returns how many: with gso, each run of queries of one length is one
// message, otherwise each query.
func (w *worker) messages(count int) int {
	m := 0
	for j := 0; j < count; m++ {
		k := 1
		for w.gso && j+k < count && w.outIov[j+k].Len == w.outIov[j].Len {
			k++
		}
		h := &w.out[m].hdr
		h.Iov = &w.outIov[j]
		h.SetIovlen(k)
		h.Control, h.Controllen = nil, 0
		if k > 1 {
			oob := w.outOOB[m*gsoSpace : (m+1)*gsoSpace]
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			ch.Level, ch.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
			ch.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(w.outIov[j].Len)
			h.Control = &oob[0]
			h.SetControllen(gsoSpace)
		}
		w.msgFirst[m], w.msgCount[m] = j, k
		j += k
	}
	return m
}

// sendBatch sends the first count prepared messages. The queries of a
// message the socket refuses are not sent and free their slots; a refused
// segmented message turns segmentation off for the socket.
func (w *worker) sendBatch(count int) {
	for w.sendFrom, w.sendTo = 0, count; w.sendFrom < w.sendTo; {
		err := w.rc.Write(w.sendFn)
		if err == nil && w.sendErr == 0 {
			w.stats.writes++
			for m := w.sendFrom; m < w.sendFrom+w.sendN; m++ {
				w.stats.sent += int64(w.msgCount[m])
			}
			w.sendFrom += w.sendN
			continue
		}
		w.stats.errors++
		m := w.sendFrom
		if w.msgCount[m] > 1 {
			w.gso = false
		}
		for j := w.msgFirst[m]; j < w.msgFirst[m]+w.msgCount[m]; j++ {
			idx := uint16(uintptr(unsafe.Pointer(w.outIov[j].Base))-uintptr(unsafe.Pointer(&w.slotBuf[0]))) / maxQueryLen
			w.release(idx)
		}
		w.sendFrom++
	}
}

// release frees slot idx.
func (w *worker) release(idx uint16) {
	w.slots[idx].busy = false
	w.free = append(w.free, idx)
	w.inflight--
}

// receive matches the n datagrams read at now with the queries in flight:
// by ID, then by the question.
func (w *worker) receive(n int, now time.Duration) {
	mask := uint16(1)<<w.slotBits - 1
	for i := range n {
		msg := w.inBuf[i*replyBufSize:][:min(int(w.in[i].len), replyBufSize)]
		if len(msg) < 12 || msg[2]&0x80 == 0 {
			w.stats.mismatched++
			continue
		}
		id := uint16(msg[0])<<8 | uint16(msg[1])
		idx := id & mask
		s := &w.slots[idx]
		if int(idx) >= len(w.slots) || !s.busy || s.id != id {
			w.stats.mismatched++
			continue
		}
		q := w.p.query(int(s.q))
		if len(msg) < len(q) || !bytes.Equal(msg[4:6], q[4:6]) || !bytes.Equal(msg[12:len(q)], q[12:]) {
			w.stats.mismatched++
			continue
		}
		w.stats.hist.add(now - s.sent)
		w.stats.rcodes[msg[3]&0xf]++
		w.stats.completed++
		w.stats.lastReply = now
		w.release(idx)
	}
}

// expire counts the queries in flight longer than the timeout as lost.
func (w *worker) expire(now time.Duration) {
	for i := range w.slots {
		if s := &w.slots[i]; s.busy && now-s.sent >= w.timeout {
			w.stats.lost++
			w.release(uint16(i))
		}
	}
}
