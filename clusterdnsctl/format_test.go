package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"usage", usageError{errors.New("bad")}, exitUsage},
		{"wrapped usage", fmt.Errorf("lookup: %w", usageError{errors.New("bad")}), exitUsage},
		{"negative", fmt.Errorf("x: NAME_ERROR: %w", errNegative), exitNegative},
		{"not found", status.Error(codes.NotFound, "no such Service"), exitNegative},
		{"wrapped not found", fmt.Errorf("get service a/b: %w", status.Error(codes.NotFound, "x")), exitNegative},
		{"invalid argument", status.Error(codes.InvalidArgument, "x"), exitUsage},
		{"unavailable", fmt.Errorf("lookup: %w", status.Error(codes.Unavailable, "x")), exitUnreachable},
		{"deadline", status.Error(codes.DeadlineExceeded, "x"), exitUnreachable},
		{"permission denied", status.Error(codes.PermissionDenied, "x"), exitUnreachable},
		{"unauthenticated", status.Error(codes.Unauthenticated, "x"), exitUnreachable},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "x"), exitUnreachable},
		{"internal", status.Error(codes.Internal, "x"), exitOther},
		{"unimplemented", status.Error(codes.Unimplemented, "x"), exitOther},
		{"stream ended", fmt.Errorf("watch: %w", errUnreachable), exitUnreachable},
		{"context deadline", fmt.Errorf("scrape: %w", context.DeadlineExceeded), exitUnreachable},
		{"network", fmt.Errorf("scrape: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), exitUnreachable},
		{"other", errors.New("HTTP 500"), exitOther},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestParseQType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint16
		ok   bool
	}{
		{"A", dns.TypeA, true}, {"aaaa", dns.TypeAAAA, true}, {"SRV", dns.TypeSRV, true}, {"ptr", dns.TypePTR, true},
		{"CNAME", dns.TypeCNAME, true}, {"TXT", dns.TypeTXT, true}, {"SOA", dns.TypeSOA, true}, {"NS", dns.TypeNS, true},
		{"ANY", dns.TypeANY, true}, {"33", dns.TypeSRV, true}, {"TYPE65", 65, true}, {"65535", 65535, true},
		{"0", 0, false}, {"65536", 0, false}, {"MX", 0, false}, {"", 0, false}, {"-1", 0, false},
	} {
		got, err := parseQType(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseQType(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLookupArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		name  string
		qtype uint16
		ok    bool
	}{
		{[]string{"kubernetes.default.svc.cluster.local"}, "kubernetes.default.svc.cluster.local.", dns.TypeA, true},
		{[]string{"kubernetes.default.svc.cluster.local.", "AAAA"}, "kubernetes.default.svc.cluster.local.", dns.TypeAAAA, true},
		{[]string{"1.0.96.10.in-addr.arpa", "PTR"}, "1.0.96.10.in-addr.arpa.", dns.TypePTR, true},
		{[]string{"."}, "", 0, false},
		{[]string{"a..b"}, "", 0, false},
		{[]string{"a", "B"}, "", 0, false},
		{nil, "", 0, false},
	} {
		name, qtype, err := lookupArgs(tc.args)
		if (err == nil) != tc.ok || name != tc.name || qtype != tc.qtype {
			t.Errorf("lookupArgs(%q) = %q %d %v; want %q %d ok %v", tc.args, name, qtype, err, tc.name, tc.qtype, tc.ok)
		}
		if err != nil && exitCode(err) != exitUsage {
			t.Errorf("lookupArgs(%q): %v is not a usage error", tc.args, err)
		}
	}
}

func TestLookupOutcome(t *testing.T) {
	t.Parallel()
	for r, want := range map[clusterdnsv1.Result]int{
		clusterdnsv1.Result_RESULT_SUCCESS:           exitOK,
		clusterdnsv1.Result_RESULT_NAME_ERROR:        exitNegative,
		clusterdnsv1.Result_RESULT_NO_DATA:           exitNegative,
		clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE: exitNegative,
		clusterdnsv1.Result_RESULT_NOT_READY:         exitUnreachable,
		clusterdnsv1.Result_RESULT_UNSPECIFIED:       exitOther,
	} {
		if got := exitCode(lookupOutcome("a.", dns.TypeA, r)); got != want {
			t.Errorf("%s: exit %d, want %d", r, got, want)
		}
	}
}

func TestWriteLookup(t *testing.T) {
	t.Parallel()
	rr := func(name string, data any) *clusterdnsv1.ResourceRecord {
		r := &clusterdnsv1.ResourceRecord{Name: name, Ttl: 30}
		switch d := data.(type) {
		case *clusterdnsv1.ARecord:
			r.Data = &clusterdnsv1.ResourceRecord_A{A: d}
		case *clusterdnsv1.AAAARecord:
			r.Data = &clusterdnsv1.ResourceRecord_Aaaa{Aaaa: d}
		case *clusterdnsv1.SRVRecord:
			r.Data = &clusterdnsv1.ResourceRecord_Srv{Srv: d}
		case *clusterdnsv1.PTRRecord:
			r.Data = &clusterdnsv1.ResourceRecord_Ptr{Ptr: d}
		case *clusterdnsv1.CNAMERecord:
			r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: d}
		case *clusterdnsv1.TXTRecord:
			r.Data = &clusterdnsv1.ResourceRecord_Txt{Txt: d}
		case *clusterdnsv1.SOARecord:
			r.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: d}
		case *clusterdnsv1.NSRecord:
			r.Data = &clusterdnsv1.ResourceRecord_Ns{Ns: d}
		}
		return r
	}
	resp := &clusterdnsv1.LookupResponse{
		Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Revision: 7, ServerId: "s1", Truncated: true,
		Answer: []*clusterdnsv1.ResourceRecord{
			rr("a.ns.svc.cluster.local.", &clusterdnsv1.ARecord{Address: "10.96.0.5"}),
			rr("a.ns.svc.cluster.local.", &clusterdnsv1.AAAARecord{Address: "fd00::5"}),
			rr("_p._tcp.a.ns.svc.cluster.local.", &clusterdnsv1.SRVRecord{Priority: 0, Weight: 50, Port: 80, Target: "x.a.ns.svc.cluster.local."}),
			rr("5.0.96.10.in-addr.arpa.", &clusterdnsv1.PTRRecord{Target: "a.ns.svc.cluster.local."}),
			rr("e.ns.svc.cluster.local.", &clusterdnsv1.CNAMERecord{Target: "example.com."}),
			rr("dns-version.cluster.local.", &clusterdnsv1.TXTRecord{Values: []string{"1.1.0", `a "q"`}}),
			rr("cluster.local.", &clusterdnsv1.NSRecord{Target: "ns.dns.cluster.local."}),
		},
		Authority: []*clusterdnsv1.ResourceRecord{
			rr("cluster.local.", &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.",
				Serial: 5, Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 30}),
		},
	}
	var b bytes.Buffer
	if err := writeLookup(&b, "a.ns.svc.cluster.local.", dns.TypeANY, resp); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		";; a.ns.svc.cluster.local. ANY: SUCCESS, ttl 30, revision 7, server s1, truncated\n",
		";; ANSWER SECTION:", ";; AUTHORITY SECTION:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ADDITIONAL") {
		t.Errorf("an empty section is printed:\n%s", out)
	}
	// Every record line is a zone-file line miekg/dns parses back to the
	// record it shows.
	wantRRs := []string{
		"a.ns.svc.cluster.local.\t30\tIN\tA\t10.96.0.5",
		"a.ns.svc.cluster.local.\t30\tIN\tAAAA\tfd00::5",
		"_p._tcp.a.ns.svc.cluster.local.\t30\tIN\tSRV\t0 50 80 x.a.ns.svc.cluster.local.",
		"5.0.96.10.in-addr.arpa.\t30\tIN\tPTR\ta.ns.svc.cluster.local.",
		"e.ns.svc.cluster.local.\t30\tIN\tCNAME\texample.com.",
		"dns-version.cluster.local.\t30\tIN\tTXT\t\"1.1.0\" \"a \\\"q\\\"\"",
		"cluster.local.\t30\tIN\tNS\tns.dns.cluster.local.",
		"cluster.local.\t30\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 5 7200 1800 86400 30",
	}
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		parsed, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, parsed.String())
	}
	if len(got) != len(wantRRs) {
		t.Fatalf("%d records, want %d:\n%s", len(got), len(wantRRs), out)
	}
	for i, w := range wantRRs {
		if got[i] != w {
			t.Errorf("record %d: %q, want %q", i, got[i], w)
		}
	}
}

func TestWriteProtoJSON(t *testing.T) {
	t.Parallel()
	msgs := []proto.Message{
		&clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Revision: 1 << 60, Keys: []string{"svc/a/b"}},
		&clusterdnsv1.WatchServicesResponse{Revision: 3, ServerId: "s", States: []*clusterdnsv1.ServiceState{{
			Ref: &clusterdnsv1.ServiceRef{Namespace: "a", Name: "b"}, Exists: true,
			Endpoints: []*clusterdnsv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Serving: true}},
		}}},
	}
	for _, m := range msgs {
		var b bytes.Buffer
		if err := writeProtoJSON(&b, m); err != nil {
			t.Fatal(err)
		}
		line := b.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		back := m.ProtoReflect().New().Interface()
		if err := protojson.Unmarshal([]byte(line), back); err != nil || !proto.Equal(back, m) {
			t.Fatalf("%s does not read back: %v", line, err)
		}
	}
	// Unset fields are present, so that a script finds "ready": false.
	var b bytes.Buffer
	if err := writeProtoJSON(&b, msgs[1]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ready":false`, `"serving":true`, `"resumed":false`, `"revision":"3"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s lacks %s", b.String(), want)
		}
	}
}
