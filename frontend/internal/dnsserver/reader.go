package dnsserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// hotReader is the UDP read loop of a miekg/dns server with the hot path
// in it: a query the cache answers (see packHit) is answered right there,
// in the reading goroutine, without unpacking it or starting a goroutine.
//
// On Linux it reads and writes datagrams in batches (udpBatch) and serves
// every datagram itself: the hot ones in place, their replies sent
// together after each read, the others each in a goroutine of its own
// (serveMsg, as the miekg server would), since the server cannot take a
// datagram read outside of its own reader. ReadUDP then returns only when
// the socket fails or the server shuts down, once the queries it started
// have been answered. Elsewhere it reads one datagram at a time and hands
// every other message on to the server as read.
//
// It sets no read deadline of its own, so that the one Shutdown sets ends
// the loop even while queries keep coming.
type hotReader struct {
	next dns.Reader
	h    *Handler
	// invalid counts a message that is not a DNS message.
	invalid func([]byte, error)
	// buf is the read buffer of the one-at-a-time loop, kept while the
	// hot path answers.
	buf []byte
	s   hitScratch
	// batch is the batched I/O of the socket (nil until the first read,
	// or where there is none); single is set when there is none.
	batch  *udpBatch
	single bool
	// inflight are the goroutines the batched loop started: its workers
	// and the queries it handed to goroutines of their own.
	inflight sync.WaitGroup
	// jobs feeds the batched loop's idle workers; workers counts them.
	// exited takes a token from each worker that retired for idleness,
	// which the loop subtracts the next time it would start one.
	jobs    chan dispatchJob
	workers int
	exited  chan struct{}
}

// dispatchJob is a query the batched loop hands to a worker.
type dispatchJob struct {
	w *udpWriter
	m []byte
}

// residentWorkers is how many goroutines of a UDP socket's batched loop
// stay to serve the queries its hot path does not answer, one at a time.
// A goroutine per query would start with a small stack and grow it on the
// way down to the record service client, for every cache miss; a worker
// grows it once. Queries beyond what the idle workers take get a goroutine
// of their own, as many as the dispatch gate allows. A worker without a
// query for residentIdle retires, so a burst of misses leaves no goroutines
// behind on a quiet frontend.
const (
	residentWorkers = 64
	residentIdle    = 5 * time.Second
)

// readBufSize is the size of a UDP read buffer: the server's UDPSize plus
// one, so that miekg does not put buffers handed on into its pool.
const readBufSize = dns.DefaultMsgSize + 1

// headerSize is the length of a DNS message header.
const headerSize = 12

func newHotReader(next dns.Reader, h *Handler, invalid func([]byte, error)) *hotReader {
	return &hotReader{next: next, h: h, invalid: invalid}
}

// ReadTCP is the server's own.
func (r *hotReader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	return r.next.ReadTCP(conn, timeout)
}

// ReadPacketConn is the server's own (the hot path needs a *net.UDPConn).
func (r *hotReader) ReadPacketConn(conn net.PacketConn, timeout time.Duration) ([]byte, net.Addr, error) {
	pc, ok := r.next.(dns.PacketConnReader)
	if !ok {
		return nil, nil, errors.New("dnsserver: packet connection reader unavailable")
	}
	return pc.ReadPacketConn(conn, timeout)
}

