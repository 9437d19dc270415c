//go:build linux

package dnsserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/clusterdns/clusterdns/internal/rawsock"
)

// udpBatch moves datagrams in and out of one UDP socket batchSize at a
// time, with recvmmsg and sendmmsg: one system call, and one wake-up of
// a client reading its answers, for a batch rather than for each
// datagram. Under load a socket holds many queries, so a read takes
// several; when idle it takes the one there is, without waiting for more.
//
// A reply goes back to the address its query came from, with the query's
// destination address as its source (IP_PKTINFO / IPV6_PKTINFO, which the
// miekg/dns server enables on the socket): a socket bound to a wildcard
// address answers from the address the client asked. Addresses stay in
// their raw form from the read to the write of a hot reply.
//
// A udpBatch is used by one goroutine.
type udpBatch struct {
	rc syscall.RawConn

	in     []mmsghdr
	inIov  []unix.Iovec
	inName []unix.RawSockaddrInet6
	inBuf  [][]byte
	inOOB  []byte

	out     []mmsghdr
	outIov  []unix.Iovec
	outName []unix.RawSockaddrInet6
	outOOB  []byte
	outBuf  [][]byte
	// queued is the number of replies in out waiting for flush.
	queued int

	// replies sends the replies of the queries served off the read loop.
	replies *replyQueue
}

// mmsghdr is struct mmsghdr of <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batchSize is the most datagrams one system call moves.
const batchSize = 64

// Control message space of a received datagram (IP_PKTINFO and
// IPV6_PKTINFO both fit) and of a reply (one of them).
var (
	inOOBSpace  = unix.CmsgSpace(unix.SizeofInet4Pktinfo) + unix.CmsgSpace(unix.SizeofInet6Pktinfo) + 64
	outOOBSpace = max(unix.CmsgSpace(unix.SizeofInet4Pktinfo), unix.CmsgSpace(unix.SizeofInet6Pktinfo))
)

// newUDPBatch prepares batched I/O on conn.
func newUDPBatch(conn *net.UDPConn) (*udpBatch, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dnsserver: udp socket: %w", err)
	}
	b := &udpBatch{
		rc:      rc,
		in:      make([]mmsghdr, batchSize),
		inIov:   make([]unix.Iovec, batchSize),
		inName:  make([]unix.RawSockaddrInet6, batchSize),
		inBuf:   make([][]byte, batchSize),
		inOOB:   make([]byte, batchSize*inOOBSpace),
		out:     make([]mmsghdr, batchSize),
		outIov:  make([]unix.Iovec, batchSize),
		outName: make([]unix.RawSockaddrInet6, batchSize),
		outOOB:  make([]byte, batchSize*outOOBSpace),
		outBuf:  make([][]byte, batchSize),
		replies: newReplyQueue(rc),
	}
	for i := range b.in {
		b.inBuf[i] = make([]byte, readBufSize-1)
		b.inIov[i].Base = &b.inBuf[i][0]
		b.inIov[i].SetLen(len(b.inBuf[i]))
		h := &b.in[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.inName[i]))
		h.Iov = &b.inIov[i]
		h.SetIovlen(1)
		h.Control = &b.inOOB[i*inOOBSpace]

		o := &b.out[i].hdr
		o.Name = (*byte)(unsafe.Pointer(&b.outName[i]))
		o.Iov = &b.outIov[i]
		o.SetIovlen(1)
		o.Control = &b.outOOB[i*outOOBSpace]
	}
	return b, nil
}

// read waits for datagrams and reads up to batchSize of them, returning
// how many.
func (b *udpBatch) read() (int, error) {
	for i := range b.in {
		h := &b.in[i].hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(inOOBSpace)
		h.Flags = 0
		b.in[i].len = 0
	}
	n, err := mmsg(b.rc.Read, unix.SYS_RECVMMSG, unsafe.Pointer(&b.in[0]), len(b.in))
	if err != nil {
		return 0, fmt.Errorf("dnsserver: udp read: %w", err)
	}
	return n, nil
}

