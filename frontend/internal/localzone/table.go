// Package localzone answers the names the frontend owns itself: hosts-file
// entries and static zones of the configuration file (README, "Configuration
// file"). The server asks it before the cache and the record service.
//
// Hosts entries:
//   - a name is taken as written and made fully qualified: "db" is the
//     single-label name "db.", not a name relative to a search domain or the
//     cluster zone, as in CoreDNS's hosts plugin and /etc/hosts;
//   - A and AAAA answer the entry's addresses; another type of a name with
//     an entry is NODATA (NOERROR, no answer, no SOA: hosts have none);
//   - PTR answers every address's reverse name (in-addr.arpa, ip6.arpa)
//     with the entry's names; an address without an entry is never
//     answered here;
//   - a name without an entry inside a hosts zone (the parent domain of an
//     entry's name, "corp.example." for "db.corp.example."; never the root)
//     is NXDOMAIN, or with fallthrough goes on to normal resolution; names
//     elsewhere always go on.
//
// Static zones are authoritative (AA): CNAME chains are followed inside
// the zone, a name without data is NODATA and a missing name NXDOMAIN, both
// with the zone's SOA in the authority section with the negative TTL of RFC
// 2308 section 5 (the smaller of the SOA's TTL and its MINIMUM); wildcards
// synthesize answers as RFC 4592 says; NS records below the apex are zone
// cuts answered with a referral (no AA, the NS in authority, glue from the
// zone in additional). Hosts entries come before static zones, and the
// static zone with the longest origin owns a name.
//
// Answers of both are authoritative (AA), as CoreDNS's hosts and file
// plugins answer. The responses have no OPT record and no RA bit: the
// server adds EDNS, sets RA and truncates.
package localzone

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Host is one hosts entry: its names resolve to its addresses and each
// address's reverse name to the names.
type Host struct {
	Names []string
	Addrs []netip.Addr
}

// Zone is a static zone: master-file text (RFC 1035 section 5) whose
// relative names are relative to Origin. It must hold the SOA of Origin.
type Zone struct {
	Origin  string
	Records string
}

// Table answers the hosts entries and static zones it was built from. It
// is immutable, so one Table serves any number of goroutines; a reload
// builds a new one.
type Table struct {
	hosts *hostTable
	// zones are sorted longest origin first, so the first that contains a
	// name is the one that owns it.
	zones []*zone
}

// New builds the Table of hosts (answered with hostsTTL) and zones. Every
// malformed name, address or zone is an error naming it.
func New(hosts []Host, hostsTTL time.Duration, fallThrough bool, zones []Zone) (*Table, error) {
	ht, err := newHostTable(hosts, hostsTTL, fallThrough)
	if err != nil {
		return nil, err
	}
	t := &Table{hosts: ht}
	seen := map[string]bool{}
	for _, zc := range zones {
		z, err := parseZone(zc)
		if err != nil {
			return nil, err
		}
		if seen[z.origin] {
			return nil, fmt.Errorf("zone %s: given twice", z.origin)
		}
		seen[z.origin] = true
		t.zones = append(t.zones, z)
	}
	sort.SliceStable(t.zones, func(i, j int) bool {
		return dns.CountLabel(t.zones[i].origin) > dns.CountLabel(t.zones[j].origin)
	})
	return t, nil
}

// Empty tells whether the Table answers nothing, so that a server can skip
// it.
func (t *Table) Empty() bool { return t.hosts.empty() && len(t.zones) == 0 }

// Answer returns the complete response for req when a hosts entry or a
// static zone owns the name (including NODATA and NXDOMAIN, with the zone's
// SOA for static zones, and PTR for hosts addresses), ok=false otherwise.
// Only class IN questions of a one-question query are answered.
func (t *Table) Answer(req *dns.Msg) (resp *dns.Msg, ok bool) {
	if len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET {
		return nil, false
	}
	q := req.Question[0]
	name := strings.ToLower(dns.Fqdn(q.Name))
	if resp, ok := t.hosts.answer(req, q, name); ok {
		return resp, true
	}
	for _, z := range t.zones {
		if dns.IsSubDomain(z.origin, name) {
			return z.answer(req, q, name), true
		}
	}
	return nil, false
}

// fqdn returns name lower-cased and fully qualified, or an error when it is
// not a domain name.
func fqdn(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name")
	}
	n := strings.ToLower(dns.Fqdn(name))
	if _, ok := dns.IsDomainName(n); !ok {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return n, nil
}
