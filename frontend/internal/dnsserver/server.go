package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server serves a Handler on UDP and TCP at one address.
type Server struct {
	cfg     Config
	handler *Handler

	udp, tcp         *dns.Server
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

// Start listens on the configured address over UDP and TCP and serves until
// Shutdown. It returns once both listeners accept queries. ctx carries values
// to the handler's calls; cancelling it does not stop the server.
func (s *Server) Start(ctx context.Context) error {
	h, err := NewHandler(ctx, s.cfg)
	if err != nil {
		return err
	}
	s.handler = h
	pc, ln, err := listen(ctx, s.cfg.Listen)
	if err != nil {
		return err
	}
	s.udpAddr, s.tcpAddr = pc.LocalAddr(), ln.Addr()
	s.udp, s.tcp = newDNSServers(s.cfg, h, pc, ln)
	errs := make(chan error, 2)
	started := make(chan *dns.Server, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- srv }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errs <- err
			}
		}()
	}
	for range 2 {
		select {
		case srv := <-started:
			s.running = append(s.running, srv)
		case err := <-errs:
			// One side failed to start: stop the other before reporting.
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

// newDNSServers builds the miekg/dns servers of h on pc and ln: the TCP
// listener bounded to cfg.MaxTCPConnections, idle TCP connections closed
// after cfg.TCPIdleTimeout, at most cfg.MaxTCPQueries queries per TCP
// connection, headers screened by acceptQuery.
func newDNSServers(cfg Config, h *Handler, pc net.PacketConn, ln net.Listener) (udp, tcp *dns.Server) {
	invalid := func([]byte, error) { h.metrics.malformedRequest() }
	udp = &dns.Server{
		PacketConn:     pc,
		Handler:        h,
		UDPSize:        dns.DefaultMsgSize,
		MsgAcceptFunc:  acceptQuery,
		MsgInvalidFunc: invalid,
	}
	idle := cfg.TCPIdleTimeout
	tcp = &dns.Server{
		Listener:       newLimitListener(ln, cfg.MaxTCPConnections, h.metrics.tcpConnections, h.metrics.tcpRejected),
		Handler:        h,
		MsgAcceptFunc:  acceptQuery,
		MsgInvalidFunc: invalid,
		// The first query must come within the idle timeout too (miekg's
		// default read timeout is 2s).
		ReadTimeout:   min(idle, 2*time.Second),
		IdleTimeout:   func() time.Duration { return idle },
		MaxTCPQueries: cfg.MaxTCPQueries,
	}
	return udp, tcp
}

// listen binds UDP and TCP to the same address. With port 0 the kernel picks
// the UDP port and TCP takes the same one, retrying when it is taken.
func listen(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dnsserver: listen address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	const attempts = 20
	for i := 0; ; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnsserver: listen udp %s: %w", addr, err)
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" || i+1 == attempts {
			return nil, nil, fmt.Errorf("dnsserver: listen tcp %s: %w", tcpAddr, err)
		}
	}
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
