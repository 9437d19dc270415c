package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// Server serves a Handler on UDP and TCP at one address.
type Server struct {
	cfg     Config
	handler *Handler

	udpAddr, tcpAddr net.Addr
	// running are the servers that started; Shutdown stops them.
	running []*dns.Server
	wg      sync.WaitGroup
}

// New checks cfg and prepares a server; Start begins serving.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("dnsserver: listen address %q: %w", cfg.Listen, err)
	}
	return &Server{cfg: cfg}, nil
}

// Start listens on the configured address over UDP (Config.UDPSockets
// sockets) and TCP and serves until Shutdown. It returns once every
// listener accepts queries. ctx carries values to the handler's calls;
// cancelling it does not stop the server.
func (s *Server) Start(ctx context.Context) error {
	h, err := NewHandler(ctx, s.cfg)
	if err != nil {
		return err
	}
	s.handler = h
	pcs, ln, err := listen(ctx, s.cfg.Listen, s.cfg.UDPSockets, s.cfg.ShareAddress)
	if err != nil {
		return err
	}
	s.udpAddr, s.tcpAddr = pcs[0].LocalAddr(), ln.Addr()
	servers := newDNSServers(s.cfg, h, pcs, ln)
	errs := make(chan error, len(servers))
	started := make(chan *dns.Server, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { started <- srv }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errs <- err
			}
		}()
	}
	for range servers {
		select {
		case srv := <-started:
			s.running = append(s.running, srv)
		case err := <-errs:
			// One failed to start: stop the others before reporting.
			// Closing the sockets first ends those still starting too.
			for _, pc := range pcs {
				_ = pc.Close()
			}
			_ = ln.Close()
			_ = s.Shutdown(context.WithoutCancel(ctx))
			return fmt.Errorf("dnsserver: serve %s: %w", s.cfg.Listen, err)
		}
	}
	return nil
}

// UDPAddr is the bound UDP address (useful with port 0); nil before Start.
func (s *Server) UDPAddr() net.Addr { return s.udpAddr }

// TCPAddr is the bound TCP address; nil before Start.
func (s *Server) TCPAddr() net.Addr { return s.tcpAddr }

// Shutdown stops both listeners at once, waits for the queries in progress
// to be answered or for ctx to end, and returns when the serving goroutines
// have exited (a query in progress ends at the latest with its record
// service or upstream deadline).
func (s *Server) Shutdown(ctx context.Context) error {
	errs := make([]error, len(s.running))
	var wg sync.WaitGroup
	for i, srv := range s.running {
		wg.Go(func() { errs[i] = srv.ShutdownContext(ctx) })
	}
	wg.Wait()
	s.running = nil
	s.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dnsserver: shutdown: %w", err)
	}
	return nil
}

// newDNSServers builds the miekg/dns servers of h: one per UDP socket in
// pcs, each reading through a hotReader, and one on ln for TCP, the
// listener bounded to cfg.MaxTCPConnections and cfg.MaxTCPPerIP per client
// address, idle TCP connections closed
// after cfg.TCPIdleTimeout, at most cfg.MaxTCPQueries queries per TCP
// connection; headers screened by acceptQuery. The TCP server comes last.
func newDNSServers(cfg Config, h *Handler, pcs []net.PacketConn, ln net.Listener) []*dns.Server {
	invalid := func([]byte, error) { h.metrics.malformedRequest() }
	servers := make([]*dns.Server, 0, len(pcs)+1)
	for _, pc := range pcs {
		servers = append(servers, &dns.Server{
			PacketConn:     pc,
			Handler:        h,
			UDPSize:        dns.DefaultMsgSize,
			MsgAcceptFunc:  acceptQuery,
			MsgInvalidFunc: invalid,
			DecorateReader: func(next dns.Reader) dns.Reader { return newHotReader(next, h, invalid) },
		})
	}
	idle := cfg.TCPIdleTimeout
	return append(servers, &dns.Server{
		Listener:       newLimitListener(ln, cfg.MaxTCPConnections, cfg.MaxTCPPerIP, h.metrics.tcpConnections, h.metrics.tcpRejected),
		Handler:        h,
		MsgAcceptFunc:  acceptQuery,
		MsgInvalidFunc: invalid,
		// The first query must come within the idle timeout too (miekg's
		// default read timeout is 2s).
		ReadTimeout:   min(idle, 2*time.Second),
		IdleTimeout:   func() time.Duration { return idle },
		MaxTCPQueries: cfg.MaxTCPQueries,
	})
}

// listen binds udpSockets UDP sockets (with SO_REUSEPORT when more than
// one, or when share is set) and a TCP listener (with SO_REUSEPORT when
// share is set) to the same address. With port 0 the kernel
// picks the UDP port and the rest take the same one, retrying when TCP
// finds it taken.
func listen(ctx context.Context, addr string, udpSockets int, share bool) ([]net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dnsserver: listen address %q: %w", addr, err)
	}
	var udpConfig, tcpConfig net.ListenConfig
	if udpSockets > 1 || share {
		udpConfig.Control = reusePort
	}
	if share {
		tcpConfig.Control = reusePort
	}
	const attempts = 20
	for i := 0; ; i++ {
		pc, err := udpConfig.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: listen udp %s: %w", addr, err)
		}
		bound := addr
		if port == "0" {
			bound = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := tcpConfig.Listen(ctx, "tcp", bound)
		if err != nil {
			_ = pc.Close()
			if port != "0" || i+1 == attempts {
				return nil, nil, fmt.Errorf("dnsserver: listen tcp %s: %w", bound, err)
			}
			continue
		}
		pcs := []net.PacketConn{pc}
		for len(pcs) < udpSockets {
			more, err := udpConfig.ListenPacket(ctx, "udp", bound)
			if err != nil {
				err = fmt.Errorf("dnsserver: listen udp %s (socket %d of %d): %w", bound, len(pcs)+1, udpSockets, err)
				return nil, nil, closeAll(pcs, ln, err)
			}
			pcs = append(pcs, more)
		}
		for _, pc := range pcs {
			// A read loop answers cache hits itself: the socket buffer
			// absorbs the bursts meanwhile (the kernel caps the size at
			// net.core.rmem_max).
			if err := pc.(*net.UDPConn).SetReadBuffer(udpReadBuffer); err != nil {
				return nil, nil, closeAll(pcs, ln, fmt.Errorf("dnsserver: udp %s read buffer: %w", bound, err))
			}
		}
		return pcs, ln, nil
	}
}

// udpReadBuffer is the receive buffer size asked for each UDP socket.
const udpReadBuffer = 4 << 20

// closeAll closes the sockets and returns err.
func closeAll(pcs []net.PacketConn, ln net.Listener, err error) error {
	for _, pc := range pcs {
		_ = pc.Close()
	}
	_ = ln.Close()
	return err
}

// reusePort sets SO_REUSEPORT on a socket before it is bound.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", serr)
	}
	return nil
}

// acceptQuery is the server's first look at a message header: responses
// are dropped, opcodes other than QUERY get NOTIMP, and messages that cannot
// be a single question (question count other than one, records in the
// answer or authority section beyond what a query carries, more than an OPT
// and a TSIG in the additional section) get FORMERR.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount > 1 || dh.Nscount > 1 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}
