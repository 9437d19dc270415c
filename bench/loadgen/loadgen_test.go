package loadgen

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testServer is a miekg/dns server on loopback whose answer depends on the
// first label of the question: nx-* NXDOMAIN, drop-* no reply, late-* a
// reply after lateBy, dup-* two replies, badq-* a reply about another
// name, badid-* a reply with another ID; anything else an A record.
type testServer struct {
	addr    string
	lateBy  time.Duration
	queries atomic.Int64
}

func startServer(t *testing.T, lateBy time.Duration) *testServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: pc.LocalAddr().String(), lateBy: lateBy}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(started) }}
	go func() {
		if err := srv.ActivateAndServe(); err != nil {
			t.Logf("test server: %v", err)
		}
	}()
	<-started
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.ShutdownContext(ctx)
	})
	return s
}

func (s *testServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.queries.Add(1)
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	label := strings.SplitN(q.Name, "-", 2)[0]
	switch label {
	case "nx":
		m.Rcode = dns.RcodeNameError
	case "drop":
		return
	default:
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 1)})
	}
	switch label {
	case "late":
		time.Sleep(s.lateBy)
	case "dup":
		w.WriteMsg(m)
	case "badq":
		m.Question[0].Name = "other." + q.Name
	case "badid":
		m.Id ^= 0x8000
	}
	w.WriteMsg(m)
}

// mix returns n queries, the first of each kind in kinds (label -> count)
// and the rest answered.
func mix(n int, kinds map[string]int) []Query {
	var qs []Query
	for label, count := range kinds {
		for i := range count {
			qs = append(qs, Query{Name: fmt.Sprintf("%s-%d.example.", label, i), Type: dns.TypeA})
		}
	}
	for i := len(qs); i < n; i++ {
		qs = append(qs, Query{Name: fmt.Sprintf("ok-%d.example.", i), Type: dns.TypeA})
	}
	// Interleave the special ones with the rest.
	for i := range qs {
		j := (i * 7919) % len(qs)
		qs[i], qs[j] = qs[j], qs[i]
	}
	return qs
}

func TestRunCountsEveryQuery(t *testing.T) {
	const (
		n       = 400
		timeout = 300 * time.Millisecond
	)
	tests := []struct {
		name  string
		kinds map[string]int
		// Expected counts.
		completed, lost int64
		mismatched      int64 // -1: not checked
		rcodes          map[string]int64
	}{
		{name: "all answered", kinds: map[string]int{"nx": 50},
			completed: n, mismatched: 0, rcodes: map[string]int64{"NOERROR": n - 50, "NXDOMAIN": 50}},
		{name: "dropped queries are lost", kinds: map[string]int{"drop": 30},
			completed: n - 30, lost: 30, mismatched: 0, rcodes: map[string]int64{"NOERROR": n - 30}},
		// A late reply may come before the run ends (unmatched) or after.
		{name: "replies after the timeout are lost", kinds: map[string]int{"late": 10},
			completed: n - 10, lost: 10, mismatched: -1, rcodes: map[string]int64{"NOERROR": n - 10}},
		{name: "a second reply completes nothing", kinds: map[string]int{"dup": 20},
			completed: n, mismatched: -1, rcodes: map[string]int64{"NOERROR": n}},
		{name: "a reply about another question is not the answer", kinds: map[string]int{"badq": 20},
			completed: n - 20, lost: 20, mismatched: 20, rcodes: map[string]int64{"NOERROR": n - 20}},
		{name: "a reply with another ID is not the answer", kinds: map[string]int{"badid": 20},
			completed: n - 20, lost: 20, mismatched: 20, rcodes: map[string]int64{"NOERROR": n - 20}},
	}
	for _, tt := range tests {
		for _, noGSO := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nogso=%v", tt.name, noGSO), func(t *testing.T) {
				srv := startServer(t, 2*timeout)
				res, err := Run(t.Context(), Config{
					Server: srv.addr, Queries: mix(n, tt.kinds), Once: true,
					Duration: 10 * time.Second, Sockets: 3, Outstanding: 40, Timeout: timeout, NoGSO: noGSO,
				})
				if err != nil {
					t.Fatal(err)
				}
				if res.Sent != n || res.Completed != tt.completed || res.Lost != tt.lost {
					t.Errorf("sent %d, completed %d, lost %d; want %d, %d, %d", res.Sent, res.Completed, res.Lost, n, tt.completed, tt.lost)
				}
				if tt.mismatched >= 0 && res.Mismatched != tt.mismatched {
					t.Errorf("unmatched replies %d, want %d", res.Mismatched, tt.mismatched)
				}
				if fmt.Sprint(res.Rcodes) != fmt.Sprint(tt.rcodes) {
					t.Errorf("rcodes %v, want %v", res.Rcodes, tt.rcodes)
				}
				if res.Errors != 0 {
					t.Errorf("%d socket errors", res.Errors)
				}
				if res.Completed > 0 && (res.Avg <= 0 || res.P99 < res.P50 || res.QPS <= 0) {
					t.Errorf("avg %s, p50 %s, p99 %s, QPS %.0f", res.Avg, res.P50, res.P99, res.QPS)
				}
				// A lost query waits its timeout; it does not lengthen the run.
				if tt.lost > 0 && res.Wall < timeout {
					t.Errorf("wall time %s: lost queries were not awaited for %s", res.Wall, timeout)
				}
			})
		}
	}
}

