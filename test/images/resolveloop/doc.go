// Package resolveloop is the resolver loop client of the test images: it
// resolves a fixed list of names in a loop at a given rate, for a bounded time
// and count, through the platform resolver, knows the answer each name must
// get, and prints machine-readable counts. Three builds share one behaviour
// and one output format, so that a test reads them alike with `kubectl logs`:
//
//   - dnsloop in localhost/dnsclient-glibc:test: test/images/dnsloop/dnsloop.c
//     built with gcc against glibc (getaddrinfo through nsswitch: files, dns)
//   - dnsloop in localhost/dnsclient-musl:test: the same C source built
//     statically with musl-gcc (musl's own getaddrinfo)
//   - dnsloop in localhost/dnsclient-go:test: this package through
//     test/images/cmd/dnsloop-go, CGO_ENABLED=0 (Go's pure resolver)
//
// All three read /etc/resolv.conf (search list, ndots, nameservers, timeout,
// attempts) as the platform does, so a name is resolved exactly as an
// application in the pod would resolve it.
//
// # Usage
//
//	dnsloop [flags] NAME=EXPECT...
//
// EXPECT is one of
//
//	any          any address: ok when the name resolves
//	NXDOMAIN     the name must not exist
//	ADDR[,ADDR]  ok when the name resolves and every address returned is in
//	             the list (IPv4 or IPv6, e.g. 10.96.0.1 or 10.244.0.5,10.244.0.6)
//
// Flags (also accepted with two dashes and as -flag=value):
//
//	-rate N      lookups per second over all names, taken in turn (default 10)
//	-duration S  seconds to run, at most 86400 (default 60)
//	-count N     stop after N lookups; 0 means no count limit (default 0)
//	-workers N   lookups in flight at most, so that one slow lookup does not
//	             stall the rate (default 8, at most 256)
//	-report S    seconds between report lines (default 5)
//	-family F    4, 6 or any: the address family asked for (AF_INET,
//	             AF_INET6, AF_UNSPEC; Go: "ip4", "ip6", "ip") (default any)
//
// Lookup k (from 0) starts at start + k/rate, or as soon as a worker is free
// when the loop is behind; it resolves name k mod len(names).
//
// # Output
//
// One JSON object per line on standard output; "event" says which:
//
//	{"event":"start","client":"glibc","rate":50,"duration":60,"count":0,"workers":8,"family":"any","names":3}
//	{"event":"failure","time":"2026-12-02T17:00:01.234Z","elapsed":1.234,"name":"a.b.svc.cluster.local","class":"failed","reason":"EAI_AGAIN: Temporary failure in name resolution","ms":5004}
//	{"event":"report","time":"2026-12-02T17:00:05.000Z","elapsed":5.000,"lookups":250,"ok":249,"failed":1,"wrong":0,"max_ms":5004}
//	{"event":"final","time":"2026-12-02T17:01:00.002Z","elapsed":60.002,"lookups":3000,"ok":2999,"failed":1,"wrong":0,"max_ms":5004}
//
// client is "glibc", "musl" or "go". Counts in report and final lines are
// cumulative since start; lookups = ok + failed + wrong, counted when a lookup
// completes. A "failure" line is printed for every lookup that is not ok:
//
//   - class "failed": the resolver gave no answer: a timeout, SERVFAIL,
//     REFUSED or any other error (glibc/musl EAI_AGAIN, EAI_FAIL, ...; Go: a
//     *net.DNSError that is not "not found");
//   - class "wrong": an answer that contradicts EXPECT: "NXDOMAIN" for a name
//     that exists (not found: NXDOMAIN, or no address of the family asked
//     for), "unexpected address A" for an address outside the list, or
//     "exists: A" for a name expected to be NXDOMAIN.
//
// time is UTC wall-clock time when the lookup completed, elapsed the seconds
// since start, ms the lookup's duration. The final line is the last line; the
// exit status is 0 when every lookup was ok, 1 when any failed or was wrong,
// 2 on a usage error.
package resolveloop
