//go:build !linux

package dnsserver

import (
	"errors"
	"net"
	"sync"
)

// udpBatch is batched UDP I/O, which only Linux has here: elsewhere the
// read loop takes one datagram at a time.
type udpBatch struct{}

func newUDPBatch(*net.UDPConn) (*udpBatch, error) {
	return nil, errors.New("dnsserver: batched UDP I/O needs Linux")
}

func (*udpBatch) read() (int, error)                 { return 0, errors.New("dnsserver: no batched UDP I/O") }
func (*udpBatch) msg(int) []byte                     { return nil }
func (*udpBatch) addr(int) *net.UDPAddr              { return nil }
func (*udpBatch) sourceOOB(dst []byte, _ int) []byte { return dst }
func (*udpBatch) replyBuf() []byte                   { return nil }
func (*udpBatch) queue(int, []byte)                  {}
func (*udpBatch) flush() error                       { return nil }
func (*udpBatch) dest(int) udpDest                   { return udpDest{} }

// udpDest is empty: replies go out with WriteMsgUDP.
type udpDest struct{}

// send sends p to the client as one datagram from the address the query
// was sent to (w.oob).
func (w *udpWriter) send(p []byte) (int, error) {
	n, _, err := w.conn.WriteMsgUDP(p, w.oob, w.raddr)
	return n, err
}

// sendPacked sends p, packed into buf from pool, at once, and gives buf
// back.
func (w *udpWriter) sendPacked(buf *[]byte, pool *sync.Pool, p []byte) error {
	_, err := w.send(p)
	pool.Put(buf)
	return err
}