// mmsg runs recvmmsg or sendmmsg (trap) over vlen headers at hdrs through
// wait (a RawConn's Read or Write, which parks the goroutine in the
// poller while the socket would block) and returns how many datagrams
// moved. The call is raw (package rawsock says why): at a low query rate,
// with the process idle between queries, ordinary calls cost several
// thread wake-ups per query on the server's CPU.
func mmsg(wait rawsock.Wait, trap uintptr, hdrs unsafe.Pointer, vlen int) (int, error) {
	return rawsock.Call(wait, trap, hdrs, uintptr(vlen))
}

// udpDest is where the reply to a query handed off the read loop goes: the
// socket, and the client's address in the socket's own form, so that the
// reply leaves with a raw sendmsg (see mmsg), or in a batch of the
// socket's replies (replyQueue), without converting it back from a
// net.UDPAddr. The message header lives here too, so a send allocates
// nothing.
type udpDest struct {
	rc    syscall.RawConn
	out   *replyQueue
	name  unix.RawSockaddrInet6
	nlen  uint32
	hdr   unix.Msghdr
	iov   unix.Iovec
	valid bool
}

// dest is the address of the i-th datagram read, for a reply sent with
// udpWriter.
func (b *udpBatch) dest(i int) udpDest {
	return udpDest{rc: b.rc, out: b.replies, name: b.inName[i], nlen: b.in[i].hdr.Namelen, valid: true}
}

// sendPacked sends p, packed into buf from pool, and gives buf back to pool
// once sent: in a batch of the socket's replies (replyQueue) when the
// writer has the client's raw address, else at once.
func (w *udpWriter) sendPacked(buf *[]byte, pool *sync.Pool, p []byte) error {
	d := &w.dest
	if !d.valid || d.out == nil {
		_, err := w.send(p)
		pool.Put(buf)
		return err
	}
	return d.out.submit(queuedReply{buf: buf, pool: pool, msg: p, name: d.name, nlen: d.nlen, oob: w.oob})
}

// send sends p to the client as one datagram from the address the query
// was sent to (w.oob).
func (w *udpWriter) send(p []byte) (int, error) {
	d := &w.dest
	if !d.valid {
		n, _, err := w.conn.WriteMsgUDP(p, w.oob, w.raddr)
		return n, err
	}
	d.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&d.name)), Namelen: d.nlen, Iov: &d.iov}
	d.hdr.SetIovlen(1)
	d.iov = unix.Iovec{}
	if len(p) > 0 {
		d.iov.Base = &p[0]
		d.iov.SetLen(len(p))
	}
	if len(w.oob) > 0 {
		d.hdr.Control = &w.oob[0]
		d.hdr.SetControllen(len(w.oob))
	}
	n, err := rawsock.Call(d.rc.Write, unix.SYS_SENDMSG, unsafe.Pointer(&d.hdr), 0)
	// The header points into p and w.oob: drop the pointers once sent.
	d.hdr, d.iov = unix.Msghdr{}, unix.Iovec{}
	return n, err
}

// msg is the i-th datagram read. Its bytes are valid until the next read.
func (b *udpBatch) msg(i int) []byte {
	return b.inBuf[i][:b.in[i].len]
}

// addr is the sender of the i-th datagram read (an IPv4 client of an
// IPv6 socket has an IPv4-mapped address, as with net.UDPConn).
func (b *udpBatch) addr(i int) *net.UDPAddr {
	sa := &b.inName[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return &net.UDPAddr{IP: append(net.IP(nil), sa4.Addr[:]...), Port: int(portOf(sa4.Port))}
	case unix.AF_INET6:
		a := &net.UDPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: int(portOf(sa.Port))}
		if sa.Scope_id != 0 {
			a.Zone = zoneName(int(sa.Scope_id))
		}
		return a
	}
	return nil
}

