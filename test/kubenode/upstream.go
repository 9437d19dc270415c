package kubenode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The harness's upstream resolver answers only this zone, so lookups of
// external names stay on the node and their answers are known. Everything
// outside it is REFUSED: the server never recurses to the real world.
const (
	// UpstreamZone is the zone of the node's upstream resolver.
	UpstreamZone = "external.test."
	// UpstreamName is a name of UpstreamZone with an A and an AAAA record.
	UpstreamName = "www.external.test."
	// upstreamTTL is the TTL of every answer.
	upstreamTTL = 30
)

// Upstream addresses of UpstreamName: documentation ranges (RFC 5737
// TEST-NET-2, RFC 3849), answers only and never a destination. TEST-NET-1 is
// avoided because this machine's own network uses it.
var (
	UpstreamA    = netip.MustParseAddr("198.51.100.10")
	UpstreamAAAA = netip.MustParseAddr("2001:db8::10")
)

// upstream is the harness's DNS server on the bridge gateway, UDP and TCP.
type upstream struct {
	udp, tcp *dns.Server
}

// startUpstream listens on addr:53 and serves the fixed zone.
func startUpstream(addr netip.Addr) (*upstream, error) {
	hostPort := net.JoinHostPort(addr.String(), "53")
	pc, err := net.ListenPacket("udp", hostPort)
	if err != nil {
		return nil, fmt.Errorf("upstream resolver: %w", err)
	}
	l, err := net.Listen("tcp", hostPort)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("upstream resolver: %w", err)
	}
	handler := dns.HandlerFunc(serveUpstream)
	u := &upstream{
		udp: &dns.Server{PacketConn: pc, Handler: handler},
		tcp: &dns.Server{Listener: l, Handler: handler},
	}
	go func() { _ = u.udp.ActivateAndServe() }()
	go func() { _ = u.tcp.ActivateAndServe() }()
	return u, nil
}

// stop shuts both servers down.
func (u *upstream) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.udp.ShutdownContext(ctx)
	_ = u.tcp.ShutdownContext(ctx)
}

// serveUpstream answers from the fixed zone.
func serveUpstream(w dns.ResponseWriter, req *dns.Msg) {
	_ = w.WriteMsg(upstreamAnswer(req))
}

// upstreamAnswer is the reply to req: records of UpstreamName, NODATA or
// NXDOMAIN with the SOA inside UpstreamZone, REFUSED outside it.
func upstreamAnswer(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	if len(req.Question) != 1 {
		return resp.SetRcodeFormatError(req)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if !dns.IsSubDomain(UpstreamZone, name) {
		return resp.SetRcode(req, dns.RcodeRefused)
	}
	resp.SetReply(req)
	resp.Authoritative = true
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: upstreamTTL}
	}
	switch {
	case name == UpstreamName && q.Qtype == dns.TypeA:
		resp.Answer = []dns.RR{&dns.A{Hdr: hdr(dns.TypeA), A: net.IP(UpstreamA.AsSlice())}}
	case name == UpstreamName && q.Qtype == dns.TypeAAAA:
		resp.Answer = []dns.RR{&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IP(UpstreamAAAA.AsSlice())}}
	case name == UpstreamZone && q.Qtype == dns.TypeSOA:
		resp.Answer = []dns.RR{upstreamSOA()}
	case name == UpstreamName || name == UpstreamZone:
		resp.Ns = []dns.RR{upstreamSOA()}
	default:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{upstreamSOA()}
	}
	return resp
}

// upstreamSOA is the zone's SOA record.
func upstreamSOA() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: UpstreamZone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: upstreamTTL},
		Ns:      "ns." + UpstreamZone,
		Mbox:    "hostmaster." + UpstreamZone,
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  upstreamTTL,
	}
}

// errNoAnswer marks a DNS exchange that got no reply.
var errNoAnswer = errors.New("no DNS answer")
