package localzone

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const exampleZone = `$TTL 300
@        3600 IN SOA ns.example.internal. hostmaster.example.internal. 1 7200 3600 1209600 60
@        3600 IN NS  ns.example.internal.
ns            IN A   10.3.0.53
www           IN A   10.3.0.1
www           IN A   10.3.0.2
www           IN AAAA fd00::1
alias         IN CNAME www
chain         IN CNAME alias
out           IN CNAME www.elsewhere.test.
loop1         IN CNAME loop2
loop2         IN CNAME loop1
a.b.c         IN TXT "deep"
*.wild        IN A   10.3.0.9
*.wild        IN TXT "wild"
host.wild     IN AAAA fd00::9
sub           IN NS  ns1.sub.example.internal.
sub           IN NS  ns.other.test.
sub           IN DS  12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE8BE8B3D1E7F7B5A0B0A0A0A0
ns1.sub       IN A   10.3.1.53
`

func mustTable(t *testing.T) *Table {
	t.Helper()
	tab, err := New([]Host{
		{Names: []string{"db.corp.example", "DB"}, Addrs: []netip.Addr{netip.MustParseAddr("10.2.0.5"), netip.MustParseAddr("fd00::5")}},
		{Names: []string{"cache.corp.example."}, Addrs: []netip.Addr{netip.MustParseAddr("10.2.0.6"), netip.MustParseAddr("::ffff:10.2.0.7")}},
	}, time.Minute, false, []Zone{
		{Origin: "example.internal", Records: exampleZone},
		{Origin: "inner.example.internal.", Records: "@ 10 IN SOA ns hm 1 2 3 4 5\nx 10 IN A 10.4.0.1\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// rrs renders records as zone-file lines with single spaces, for
// comparison.
func rrs(list []dns.RR) []string {
	var out []string
	for _, rr := range list {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

// TestAnswer sends real queries to the table and checks the whole
// response: ownership, rcode, AA, and the three sections.
func TestAnswer(t *testing.T) {
	t.Parallel()
	tab := mustTable(t)
	soa := "example.internal. 60 IN SOA ns.example.internal. hostmaster.example.internal. 1 7200 3600 1209600 60"
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		notOur bool
		rcode  int
		noAA   bool
		answer []string
		ns     []string
		extra  []string
	}{
		// Hosts entries.
		{name: "hosts A", qname: "db.corp.example.", qtype: dns.TypeA,
			answer: []string{"db.corp.example. 60 IN A 10.2.0.5"}},
		{name: "hosts AAAA keeps the asked case", qname: "DB.Corp.Example.", qtype: dns.TypeAAAA,
			answer: []string{"DB.Corp.Example. 60 IN AAAA fd00::5"}},
		{name: "hosts single-label name is fully qualified", qname: "db.", qtype: dns.TypeA,
			answer: []string{"db. 60 IN A 10.2.0.5"}},
		{name: "hosts mapped IPv4 is IPv4", qname: "cache.corp.example.", qtype: dns.TypeA,
			answer: []string{"cache.corp.example. 60 IN A 10.2.0.6", "cache.corp.example. 60 IN A 10.2.0.7"}},
		{name: "hosts NODATA for MX", qname: "db.corp.example.", qtype: dns.TypeMX},
		{name: "hosts NODATA for AAAA without v6", qname: "cache.corp.example.", qtype: dns.TypeAAAA},
		{name: "hosts NXDOMAIN in the entries' zone", qname: "nope.corp.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "hosts: other names are not ours", qname: "example.com.", qtype: dns.TypeA, notOur: true},
		{name: "hosts: the entries' zone apex is not ours", qname: "corp.example.", qtype: dns.TypeSOA, notOur: true},
		{name: "hosts PTR v4", qname: "5.0.2.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"5.0.2.10.in-addr.arpa. 60 IN PTR db.corp.example.", "5.0.2.10.in-addr.arpa. 60 IN PTR DB."}},
		{name: "hosts PTR v6", qname: "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR,
			answer: []string{"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 60 IN PTR db.corp.example.",
				"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 60 IN PTR DB."}},
		{name: "hosts PTR of an unknown address is not ours", qname: "9.0.2.10.in-addr.arpa.", qtype: dns.TypePTR, notOur: true},

		// The static zone.
		{name: "zone A", qname: "www.example.internal.", qtype: dns.TypeA,
			answer: []string{"www.example.internal. 300 IN A 10.3.0.1", "www.example.internal. 300 IN A 10.3.0.2"}},
		{name: "zone apex SOA", qname: "example.internal.", qtype: dns.TypeSOA,
			answer: []string{"example.internal. 3600 IN SOA ns.example.internal. hostmaster.example.internal. 1 7200 3600 1209600 60"}},
		{name: "zone apex NS is not a referral", qname: "example.internal.", qtype: dns.TypeNS,
			answer: []string{"example.internal. 3600 IN NS ns.example.internal."}},
		{name: "zone NODATA", qname: "www.example.internal.", qtype: dns.TypeMX, ns: []string{soa}},
		{name: "zone NXDOMAIN", qname: "nope.example.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "zone empty non-terminal is NODATA", qname: "b.c.example.internal.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "zone CNAME chased", qname: "chain.example.internal.", qtype: dns.TypeA,
			answer: []string{"chain.example.internal. 300 IN CNAME alias.example.internal.", "alias.example.internal. 300 IN CNAME www.example.internal.",
				"www.example.internal. 300 IN A 10.3.0.1", "www.example.internal. 300 IN A 10.3.0.2"}},
		{name: "zone CNAME asked for", qname: "alias.example.internal.", qtype: dns.TypeCNAME,
			answer: []string{"alias.example.internal. 300 IN CNAME www.example.internal."}},
		{name: "zone CNAME to a name without the type is NODATA", qname: "alias.example.internal.", qtype: dns.TypeMX,
			answer: []string{"alias.example.internal. 300 IN CNAME www.example.internal."}, ns: []string{soa}},
		{name: "zone CNAME out of the zone stops", qname: "out.example.internal.", qtype: dns.TypeA,
			answer: []string{"out.example.internal. 300 IN CNAME www.elsewhere.test."}},
		{name: "zone CNAME loop stops", qname: "loop1.example.internal.", qtype: dns.TypeA,
			answer: []string{"loop1.example.internal. 300 IN CNAME loop2.example.internal.", "loop2.example.internal. 300 IN CNAME loop1.example.internal."}},
		{name: "wildcard synthesizes", qname: "x.Wild.example.internal.", qtype: dns.TypeA,
			answer: []string{"x.Wild.example.internal. 300 IN A 10.3.0.9"}},
		{name: "wildcard covers deeper names", qname: "y.x.wild.example.internal.", qtype: dns.TypeTXT,
			answer: []string{`y.x.wild.example.internal. 300 IN TXT "wild"`}},
		{name: "wildcard NODATA", qname: "x.wild.example.internal.", qtype: dns.TypeMX, ns: []string{soa}},
		{name: "wildcard does not cover an existing name", qname: "host.wild.example.internal.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "wildcard does not cover the parent", qname: "wild.example.internal.", qtype: dns.TypeA, ns: []string{soa}},
		{name: "wildcard asked for itself", qname: "*.wild.example.internal.", qtype: dns.TypeA,
			answer: []string{"*.wild.example.internal. 300 IN A 10.3.0.9"}},
		{name: "referral at the cut", qname: "sub.example.internal.", qtype: dns.TypeA, noAA: true,
			ns:    []string{"sub.example.internal. 300 IN NS ns.other.test.", "sub.example.internal. 300 IN NS ns1.sub.example.internal."},
			extra: []string{"ns1.sub.example.internal. 300 IN A 10.3.1.53"}},
		{name: "referral below the cut, glue not answered", qname: "ns1.sub.example.internal.", qtype: dns.TypeA, noAA: true,
			ns:    []string{"sub.example.internal. 300 IN NS ns.other.test.", "sub.example.internal. 300 IN NS ns1.sub.example.internal."},
			extra: []string{"ns1.sub.example.internal. 300 IN A 10.3.1.53"}},
		{name: "DS at the cut is the parent's", qname: "sub.example.internal.", qtype: dns.TypeDS,
			answer: []string{"sub.example.internal. 300 IN DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE8BE8B3D1E7F7B5A0B0A0A0A0"}},
		{name: "longest origin owns the name", qname: "x.inner.example.internal.", qtype: dns.TypeA,
			answer: []string{"x.inner.example.internal. 10 IN A 10.4.0.1"}},
		{name: "relative SOA names and negative TTL of the inner zone", qname: "y.inner.example.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
			ns: []string{"inner.example.internal. 5 IN SOA ns.inner.example.internal. hm.inner.example.internal. 1 2 3 4 5"}},
		{name: "outside every zone", qname: "example.com.", qtype: dns.TypeA, notOur: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			resp, ok := tab.Answer(req)
			if ok == tc.notOur {
				t.Fatalf("ok = %v, want %v; resp:\n%v", ok, !tc.notOur, resp)
			}
			if tc.notOur {
				return
			}
			if resp.Id != req.Id || !resp.Response || len(resp.Question) != 1 || resp.Question[0] != req.Question[0] {
				t.Errorf("header/question not a reply to the query:\n%v", resp)
			}
			if resp.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
			if resp.Authoritative == tc.noAA {
				t.Errorf("AA = %v, want %v", resp.Authoritative, !tc.noAA)
			}
			slices.Sort(tc.answer)
			slices.Sort(tc.ns)
			slices.Sort(tc.extra)
			for _, s := range []struct {
				what      string
				got, want []string
			}{{"answer", rrs(resp.Answer), tc.answer}, {"authority", rrs(resp.Ns), tc.ns}, {"additional", rrs(resp.Extra), tc.extra}} {
				if !slices.Equal(s.got, s.want) {
					t.Errorf("%s:\n got %q\nwant %q", s.what, s.got, s.want)
				}
			}
			// The response must pack: it goes on the wire as it is.
			if _, err := resp.Pack(); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}
}

// TestAnswerLeavesTheZoneIntact checks that answers are copies: a caller
// that edits a response (TTL decrement, Restore of a rewrite) does not
// change the next answer.
func TestAnswerLeavesTheZoneIntact(t *testing.T) {
	t.Parallel()
	tab := mustTable(t)
	for range 2 {
		req := new(dns.Msg)
		req.SetQuestion("x.wild.example.internal.", dns.TypeA)
		resp, _ := tab.Answer(req)
		if got := resp.Answer[0].Header().Name; got != "x.wild.example.internal." {
			t.Fatalf("owner %s", got)
		}
		resp.Answer[0].Header().Name = "changed."
		resp.Answer[0].Header().Ttl = 1
	}
}

func TestHostsFallthrough(t *testing.T) {
	t.Parallel()
	tab, err := New([]Host{{Names: []string{"db.corp.example"}, Addrs: []netip.Addr{netip.MustParseAddr("10.2.0.5")}}},
		30*time.Second, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		qname string
		qtype uint16
		ours  bool
	}{
		{"db.corp.example.", dns.TypeA, true},
		{"db.corp.example.", dns.TypeTXT, true}, // NODATA still: the name exists
		{"nope.corp.example.", dns.TypeA, false},
	} {
		req := new(dns.Msg)
		req.SetQuestion(tc.qname, tc.qtype)
		if _, ok := tab.Answer(req); ok != tc.ours {
			t.Errorf("%s %s: ok = %v, want %v", tc.qname, dns.TypeToString[tc.qtype], ok, tc.ours)
		}
	}
}

func TestAnswerIgnoresOtherQueries(t *testing.T) {
	t.Parallel()
	tab := mustTable(t)
	chaos := new(dns.Msg)
	chaos.SetQuestion("db.corp.example.", dns.TypeA)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	none := new(dns.Msg)
	for _, m := range []*dns.Msg{chaos, none} {
		if _, ok := tab.Answer(m); ok {
			t.Errorf("answered %v", m)
		}
	}
	empty, err := New(nil, 0, false, nil)
	if err != nil || !empty.Empty() || tab.Empty() {
		t.Errorf("Empty: %v %v %v", err, empty.Empty(), tab.Empty())
	}
}

// TestNewErrors checks that each malformed entry or zone is refused with
// a message naming it.
func TestNewErrors(t *testing.T) {
	t.Parallel()
	addr := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	soa := "@ 60 IN SOA ns hm 1 2 3 4 5\n"
	for _, tc := range []struct {
		name  string
		hosts []Host
		ttl   time.Duration
		zones []Zone
		want  string
	}{
		{name: "no address", hosts: []Host{{Names: []string{"a"}}}, want: "hosts entry 1: needs at least one name and one address"},
		{name: "bad name", hosts: []Host{{Names: []string{"a..b"}, Addrs: addr}}, want: `hosts entry 1: name "a..b" is not a domain name`},
		{name: "invalid address", hosts: []Host{{Names: []string{"a"}, Addrs: []netip.Addr{{}}}}, want: "hosts entry 1: address"},
		{name: "negative ttl", ttl: -time.Second, want: "hosts ttl -1s"},
		{name: "no SOA", zones: []Zone{{Origin: "z.test", Records: "www 60 IN A 10.0.0.1\n"}}, want: "zone z.test.: no SOA record at the origin"},
		{name: "SOA below the origin", zones: []Zone{{Origin: "z.test", Records: soa + "sub 60 IN SOA ns hm 1 2 3 4 5\n"}}, want: "an SOA belongs at the origin"},
		{name: "two SOA", zones: []Zone{{Origin: "z.test", Records: soa + "@ 60 IN SOA ns hm 2 2 3 4 5\n"}}, want: "a second SOA"},
		{name: "outside", zones: []Zone{{Origin: "z.test", Records: soa + "www.other.test. 60 IN A 10.0.0.1\n"}}, want: "www.other.test. is outside the zone"},
		{name: "syntax", zones: []Zone{{Origin: "z.test", Records: soa + "www 60 IN A 10.0.0.300\n"}}, want: "zone z.test.: dns: bad A A"},
		{name: "include", zones: []Zone{{Origin: "z.test", Records: soa + "$INCLUDE /etc/passwd\n"}}, want: "zone z.test.:"},
		{name: "CNAME and other data", zones: []Zone{{Origin: "z.test", Records: soa + "w 60 IN CNAME x\nw 60 IN A 10.0.0.1\n"}}, want: "w.z.test. has a CNAME and other records"},
		{name: "twice", zones: []Zone{{Origin: "z.test", Records: soa}, {Origin: "Z.test.", Records: soa}}, want: "zone z.test.: given twice"},
		{name: "bad origin", zones: []Zone{{Origin: "", Records: soa}}, want: "zone origin: empty name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.hosts, tc.ttl, false, tc.zones)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