// portOf turns a port in network byte order, read as a native integer,
// into its value.
func portOf(p uint16) uint16 {
	var raw [2]byte
	binary.NativeEndian.PutUint16(raw[:], p)
	return binary.BigEndian.Uint16(raw[:])
}

// zoneName names an interface index as net does.
func zoneName(index int) string {
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(index)
}

// sourceOOB appends to dst the control message that gives a reply to the
// i-th datagram read its destination address as source, as miekg/dns
// does; nothing when the datagram came without one.
func (b *udpBatch) sourceOOB(dst []byte, i int) []byte {
	oob := b.inOOB[i*inOOBSpace : i*inOOBSpace+int(b.in[i].hdr.Controllen)]
	var (
		v4, v6     []byte
		have4, has bool
	)
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		switch {
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			v6, has = data[:16], true
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			v4, have4 = data[8:12], true
		}
		oob = rest
	}
	// The IPv6 destination comes first, as with miekg/dns; an IPv4-mapped
	// one is answered with IP_PKTINFO.
	if has {
		ip := net.IP(v6)
		if ip4 := ip.To4(); ip4 != nil {
			return appendPktinfo4(dst, ip4)
		}
		start := len(dst)
		dst = append(dst, make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo))...)
		c := dst[start:]
		putCmsgHeader(c, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
		copy(c[unix.CmsgLen(0):], v6) // in6_pktinfo: address, then interface 0
		return dst
	}
	if have4 {
		return appendPktinfo4(dst, v4)
	}
	return dst
}

// appendPktinfo4 appends an IP_PKTINFO message with source address ip4.
func appendPktinfo4(dst, ip4 []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, unix.CmsgSpace(unix.SizeofInet4Pktinfo))...)
	c := dst[start:]
	putCmsgHeader(c, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
	copy(c[unix.CmsgLen(0)+4:], ip4) // in_pktinfo: interface 0, spec_dst, addr
	return dst
}

// putCmsgHeader writes a control message header at the start of c.
func putCmsgHeader(c []byte, level, typ int32, datalen int) {
	var h unix.Cmsghdr
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(datalen))
	copy(c, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unix.SizeofCmsghdr))
}

// replyBuf is an empty buffer for the next reply, to hand to queue.
func (b *udpBatch) replyBuf() []byte {
	return b.outBuf[b.queued][:0]
}

// queue adds reply (built in replyBuf) as the answer to the i-th datagram
// read; flush sends it.
func (b *udpBatch) queue(i int, reply []byte) {
	k := b.queued
	b.outBuf[k] = reply
	b.outName[k] = b.inName[i]
	o := &b.out[k].hdr
	o.Namelen = b.in[i].hdr.Namelen
	b.outIov[k].Base = unsafe.SliceData(reply)
	b.outIov[k].SetLen(len(reply))
	oob := b.sourceOOB(b.outOOB[k*outOOBSpace:k*outOOBSpace], i)
	o.SetControllen(len(oob))
	o.Flags = 0
	b.queued++
}

// flush sends the queued replies. A reply the socket refuses is dropped,
// as a lost datagram would be; flush reports the first such error.
func (b *udpBatch) flush() error {
	err := sendBatch(b.rc, b.out[:b.queued])
	b.queued = 0
	if err != nil {
		return fmt.Errorf("dnsserver: udp write: %w", err)
	}
	return nil
}

// sendBatch sends the datagrams of hs with sendmmsg, as many calls as it
// takes. A datagram the socket refuses is dropped, as a lost one would be,
// and the rest are sent; sendBatch reports the first such error, and stops
// at a closed socket.
func sendBatch(rc syscall.RawConn, hs []mmsghdr) error {
	var first error
	for sent := 0; sent < len(hs); {
		n, err := mmsg(rc.Write, unix.SYS_SENDMMSG, unsafe.Pointer(&hs[sent]), len(hs)-sent)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if first == nil {
				first = err
			}
			n = 1 // skip the datagram that failed
		}
		sent += n
	}
	return first
}
