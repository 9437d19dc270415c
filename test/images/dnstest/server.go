// Package dnstest is a tiny authoritative DNS server on a loopback address
// for the resolver loop client's tests: fixed A records, one name that
// answers SERVFAIL, NXDOMAIN for the rest.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Server answers on UDP and TCP at Addr.
type Server struct {
	Addr    netip.AddrPort
	records map[string]netip.Addr // lower-case FQDN -> A
	fail    map[string]bool       // lower-case FQDN -> SERVFAIL
	servers []*dns.Server
	wg      sync.WaitGroup
}

// Start serves records (FQDN -> IPv4) and servfail names at host:port; port
// 0 picks a free port. Port 53 is what the C library resolvers need, whose
// resolv.conf cannot name a port: pass host "" to pick a random address in
// 127.53.0.0/16 there, retrying when one is taken.
func Start(host string, port uint16, records map[string]string, servfail []string) (*Server, error) {
	s := &Server{records: map[string]netip.Addr{}, fail: map[string]bool{}}
	for name, a := range records {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", name, err)
		}
		s.records[strings.ToLower(dns.Fqdn(name))] = ip
	}
	for _, name := range servfail {
		s.fail[strings.ToLower(dns.Fqdn(name))] = true
	}
	var lastErr error
	for range 20 {
		h := host
		if h == "" {
			h = fmt.Sprintf("127.53.%d.%d", rand.IntN(256), 1+rand.IntN(254))
		}
		if err := s.listen(h, port); err != nil {
			lastErr = err
			// A fixed address fails for good; a random one, or port 0 whose
			// UDP port may be taken for TCP by another process, is retried.
			if host != "" && port != 0 {
				break
			}
			continue
		}
		return s, nil
	}
	return nil, fmt.Errorf("start DNS server: %w", lastErr)
}

func (s *Server) listen(host string, port uint16) error {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return err
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		pc.Close()
		return err
	}
	s.Addr = addr
	handler := dns.HandlerFunc(s.serve)
	s.servers = []*dns.Server{
		{PacketConn: pc, Handler: handler},
		{Listener: ln, Handler: handler},
	}
	for _, srv := range s.servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = srv.ActivateAndServe() // ends with Shutdown
		}()
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			return errors.New("DNS server did not start")
		}
	}
	return nil
}

// Close stops the server.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.ShutdownContext(ctx)
	}
	s.wg.Wait()
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	ip, ok := s.records[name]
	switch {
	case s.fail[name]:
		m.Rcode = dns.RcodeServerFailure
		m.Authoritative = false
	case !ok:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa()}
	case q.Qtype == dns.TypeA && ip.Is4():
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: ip.AsSlice()}}
	default:
		m.Ns = []dns.RR{soa()} // NODATA
	}
	_ = w.WriteMsg(m)
}

func soa() dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 5},
		Ns: "ns.test.", Mbox: "hostmaster.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 5}
}
