package ctl

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/encoding/protojson"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

// exampleCluster is the file `make run` serves, relative to this package.
const exampleCluster = "../../deploy/examples/cluster.yaml"

// fileRecordService starts a record service on a copy of the example
// cluster file.
func fileRecordService(t *testing.T, bins stack.Binaries, args ...string) *stack.Process {
	t.Helper()
	data, err := os.ReadFile(exampleCluster)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return stack.StartRecordService(t, bins, append([]string{"--source", "file:" + src}, args...)...)
}

// hasRow tells whether one line of out has exactly the cells want.
func hasRow(out string, want ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(want, " ") {
			return true
		}
	}
	return false
}

// TestFileSource runs the commands that need no API server against a
// record service on the example cluster file, checking what they print
// and how they exit.
func TestFileSource(t *testing.T) {
	t.Parallel()
	bins := stack.InstalledCtl(t)
	rs := fileRecordService(t, bins)
	at := []string{"--recordsvc", rs.Addr}
	closed := closedAddr(t)

	for _, tc := range []struct {
		name string
		args []string
		code int
		// rows are lines of stdout, by their whitespace-separated cells.
		rows [][]string
		// stderr is a substring of the error output.
		stderr string
	}{
		{name: "lookup A", args: []string{"lookup", "kubernetes.default.svc.cluster.local"}, code: 0,
			rows: [][]string{{"kubernetes.default.svc.cluster.local.", "30", "IN", "A", "10.96.0.1"}}},
		{name: "lookup SRV", args: []string{"lookup", "_postgres._tcp.db.demo.svc.cluster.local", "srv"}, code: 0,
			rows: [][]string{
				{"_postgres._tcp.db.demo.svc.cluster.local.", "30", "IN", "SRV", "0", "50", "5432", "db-0.db.demo.svc.cluster.local."},
				{"db-0.db.demo.svc.cluster.local.", "30", "IN", "A", "10.244.2.20"},
			}},
		{name: "lookup PTR by number", args: []string{"lookup", "1.0.96.10.in-addr.arpa", "12"}, code: 0,
			rows: [][]string{{"1.0.96.10.in-addr.arpa.", "30", "IN", "PTR", "kubernetes.default.svc.cluster.local."}}},
		{name: "lookup NXDOMAIN", args: []string{"lookup", "unknown.default.svc.cluster.local"}, code: 1,
			stderr: "NAME_ERROR"},
		{name: "lookup NODATA", args: []string{"lookup", "kubernetes.default.svc.cluster.local", "TXT"}, code: 1, stderr: "NO_DATA"},
		{name: "get service", args: []string{"get", "service", "demo/db"}, code: 0,
			rows: [][]string{
				{"Type:", "ClusterIP", "(headless)"},
				{"postgres", "TCP", "5432", "-"},
				{"10.244.2.20", "true", "true", "false", "db-0", "-", "-", "-", "postgres:5432/TCP"},
			}},
		{name: "get missing service", args: []string{"get", "svc", "demo/missing"}, code: 1, stderr: "NotFound"},
		{name: "list services", args: []string{"list", "services"}, code: 0,
			rows: [][]string{
				{"default", "kubernetes", "ClusterIP", "10.96.0.1", "https:443/TCP"},
				{"demo", "search", "ExternalName", "->", "search.example.com", "-"},
			}},
		{name: "list one namespace in pages of one", args: []string{"list", "services", "kube-system", "--page-size", "1"}, code: 0,
			rows: [][]string{{"kube-system", "kube-dns", "ClusterIP", "10.96.0.10", "dns:53/UDP,dns-tcp:53/TCP,metrics:9153/TCP"}}},
		{name: "unreachable", args: []string{"lookup", "kubernetes.default.svc.cluster.local", "--recordsvc", closed}, code: 3,
			stderr: "Unavailable"},
		{name: "unreachable watch", args: []string{"watch", "default/kubernetes", "--recordsvc", closed}, code: 3},
		{name: "bad type", args: []string{"lookup", "kubernetes.default.svc.cluster.local", "MX"}, code: 2, stderr: `type "MX"`},
		{name: "bad ref", args: []string{"get", "service", "kubernetes"}, code: 2, stderr: "want NS/NAME"},
		{name: "bad flag", args: []string{"list", "services", "--colour"}, code: 2, stderr: "-colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A case's own --recordsvc comes after and wins.
			r := ctl(t, bins, append(append([]string{}, at...), tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("want exit %d and stderr with %q, got %v", tc.code, tc.stderr, r)
			}
			for _, row := range tc.rows {
				if !hasRow(r.stdout, row...) {
					t.Errorf("no row %q in\n%v", row, r)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		r := ctl(t, bins, append(at, "-o", "json", "lookup", "web.demo.svc.cluster.local", "AAAA")...)
		var lookup clusterdnsv1.LookupResponse
		if r.code != 0 || protojson.Unmarshal([]byte(r.stdout), &lookup) != nil ||
			lookup.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS || lookup.GetAnswer()[0].GetAaaa().GetAddress() != "fd00:10:96::20" {
			t.Fatalf("lookup: %v", r)
		}
		r = ctl(t, bins, append(at, "get", "service", "kube-system/kube-dns", "-o", "json")...)
		var got clusterdnsv1.GetServiceResponse
		if r.code != 0 || protojson.Unmarshal([]byte(r.stdout), &got) != nil || len(got.GetState().GetService().GetPorts()) != 3 {
			t.Fatalf("get service: %v", r)
		}
		r = ctl(t, bins, append(at, "list", "services", "--page-size", "2", "-o", "json")...)
		var list clusterdnsv1.ListServicesResponse
		if r.code != 0 || protojson.Unmarshal([]byte(r.stdout), &list) != nil || len(list.GetServices()) < 5 || list.GetNextPageToken() != "" {
			t.Fatalf("list services over pages of 2: %v", r)
		}
	})
}

// TestStats asks a frontend a few questions, twice each, and reads its
// cache statistics with clusterdnsctl stats: the repeats are hits.
func TestStats(t *testing.T) {
	t.Parallel()
	bins := stack.InstalledCtl(t)
	rs := fileRecordService(t, bins)
	fe := stack.StartFrontend(t, bins, rs.Addr)
	names := []string{"kubernetes.default.svc.cluster.local.", "kube-dns.kube-system.svc.cluster.local.", "web.demo.svc.cluster.local."}
	for round := range 2 {
		for _, n := range names {
			if m := stack.Query(t, fe.Addr, n, dns.TypeA, false); m.Rcode != dns.RcodeSuccess {
				t.Fatalf("%s: %s", n, dns.RcodeToString[m.Rcode])
			}
		}
		if round > 0 {
			break
		}
		// The cache stores an answer asynchronously (ristretto's Set): on
		// a busy machine a repeat sent at once can come first and miss.
		// The repeats go once every answer is stored.
		deadline := time.Now().Add(10 * time.Second)
		for stack.ScrapeMetrics(t, fe.MetricsAddr).Sum("clusterdns_frontend_cache_entries") < float64(len(names)) {
			if time.Now().After(deadline) {
				t.Fatalf("the frontend did not store the %d answers within 10s", len(names))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	r := ctl(t, bins, "stats", "--frontend-metrics", fe.MetricsAddr, "-o", "json")
	var st struct {
		Hits, Misses, Entries uint64
		HitRatio              float64
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("stats: %v", r)
	}
	if st.Hits < uint64(len(names)) || st.Misses < uint64(len(names)) || st.Entries == 0 || st.HitRatio <= 0 || st.HitRatio >= 1 {
		t.Fatalf("after %d names asked twice: %+v\n%v", len(names), st, r)
	}
	r = ctl(t, bins, "stats", "--frontend-metrics", fe.MetricsAddr)
	if r.code != 0 || !strings.Contains(r.stdout, "HIT RATIO") {
		t.Fatalf("stats table: %v", r)
	}
	// The record service's metrics have no cache: an error, not zeros.
	if r := ctl(t, bins, "stats", "--frontend-metrics", rs.MetricsAddr); r.code != 4 || !strings.Contains(r.stderr, "cache") {
		t.Fatalf("stats of a record service: %v", r)
	}
	if r := ctl(t, bins, "stats", "--frontend-metrics", closedAddr(t)); r.code != 3 {
		t.Fatalf("stats of nothing: %v", r)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