// ReadUDP serves the socket in batches where it can (returning only its
// error); otherwise it answers hot queries and returns the first other
// message.
func (r *hotReader) ReadUDP(conn *net.UDPConn, _ time.Duration) ([]byte, *dns.SessionUDP, error) {
	if r.batch == nil && !r.single {
		b, err := newUDPBatch(conn)
		if err != nil {
			r.single = true
		} else {
			r.batch = b
		}
	}
	if r.batch != nil {
		r.jobs, r.workers, r.exited = make(chan dispatchJob), 0, make(chan struct{}, residentWorkers)
		err := r.serveBatches(conn)
		close(r.jobs)
		// The server waits for the queries it started before it reports
		// the end of the loop; so do we.
		r.inflight.Wait()
		return nil, nil, err
	}
	for {
		if r.buf == nil {
			r.buf = make([]byte, readBufSize-1, readBufSize)
		}
		n, sess, err := dns.ReadFromSessionUDP(conn, r.buf)
		if err != nil {
			return nil, nil, err
		}
		m := r.buf[:n]
		if r.h.fastEnabled() && parseRaw(m, &r.s) {
			if out, ok := r.h.serveHit(&r.s, time.Now()); ok {
				if _, err := dns.WriteToSessionUDP(conn, out, sess); err != nil {
					r.h.log.Debug("write DNS response", "client", sess.RemoteAddr(), "err", err)
				}
				continue
			}
		}
		r.buf = nil // the server owns it now
		return m, sess, nil
	}
}

// serveBatches reads batches of datagrams, answers the hot ones in place
// and sends their replies together, and starts a goroutine for each other
// one. It returns the error that ends reading.
func (r *hotReader) serveBatches(conn *net.UDPConn) error {
	b := r.batch
	for {
		n, err := b.read()
		if err != nil {
			// The deadline Shutdown sets, or a closed socket.
			return err
		}
		fast := r.h.fastEnabled()
		now := time.Now()
		for i := range n {
			m := b.msg(i)
			parsed := fast && parseRaw(m, &r.s)
			if parsed {
				r.s.out = b.replyBuf()
				if out, ok := r.h.serveHit(&r.s, now); ok {
					b.queue(i, out)
					continue
				}
			}
			if !r.h.dispatch.enter() {
				// Too many queries off the read loop: shed this one
				// here (admission.go).
				if out, ok := r.h.shedRaw(b.replyBuf(), m, parsed, &r.s); ok {
					b.queue(i, out)
				}
				continue
			}
			r.dispatch(conn, bytes.Clone(m), b.addr(i), b.dest(i), b.sourceOOB(nil, i), parsed)
		}
		if err := b.flush(); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			r.h.log.Debug("write DNS responses", "err", err)
		}
	}
}

// dispatch serves a message the hot path does not answer off the read
// loop, by an idle worker or a goroutine of its own, as the miekg server
// does: a message shorter than a header is counted invalid and dropped.
// probed tells that the hot path parsed it and found no answer in the cache,
// so that ServeDNS does not look again. The caller holds a dispatch slot,
// which is given back when the query is answered.
func (r *hotReader) dispatch(conn *net.UDPConn, m []byte, raddr *net.UDPAddr, dest udpDest, oob []byte, probed bool) {
	if len(m) < headerSize || raddr == nil {
		r.h.dispatch.leave()
		r.invalid(m, dns.ErrShortRead)
		return
	}
	job := dispatchJob{w: &udpWriter{conn: conn, raddr: raddr, dest: dest, oob: oob, probed: probed, bufs: &r.h.packBufs}, m: m}
	select {
	case r.jobs <- job:
		return
	default:
	}
	for retired := true; retired; {
		select {
		case <-r.exited:
			r.workers--
		default:
			retired = false
		}
	}
	if r.workers < residentWorkers {
		r.workers++
		r.inflight.Go(func() { r.work(job) })
		return
	}
	r.inflight.Go(func() { r.serveJob(job) })
}

// work is a resident worker: it answers job, then the jobs the loop hands
// it, until the loop ends or none came for residentIdle.
func (r *hotReader) work(job dispatchJob) {
	r.serveJob(job)
	idle := time.NewTimer(residentIdle)
	defer idle.Stop()
	for {
		select {
		case job, open := <-r.jobs:
			if !open {
				return
			}
			r.serveJob(job)
			idle.Reset(residentIdle)
		case <-idle.C:
			r.exited <- struct{}{}
			return
		}
	}
}

