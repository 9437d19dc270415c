package dnsserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// dirRecords answers as diffRecords, and sends the directory of the
// default namespace (its listed Services) with every NXDOMAIN below it,
// with soa as the authority record.
type dirRecords struct {
	soa *clusterdnsv1.SOARecord
}

// dirApex and dirListed are the directory dirRecords sends.
const dirApex = "default.svc.cluster.local."

var dirListed = []string{"ext", "in", "many", "nd", "one", "six", "srv", "three"}

func (d dirRecords) Lookup(ctx context.Context, name string, qtype uint16, client string, tr clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	resp, err := diffRecords{}.Lookup(ctx, name, qtype, client, tr)
	if err != nil || resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR || !dns.IsSubDomain(dirApex, strings.ToLower(name)) {
		return resp, err
	}
	resp.Authority[0].Data = &clusterdnsv1.ResourceRecord_Soa{Soa: d.soa}
	resp.AbsentBelow = &clusterdnsv1.AbsentBelow{Apex: dirApex, Labels: dirListed, Keys: []string{"svcs/default"}}
	return resp, nil
}

// TestHotPathDirectorySameBytes: the hot path answers a name a directory
// proves absent, asked for the first time, from the directory's reply moved
// to the name, and sends exactly the bytes the general path sends, for
// names of every length, every query type and kind of query, and SOAs
// whose names do and do not compress against the question.
func TestHotPathDirectorySameBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		soa  *clusterdnsv1.SOARecord
		// hot is whether first asks take the hot path.
		hot bool
	}{
		{"soa in the zone", &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}, true},
		{"soa names above and at the apex", &clusterdnsv1.SOARecord{Mname: "svc.cluster.local.", Rname: "default.svc.cluster.local.", Serial: 2, Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}, true},
		{"soa names elsewhere", &clusterdnsv1.SOARecord{Mname: "ns1.example.org.", Rname: "hostmaster.example.org.", Serial: 3, Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}, true},
		// Such a name compresses against more of some question names
		// than of others: the reply cannot move.
		{"soa name below the apex", &clusterdnsv1.SOARecord{Mname: "zz.default.svc.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 4, Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, err := dnscache.New(dnscache.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer cache.Close()
			cache.Resync("s1", 1)
			handler := func(slow bool) *Handler {
				metrics, err := NewMetrics(prometheus.NewRegistry(), cache)
				if err != nil {
					t.Fatal(err)
				}
				h, err := NewHandler(context.Background(), Config{Records: dirRecords{tc.soa}, Cache: cache, Metrics: metrics,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), QueryLog: slow, Forwarder: diffForwarder{}})
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			hot, general := handler(false), handler(true)
			general.ServeDNS(&testWriter{}, new(dns.Msg).SetQuestion("gone."+dirApex, dns.TypeA))
			cache.Wait()

			names := []string{"a." + dirApex, "gone." + dirApex, "x.gone." + dirApex, "_http._tcp.web." + dirApex,
				strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + dirApex, "onex." + dirApex, "on." + dirApex, "zz." + dirApex}
			qtypes := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT, dns.TypeMX, dns.TypePTR, dns.TypeANY, dns.TypeHTTPS}
			firstHot := 0
			for i, name := range names {
				for j, qtype := range qtypes {
					// Each name is new to the directory for its first
					// type, in the first order of query kinds.
					qname := fmt.Sprintf("%s%d.%s", strings.Repeat("q", j), i, name)
					for k, kind := range []struct {
						upper, tcp, rd, cd bool
						size               uint16
						do                 bool
					}{
						{rd: true}, {rd: true, size: 1232}, {size: 4096, do: true, cd: true}, {tcp: true, rd: true}, {upper: true, rd: true}, {size: 512},
					} {
						q := qname
						if kind.upper {
							q = strings.ToUpper(q[:1]) + q[1:]
						}
						m := new(dns.Msg).SetQuestion(q, qtype)
						m.Id = uint16(100*i + 10*j + k)
						m.RecursionDesired, m.CheckingDisabled = kind.rd, kind.cd
						if kind.size != 0 {
							m.SetEdns0(kind.size, kind.do)
						}
						b, err := m.Pack()
						if err != nil {
							t.Fatalf("pack %s %s: %v", q, dns.TypeToString[qtype], err)
						}
						got, isHot := rawServe(t, hot, b, kind.tcp)
						want := &testWriter{tcp: kind.tcp}
						general.ServeDNS(want, m.Copy())
						if !slices.Equal(got, want.last) {
							g, w := new(dns.Msg), new(dns.Msg)
							_ = g.Unpack(got)
							_ = w.Unpack(want.last)
							t.Fatalf("%s %s kind %+v (hot %v):\ngot  %x\nwant %x\n%v\n%v", q, dns.TypeToString[qtype], kind, isHot, got, want.last, g, w)
						}
						if w := new(dns.Msg); w.Unpack(got) != nil || w.Rcode != dns.RcodeNameError {
							t.Fatalf("%s %s: reply is not an NXDOMAIN", q, dns.TypeToString[qtype])
						}
						if k == 0 && isHot != tc.hot {
							t.Fatalf("%s %s: first ask hot %v, want %v", q, dns.TypeToString[qtype], isHot, tc.hot)
						}
						if k == 0 && isHot {
							firstHot++
						}
					}
				}
			}
			t.Logf("%d first asks answered on the hot path from the directory", firstHot)
		})
	}
}

// BenchmarkPackHotAbsent builds the reply bytes for names asked once each
// that a namespace's directory proves absent (a random-subdomain flood):
// the question read from the query's wire form, the directory found and
// its reply moved to the name. BenchmarkPackHot is the same for a hit of
// the name's own entry.
func BenchmarkPackHotAbsent(b *testing.B) {
	cfg := benchConfig(b)
	cfg.Records = dirRecords{soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.",
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}}
	h, err := NewHandler(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	h.ServeDNS(&benchWriter{buf: make([]byte, dns.MaxMsgSize)}, new(dns.Msg).SetQuestion("gone."+dirApex, dns.TypeA))
	cfg.Cache.Wait()
	// The first label's seven characters count in base 36, so that every
	// query asks a name the directory has not answered before.
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	query, err := new(dns.Msg).SetQuestion("r0000000."+dirApex, dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	s := new(hitScratch)
	now := time.Now()
	n, general := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		for i, v := 0, n; i < 7; i, v = i+1, v/36 {
			query[12+1+7-i] = digits[v%36]
		}
		if !parseRaw(query, s) {
			b.Fatal("query not parsed")
		}
		if _, _, ok := h.packHit(s, now); !ok {
			// The approximate record of names answered before took this
			// one for one of them (a false positive): Get would answer it.
			general++
		}
	}
	b.ReportMetric(float64(general)/float64(n), "general/op")
	if general > n/4 {
		b.Fatalf("%d of %d queries left to the general path", general, n)
	}
}