// TestSegmentedSend checks that a run of queries of one length goes out
// as one segmented send where the kernel can, and that the server gets
// each as its own datagram.
func TestSegmentedSend(t *testing.T) {
	srv := startServer(t, 0)
	server, err := net.ResolveUDPAddr("udp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	qs := []Query{{"a-1.example.", dns.TypeA}, {"a-2.example.", dns.TypeA}, {"a-3.example.", dns.TypeA}, {"bb-4.example.", dns.TypeA}}
	p, err := pack(qs)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWorker(server, p, &source{n: int64(len(qs)), limit: int64(len(qs))}, 8, 0, time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if !w.gso {
		t.Skip("no UDP_SEGMENT on this kernel")
	}
	start := time.Now()
	if err := w.run(t.Context(), start, start.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if w.msgCount[0] != 3 || w.msgCount[1] != 1 || !w.gso {
		t.Errorf("messages of the send: %v (gso still on: %v), want the three equal-length queries in one", w.msgCount[:2], w.gso)
	}
	if w.stats.completed != 4 || srv.queries.Load() != 4 {
		t.Errorf("%d completed, server got %d queries; want 4", w.stats.completed, srv.queries.Load())
	}
}

func TestRunBoundedInTimeAndCount(t *testing.T) {
	srv := startServer(t, 0)
	qs := mix(10, map[string]int{"nx": 2})
	tests := []struct {
		name     string
		cfg      Config
		wantSent int64 // 0: bounded by time only
	}{
		{name: "loops over the file for the duration", cfg: Config{Duration: 300 * time.Millisecond}},
		{name: "stops after MaxQueries", cfg: Config{Duration: 10 * time.Second, MaxQueries: 25}, wantSent: 25},
		{name: "once stops at the end of the file", cfg: Config{Duration: 10 * time.Second, Once: true}, wantSent: 10},
		{name: "one socket", cfg: Config{Duration: 300 * time.Millisecond, Sockets: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Server, cfg.Queries, cfg.Outstanding = srv.addr, qs, 8
			if cfg.Sockets == 0 {
				cfg.Sockets = 2
			}
			start := time.Now()
			res, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != res.Completed+res.Lost || res.Lost != 0 {
				t.Errorf("sent %d, completed %d, lost %d", res.Sent, res.Completed, res.Lost)
			}
			if tt.wantSent > 0 && res.Sent != tt.wantSent {
				t.Errorf("sent %d, want %d", res.Sent, tt.wantSent)
			}
			if tt.wantSent == 0 {
				if res.Sent <= int64(len(qs)) {
					t.Errorf("sent %d in %s: did not loop over the %d queries", res.Sent, cfg.Duration, len(qs))
				}
				if took := time.Since(start); took < cfg.Duration || took > cfg.Duration+time.Second {
					t.Errorf("run took %s, want %s", took, cfg.Duration)
				}
			}
			// Two in ten queries are nx-*, whichever way the file wraps.
			if nx, want := res.Rcodes["NXDOMAIN"], res.Completed/5; nx < want-2 || nx > want+2 {
				t.Errorf("NXDOMAIN %d of %d", nx, res.Completed)
			}
			if res.Reads <= 0 || res.Writes <= 0 || res.Reads > res.Completed || res.Writes > res.Sent {
				t.Errorf("%d reads for %d replies, %d writes for %d queries", res.Reads, res.Completed, res.Writes, res.Sent)
			}
			if res.CPU <= 0 || res.CPUShare <= 0 {
				t.Errorf("CPU %s (%.2f of the wall time): not measured", res.CPU, res.CPUShare)
			}
		})
	}
}

func TestRunRateLimit(t *testing.T) {
	srv := startServer(t, 0)
	qs := mix(100, nil)
	for _, rate := range []int{300, 2000} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			const d = time.Second
			res, err := Run(t.Context(), Config{Server: srv.addr, Queries: qs, Duration: d, MaxQPS: rate, Sockets: 4, Outstanding: 50})
			if err != nil {
				t.Fatal(err)
			}
			// Each socket may send one query ahead of its share of the rate.
			upper := int64(rate) + 4
			if res.Sent > upper || float64(res.Sent) < 0.9*float64(rate) {
				t.Errorf("sent %d in %s at -Q %d: want %d to %d", res.Sent, d, rate, int64(0.9*float64(rate)), upper)
			}
			if res.Completed != res.Sent {
				t.Errorf("completed %d of %d", res.Completed, res.Sent)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	qs := []Query{{Name: "a.example.", Type: dns.TypeA}}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no server", Config{Queries: qs, Duration: time.Second}},
		{"no queries", Config{Server: "127.0.0.1:53", Duration: time.Second}},
		{"no duration", Config{Server: "127.0.0.1:53", Queries: qs}},
		{"unbounded duration", Config{Server: "127.0.0.1:53", Queries: qs, Duration: 2 * maxDuration}},
		{"too many in flight per socket", Config{Server: "127.0.0.1:53", Queries: qs, Duration: time.Second, Sockets: 1, Outstanding: maxWindow + 1}},
		{"negative rate", Config{Server: "127.0.0.1:53", Queries: qs, Duration: time.Second, MaxQPS: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(t.Context(), tt.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestSameCountsAsDNSPerf runs dnsperf and the generator over one query
// file against one server that drops some queries: both must count the
// same completed and lost queries and the same response codes.
func TestSameCountsAsDNSPerf(t *testing.T) {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		t.Skip("no dnsperf on PATH (bench/setup.sh installs it)")
	}
	srv := startServer(t, 0)
	qs := mix(500, map[string]int{"nx": 100, "drop": 25})
	file := filepath.Join(t.TempDir(), "queries")
	var b strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&b, "%s %s\n", q.Name, dns.TypeToString[q.Type])
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ReadQueryFile(file)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.addr)
	out, err := exec.CommandContext(t.Context(), "dnsperf", "-s", host, "-p", port, "-d", file, "-n", "1", "-l", "30", "-t", "1", "-c", "3", "-q", "40").CombinedOutput()
	if err != nil {
		t.Fatalf("dnsperf: %v\n%s", err, out)
	}
	perf := map[string]string{}
	for line := range strings.SplitSeq(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			perf[k] = strings.Fields(v + " -")[0]
		}
	}
	res, err := Run(t.Context(), Config{Server: srv.addr, Queries: fromFile, Once: true, Duration: 30 * time.Second, Sockets: 3, Outstanding: 40, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		mine int64
	}{{"Queries sent", res.Sent}, {"Queries completed", res.Completed}, {"Queries lost", res.Lost}} {
		if perf[c.key] != fmt.Sprint(c.mine) {
			t.Errorf("%s: dnsperf %s, loadgen %d", c.key, perf[c.key], c.mine)
		}
	}
	if !strings.Contains(string(out), fmt.Sprintf("NOERROR %d", res.Rcodes["NOERROR"])) || !strings.Contains(string(out), fmt.Sprintf("NXDOMAIN %d", res.Rcodes["NXDOMAIN"])) {
		t.Errorf("response codes: loadgen %v, dnsperf:\n%s", res.Rcodes, out)
	}
}