// serveJob answers one dispatched query and gives its dispatch slot back.
func (r *hotReader) serveJob(job dispatchJob) {
	defer r.h.dispatch.leave()
	serveMsg(r.h, acceptQuery, r.invalid, job.w, job.m)
}

// serveMsg does for a query read by the batched loop what the miekg server
// does for one it reads: it screens the header with accept, answers
// FORMERR (NOTIMP when accept says so) to a message it rejects or that does
// not unpack, counting the latter with invalid, drops one it ignores, and
// hands the rest to h.
func serveMsg(h dns.Handler, accept dns.MsgAcceptFunc, invalid func([]byte, error), w dns.ResponseWriter, m []byte) {
	dh := dns.Header{
		Id:      binary.BigEndian.Uint16(m[0:]),
		Bits:    binary.BigEndian.Uint16(m[2:]),
		Qdcount: binary.BigEndian.Uint16(m[4:]),
		Ancount: binary.BigEndian.Uint16(m[6:]),
		Nscount: binary.BigEndian.Uint16(m[8:]),
		Arcount: binary.BigEndian.Uint16(m[10:]),
	}
	req := new(dns.Msg)
	action := accept(dh)
	switch action {
	case dns.MsgAccept:
		err := req.Unpack(m)
		if err == nil {
			h.ServeDNS(w, req)
			return
		}
		invalid(m, err)
	case dns.MsgReject, dns.MsgRejectNotImplemented:
		// The header alone, as the server reads it: the same bytes
		// without the section counts unpack to just that.
		var hdr [headerSize]byte
		copy(hdr[:4], m)
		if err := req.Unpack(hdr[:]); err != nil {
			return
		}
	default:
		return
	}
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == dns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = dns.RcodeNotImplemented
	}
	req.Ns, req.Answer, req.Extra = nil, nil, nil
	// A client that cannot take the error answer gets none, as from the
	// server.
	_ = w.WriteMsg(req)
}

// udpWriter is the dns.ResponseWriter of a query served by serveMsg: it
// sends the reply to the client from the address the query was sent to
// (oob, see udpBatch.sourceOOB).
type udpWriter struct {
	conn  *net.UDPConn
	raddr *net.UDPAddr
	// dest is raddr in the socket's form, for a raw send (batch_linux.go).
	dest udpDest
	oob  []byte
	// probed is set when the hot path looked the query up in the cache
	// and found nothing it serves.
	probed bool
	// bufs holds the buffers replies are packed into.
	bufs *sync.Pool
}

// LocalAddr is the socket's address.
func (w *udpWriter) LocalAddr() net.Addr { return w.conn.LocalAddr() }

// RemoteAddr is the client's address.
func (w *udpWriter) RemoteAddr() net.Addr { return w.raddr }

// WriteMsg packs m and sends it, together with the other replies of the
// socket ready at the same time where it can (replyQueue).
func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	buf := w.bufs.Get().(*[]byte)
	b, err := m.PackBuffer(*buf)
	if err != nil {
		w.bufs.Put(buf)
		return fmt.Errorf("dnsserver: pack response: %w", err)
	}
	if err := w.sendPacked(buf, w.bufs, b); err != nil {
		return fmt.Errorf("dnsserver: udp write: %w", err)
	}
	return nil
}

// Write sends b as one datagram.
func (w *udpWriter) Write(b []byte) (int, error) {
	n, err := w.send(b)
	if err != nil {
		return n, fmt.Errorf("dnsserver: udp write: %w", err)
	}
	return n, nil
}

// Close does nothing: the socket is the server's.
func (w *udpWriter) Close() error { return nil }

// TsigStatus is nil: the server verifies no TSIG.
func (w *udpWriter) TsigStatus() error { return nil }

// TsigTimersOnly does nothing (no TSIG).
func (w *udpWriter) TsigTimersOnly(bool) {}

// Hijack does nothing: a UDP socket is shared by all queries.
func (w *udpWriter) Hijack() {}
