package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Query is one DNS question of a workload.
type Query struct {
	// Name is fully qualified, in lower case.
	Name string
	Type uint16
}

// Expect is the answer a query must get.
type Expect struct {
	Rcode int
	// Answers are the records of the question's type, sorted, each as
	// Rdata: an address for A, "PORT TARGET" for SRV.
	Answers []string
}

// Answers is the expected content of the cluster zone and of the external
// zone: name -> type -> sorted rdata. A name present with none of the asked
// type answers NODATA; an absent name NXDOMAIN.
type Answers map[string]map[uint16][]string

// add records rdata for name and type.
func (a Answers) add(name string, qtype uint16, rdata string) {
	name = strings.ToLower(name)
	if a[name] == nil {
		a[name] = map[uint16][]string{}
	}
	a[name][qtype] = append(a[name][qtype], rdata)
}

// Expect returns what q must be answered with.
func (a Answers) Expect(q Query) Expect {
	types, ok := a[strings.ToLower(q.Name)]
	if !ok {
		return Expect{Rcode: dns.RcodeNameError}
	}
	rdata := slices.Clone(types[q.Type])
	slices.Sort(rdata)
	return Expect{Rcode: dns.RcodeSuccess, Answers: rdata}
}

// Exists reports whether name is in the zone (with any type).
func (a Answers) Exists(name string) bool {
	_, ok := a[strings.ToLower(name)]
	return ok
}

// ClusterAnswers returns the records of the cluster zone that the workloads
// ask about: Service names (A: the cluster IP, or every endpoint of a
// headless Service), SRV records of named ports, and endpoint hostnames of
// headless Services. The Services must have their cluster IPs.
func ClusterAnswers(c *Cluster) Answers {
	a := Answers{}
	for _, s := range c.Services {
		name := s.FQDN(c.Domain)
		if s.Headless {
			for _, ep := range s.Endpoints {
				host := ep.Hostname + "." + name
				a.add(name, dns.TypeA, ep.IP)
				a.add(host, dns.TypeA, ep.IP)
				for _, p := range s.Ports {
					a.add(srvName(p, name), dns.TypeSRV, fmt.Sprintf("%d %s", p.Port, host))
				}
			}
			continue
		}
		a.add(name, dns.TypeA, s.ClusterIP)
		for _, p := range s.Ports {
			a.add(srvName(p, name), dns.TypeSRV, fmt.Sprintf("%d %s", p.Port, name))
		}
	}
	return a
}

// srvName is the SRV owner name of port p of the Service named fqdn.
func srvName(p ServicePort, fqdn string) string {
	return "_" + p.Name + "._tcp." + fqdn
}

// ExternalZone is the zone the upstream serves for the external workload.
const ExternalZone = "example.com."

// externalTTL is the TTL of the external records: longer than any run.
const externalTTL = 300

// ExternalAnswers returns n names under ExternalZone, host-NNNNN, each with
// one address from the benchmarking network 198.18.0.0/15.
func ExternalAnswers(n int) Answers {
	a := Answers{}
	for i := range n {
		a.add(externalName(i), dns.TypeA, fmt.Sprintf("198.%d.%d.%d", 18+i>>16, (i>>8)&0xff, i&0xff))
	}
	return a
}

// externalName is the i-th external name.
func externalName(i int) string {
	return fmt.Sprintf("host-%05d.%s", i, ExternalZone)
}

// ZoneFile renders answers under origin as an RFC 1035 zone file with an SOA
// and an NS record at the apex, every record with ttl.
func ZoneFile(origin string, ttl int, answers Answers) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL %d\n", origin, ttl)
	fmt.Fprintf(&b, "@ IN SOA ns.dns.%s hostmaster.%s 1 7200 1800 86400 %d\n", origin, origin, ttl)
	fmt.Fprintf(&b, "@ IN NS ns.dns.%s\n", origin)
	fmt.Fprintf(&b, "ns.dns.%s IN A 127.0.0.1\n", origin)
	names := make([]string, 0, len(answers))
	for name := range answers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		types := answers[name]
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			for _, rdata := range types[qtype] {
				switch qtype {
				case dns.TypeA:
					fmt.Fprintf(&b, "%s IN A %s\n", name, rdata)
				case dns.TypeSRV:
					port, target, _ := strings.Cut(rdata, " ")
					weight := 100 / len(types[qtype])
					fmt.Fprintf(&b, "%s IN SRV 0 %d %s %s\n", name, weight, port, target)
				}
			}
		}
	}
	return b.String()
}

// CheckAnswer compares a reply with what was expected and returns "" when it
// matches, else what differs. Only records of the question's type in the
// answer section count (a CNAME chain or extra records are not asked about).
func CheckAnswer(q Query, want Expect, r *dns.Msg) string {
	if r.Rcode != want.Rcode {
		return fmt.Sprintf("%s %s: rcode %s, want %s", q.Name, dns.TypeToString[q.Type],
			dns.RcodeToString[r.Rcode], dns.RcodeToString[want.Rcode])
	}
	var got []string
	for _, rr := range r.Answer {
		if rr.Header().Rrtype != q.Type {
			continue
		}
		switch rr := rr.(type) {
		case *dns.A:
			got = append(got, rr.A.String())
		case *dns.SRV:
			got = append(got, fmt.Sprintf("%d %s", rr.Port, strings.ToLower(rr.Target)))
		default:
			got = append(got, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want.Answers) {
		return fmt.Sprintf("%s %s: answers %v, want %v", q.Name, dns.TypeToString[q.Type], got, want.Answers)
	}
	return ""
}
