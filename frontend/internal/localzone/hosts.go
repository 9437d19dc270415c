package localzone

import (
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// hostTable holds the hosts entries by lower-cased name and by reverse
// name.
type hostTable struct {
	ttl         uint32
	fallThrough bool
	// byName maps a name to its addresses, IPv4 and IPv6 apart, in the
	// order given and without repeats.
	byName map[string]*hostAddrs
	// byReverse maps an address's reverse name to the names, as written
	// (made fully qualified), in the order given.
	byReverse map[string][]string
	// zones are the parent domains of the names (section "Hosts entries"
	// of the package documentation).
	zones map[string]bool
}

type hostAddrs struct {
	v4, v6 []net.IP
}

func newHostTable(hosts []Host, ttl time.Duration, fallThrough bool) (*hostTable, error) {
	if ttl < 0 || ttl > time.Duration(1<<31-1)*time.Second {
		return nil, fmt.Errorf("hosts ttl %s: want 0 to 2147483647s", ttl)
	}
	t := &hostTable{ttl: uint32(ttl / time.Second), fallThrough: fallThrough,
		byName: map[string]*hostAddrs{}, byReverse: map[string][]string{}, zones: map[string]bool{}}
	for i, h := range hosts {
		if len(h.Names) == 0 || len(h.Addrs) == 0 {
			return nil, fmt.Errorf("hosts entry %d: needs at least one name and one address", i+1)
		}
		for _, raw := range h.Names {
			name, err := fqdn(raw)
			if err != nil {
				return nil, fmt.Errorf("hosts entry %d: name %w", i+1, err)
			}
			if name == "." {
				return nil, fmt.Errorf("hosts entry %d: the root is not a host name", i+1)
			}
			if p := parent(name); p != "." {
				t.zones[p] = true
			}
			a := t.byName[name]
			if a == nil {
				a = &hostAddrs{}
				t.byName[name] = a
			}
			for _, addr := range h.Addrs {
				if !addr.IsValid() || addr.Zone() != "" {
					return nil, fmt.Errorf("hosts entry %d: address %q: want an IPv4 or IPv6 address without zone", i+1, addr)
				}
				addr = addr.Unmap()
				ip := net.IP(addr.AsSlice())
				if addr.Is4() {
					a.v4 = appendIP(a.v4, ip)
				} else {
					a.v6 = appendIP(a.v6, ip)
				}
				rev, err := dns.ReverseAddr(addr.String())
				if err != nil {
					return nil, fmt.Errorf("hosts entry %d: address %s: %w", i+1, addr, err)
				}
				t.byReverse[rev] = appendName(t.byReverse[rev], dns.Fqdn(raw))
			}
		}
	}
	return t, nil
}

func appendIP(ips []net.IP, ip net.IP) []net.IP {
	for _, have := range ips {
		if have.Equal(ip) {
			return ips
		}
	}
	return append(ips, ip)
}

func appendName(names []string, name string) []string {
	for _, have := range names {
		if equalNames(have, name) {
			return names
		}
	}
	return append(names, name)
}

func equalNames(a, b string) bool { return dns.CanonicalName(a) == dns.CanonicalName(b) }

func (t *hostTable) empty() bool { return len(t.byName) == 0 }

// answer answers q (name is its lower-cased name) from the entries, or
// says it is not theirs.
func (t *hostTable) answer(req *dns.Msg, q dns.Question, name string) (*dns.Msg, bool) {
	if t.empty() {
		return nil, false
	}
	if q.Qtype == dns.TypePTR {
		// A reverse name without an entry is never ours, whatever
		// fallthrough says: the reverse zones belong to the cluster.
		names, ok := t.byReverse[name]
		if !ok {
			return nil, false
		}
		resp := reply(req)
		for _, n := range names {
			resp.Answer = append(resp.Answer, &dns.PTR{Hdr: t.header(q.Name, dns.TypePTR), Ptr: n})
		}
		return resp, true
	}
	a, ok := t.byName[name]
	if !ok {
		if t.fallThrough || !t.zones[parent(name)] {
			return nil, false
		}
		resp := reply(req)
		resp.Rcode = dns.RcodeNameError
		return resp, true
	}
	resp := reply(req)
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		for _, ip := range a.v4 {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: t.header(q.Name, dns.TypeA), A: ip})
		}
	}
	if q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
		for _, ip := range a.v6 {
			resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: t.header(q.Name, dns.TypeAAAA), AAAA: ip})
		}
	}
	// No answer is NODATA: the name exists with other records.
	return resp, true
}

// header is the header of a record of the question's name (as asked).
func (t *hostTable) header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: dns.Fqdn(name), Rrtype: rrtype, Class: dns.ClassINET, Ttl: t.ttl}
}

// reply is the authoritative response skeleton for req: its ID, question
// and RD. RA is the server's to set (it depends on its upstreams).
func reply(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	return resp
}
