package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// freePort returns an address on 127.0.0.1 whose port was free for both
// UDP and TCP when checked and is none of taken: the kernel may hand out a
// port again as soon as its listener closes, and one process must not get
// the same port for two listeners.
func freePort(t *testing.T, taken ...string) string {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		_ = pc.Close()
		if err == nil {
			_ = ln.Close()
			if !slices.Contains(taken, addr) {
				return addr
			}
		}
	}
	t.Fatal("no free port")
	return ""
}

// fakeRecordService is an in-process record service:
//
//	kubernetes.default.svc.cluster.local. A 10.96.0.1
//	ext.default.svc.cluster.local.        CNAME www.example.org. (ExternalName)
//	slow.default.svc.cluster.local.       A 10.96.0.9, once release is closed
//	reverse names                         NOT_AUTHORITATIVE
//	other names                           NAME_ERROR with the zone SOA
type fakeRecordService struct {
	clusterdnsv1.UnimplementedRecordServiceServer
	release chan struct{}
	mu      sync.Mutex
	slowIn  int // slow lookups received
}

func (f *fakeRecordService) Lookup(ctx context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	name := req.GetName()
	rr := func(data func(*clusterdnsv1.ResourceRecord)) *clusterdnsv1.ResourceRecord {
		r := &clusterdnsv1.ResourceRecord{Name: name, Ttl: 30}
		data(r)
		return r
	}
	a := func(ip string) func(*clusterdnsv1.ResourceRecord) {
		return func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: ip}}
		}
	}
	ok := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Revision: 1, ServerId: "fake"}
	switch strings.ToLower(name) {
	case "kubernetes.default.svc.cluster.local.":
		ok.Answer = append(ok.Answer, rr(a("10.96.0.1")))
		ok.Keys = []string{"svc/default/kubernetes"}
		return ok, nil
	case "ext.default.svc.cluster.local.":
		ok.Answer = append(ok.Answer, rr(func(r *clusterdnsv1.ResourceRecord) {
			r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: "www.example.org."}}
		}))
		ok.Keys = []string{"svc/default/ext"}
		return ok, nil
	case "slow.default.svc.cluster.local.":
		f.mu.Lock()
		f.slowIn++
		f.mu.Unlock()
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		ok.Answer = append(ok.Answer, rr(a("10.96.0.9")))
		return ok, nil
	}
	if strings.HasSuffix(strings.ToLower(name), ".arpa.") {
		return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE, Revision: 1, ServerId: "fake"}, nil
	}
	return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Ttl: 5, Revision: 1, ServerId: "fake",
		Authority: []*clusterdnsv1.ResourceRecord{{Name: "cluster.local.", Ttl: 5, Data: &clusterdnsv1.ResourceRecord_Soa{
			Soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1,
				Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}}}}}, nil
}

func (f *fakeRecordService) slowLookups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slowIn
}

func (f *fakeRecordService) Watch(_ *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	if err := stream.Send(&clusterdnsv1.WatchResponse{Revision: 1, ServerId: "fake", Resync: true}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// startRecordService serves a fakeRecordService on 127.0.0.1:0.
func startRecordService(t *testing.T) (*fakeRecordService, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeRecordService{release: make(chan struct{})}
	gs := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(gs, fake)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return fake, ln.Addr().String()
}

// startDNS serves handler on a loopback port, UDP and TCP, until the test
// ends, and returns the address. The sockets are bound here and handed to
// the servers: a port found free and bound later may be taken meanwhile by
// another process, and a frontend that then got the same port would be its
// own upstream.
func startDNS(t *testing.T, handler dns.HandlerFunc) string {
	t.Helper()
	var (
		pc net.PacketConn
		ln net.Listener
	)
	for i := 0; ln == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			_ = pc.Close()
			if i == 20 {
				t.Fatalf("no port free for UDP and TCP: %v", err)
			}
		}
	}
	addr := pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	servers := []*dns.Server{
		{PacketConn: pc, Handler: handler, NotifyStartedFunc: func() { started <- struct{}{} }},
		{Listener: ln, Handler: handler, NotifyStartedFunc: func() { started <- struct{}{} }},
	}
	done := make(chan struct{}, 2)
	for _, s := range servers {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := s.ActivateAndServe(); err != nil {
				t.Errorf("test DNS server %s: %v", addr, err)
				started <- struct{}{}
			}
		}()
	}
	for range 2 {
		<-started
	}
	t.Cleanup(func() {
		for _, s := range servers {
			_ = s.Shutdown()
		}
		<-done
		<-done
	})
	return addr
}

// upstreamAnswers is a resolver: www.example.org. A 192.0.2.10, the PTR of
// 9.9.9.9, NXDOMAIN with SOA for the rest.
func upstreamAnswers(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	switch {
	case strings.EqualFold(q.Name, "www.example.org.") && q.Qtype == dns.TypeA:
		rr, _ := dns.NewRR(q.Name + " 300 IN A 192.0.2.10")
		m.Answer = append(m.Answer, rr)
	case strings.EqualFold(q.Name, "9.9.9.9.in-addr.arpa.") && q.Qtype == dns.TypePTR:
		rr, _ := dns.NewRR(q.Name + " 300 IN PTR dns9.example.net.")
		m.Answer = append(m.Answer, rr)
	default:
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR("example.org. 3600 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 60")
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}

// frontend is run() started in the background.
type frontend struct {
	dns, ops string
	cancel   context.CancelFunc
	done     chan error
	log      *logBuffer
}

// logBuffer collects the frontend's log.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startFrontend runs the frontend with args plus --listen and
// --metrics-listen on free ports (unless given), waits until it answers,
// and stops it at the end of the test.
func startFrontend(t *testing.T, args ...string) *frontend {
	t.Helper()
	fe := &frontend{done: make(chan error, 1), log: &logBuffer{}}
	if !strings.Contains(strings.Join(args, " "), "--listen ") {
		fe.dns = freePort(t)
		args = append(args, "--listen", fe.dns)
	}
	fe.ops = freePort(t, fe.dns)
	args = append(args, "--metrics-listen", fe.ops)
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(%q): %v", args, err)
	}
	fe.dns = cfg.Listen
	ctx, cancel := context.WithCancel(context.Background())
	fe.cancel = cancel
	log := slog.New(slog.NewTextHandler(fe.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { fe.done <- run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-fe.done:
		case <-time.After(20 * time.Second):
			t.Error("run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("frontend log:\n%s", fe.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := &dns.Client{Net: "tcp", Timeout: time.Second}
		// A cluster name (never forwarded) of a type the tests do not count.
		_, _, err := c.Exchange(new(dns.Msg).SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeTXT), fe.dns)
		if err == nil {
			break
		}
		if fe.ended() {
			return fe // ended early: the caller looks at the result
		}
		if time.Now().After(deadline) {
			t.Fatalf("frontend not answering: %v\n%s", err, fe.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The metrics listener starts after DNS serves: wait for it too, so
	// that a test's first GET does not race its bind.
	for {
		conn, err := net.DialTimeout("tcp", fe.ops, time.Second)
		if err == nil {
			conn.Close()
			return fe
		}
		if fe.ended() {
			return fe // ended right after serving (a detected loop): the caller looks at the result
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics listener %s not accepting: %v\n%s", fe.ops, err, fe.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ended reports whether run has returned, leaving its result on fe.done.
func (fe *frontend) ended() bool {
	select {
	case err := <-fe.done:
		fe.done <- err
		return true
	default:
		return false
	}
}

func (fe *frontend) ask(t *testing.T, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, qtype), fe.dns)
	if err != nil {
		t.Fatalf("%s %s: %v", network, name, err)
	}
	return resp
}

// get fetches an ops endpoint.
func (fe *frontend) get(t *testing.T, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	r, err := c.Get("http://" + fe.ops + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(body)
}

// scrape returns the samples of /metrics, "name{labels}" -> value.
func (fe *frontend) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	status, body := fe.get(t, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// checkGoroutines fails the test when more goroutines than at the call are
// left after the cleanups registered later (waiting up to 10s).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestRunRecordServiceDown starts the whole frontend against an
// unreachable record service: cluster names get SERVFAIL (never NXDOMAIN),
// /health answers, /ready does not, /metrics counts the queries, and
// cancelling the context stops it without leaking goroutines.
func TestRunRecordServiceDown(t *testing.T) {
	checkGoroutines(t)
	up := startDNS(t, upstreamAnswers)
	fe := startFrontend(t, "--recordsvc", freePort(t), "--lookup-timeout", "300ms", "--upstream", up, "--lameduck", "0s")
	for _, network := range []string{"udp", "tcp"} {
		if resp := fe.ask(t, network, "kubernetes.default.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s with the record service down, want SERVFAIL", network, dns.RcodeToString[resp.Rcode])
		}
	}
	// Names outside the zone do not need the record service.
	if resp := fe.ask(t, "udp", "www.example.org.", dns.TypeA); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("external name with the record service down: %v", resp)
	}
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/health", http.StatusOK, "ok"},
		{"/ready", http.StatusServiceUnavailable, "not ready"},
		{"/metrics", http.StatusOK, `clusterdns_frontend_requests_total{qtype="A",rcode="SERVFAIL",transport="tcp"} 1`},
		{"/metrics", http.StatusOK, "clusterdns_frontend_cache_entries"},
		{"/metrics", http.StatusOK, "clusterdns_frontend_recordsvc_watch_connected 0"},
		{"/metrics", http.StatusOK, "go_goroutines"},
	}
	for _, tt := range tests {
		status, body := fe.get(t, tt.path)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s: %d, body without %q:\n%.2000s", tt.path, status, tt.contains, body)
		}
	}
}

// TestRunMetrics sends traffic of every kind through the whole frontend
// and checks that the scraped counters moved by exactly what was sent.
func TestRunMetrics(t *testing.T) {
	checkGoroutines(t)
	_, rs := startRecordService(t)
	up := startDNS(t, upstreamAnswers)
	fe := startFrontend(t, "--recordsvc", rs, "--upstream", up, "--lameduck", "0s")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _ := fe.get(t, "/ready"); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/ready never 200 with the record service up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := fe.scrape(t)
	traffic := []struct {
		network, name string
		qtype         uint16
		rcode         int
	}{
		{"udp", "kubernetes.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess}, // miss
		{"udp", "kubernetes.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess}, // hit
		{"tcp", "kubernetes.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess}, // hit
		{"udp", "nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError},     // miss
		{"udp", "www.example.org.", dns.TypeA, dns.RcodeSuccess},                      // upstream miss
		{"udp", "www.example.org.", dns.TypeA, dns.RcodeSuccess},                      // upstream hit
		{"udp", "9.9.9.9.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess},               // cluster miss, upstream miss
		{"udp", "ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess},        // cluster miss, upstream hit
	}
	for _, q := range traffic {
		if resp := fe.ask(t, q.network, q.name, q.qtype); resp.Rcode != q.rcode {
			t.Fatalf("%s %s: %s, want %s", q.network, q.name, dns.RcodeToString[resp.Rcode], dns.RcodeToString[q.rcode])
		}
		// Let ristretto apply the Set before the next query.
		time.Sleep(200 * time.Millisecond)
	}
	after := fe.scrape(t)
	delta := func(sample string) float64 { return after[sample] - before[sample] }
	tests := []struct {
		sample string
		want   float64
	}{
		{`clusterdns_frontend_requests_total{qtype="A",rcode="NOERROR",transport="udp"}`, 5},
		{`clusterdns_frontend_requests_total{qtype="A",rcode="NOERROR",transport="tcp"}`, 1},
		{`clusterdns_frontend_requests_total{qtype="A",rcode="NXDOMAIN",transport="udp"}`, 1},
		{`clusterdns_frontend_requests_total{qtype="PTR",rcode="NOERROR",transport="udp"}`, 1},
		{`clusterdns_frontend_request_duration_seconds_count{transport="udp"}`, 7},
		{`clusterdns_frontend_request_duration_seconds_count{transport="tcp"}`, 1},
		{`clusterdns_frontend_cache_hits_total`, 4},
		{`clusterdns_frontend_cache_misses_total`, 6},
		{`clusterdns_frontend_recordsvc_lookup_duration_seconds_count{result="success"}`, 2},
		{`clusterdns_frontend_recordsvc_lookup_duration_seconds_count{result="name_error"}`, 1},
		{`clusterdns_frontend_recordsvc_lookup_duration_seconds_count{result="not_authoritative"}`, 1},
		{fmt.Sprintf(`clusterdns_forward_upstream_duration_seconds_count{rcode="NOERROR",upstream=%q}`, up), 2},
		{fmt.Sprintf(`clusterdns_forward_upstream_healthy{upstream=%q}`, up), 0},
	}
	for _, tt := range tests {
		if got := delta(tt.sample); got != tt.want {
			t.Errorf("%s moved by %v, want %v", tt.sample, got, tt.want)
		}
	}
	if after["clusterdns_frontend_cache_entries"] < 4 {
		t.Errorf("cache entries %v, want at least 4", after["clusterdns_frontend_cache_entries"])
	}
	if after[fmt.Sprintf(`clusterdns_forward_upstream_healthy{upstream=%q}`, up)] != 1 {
		t.Errorf("upstream not reported healthy")
	}
}

// TestRunLoopDetected: when the upstream path leads back to the frontend,
// the loop probe comes back, the frontend logs why and run returns an
// error (the process exits non-zero).
func TestRunLoopDetected(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the frontend's arguments; dnsAddr is its listen
		// address.
		setup func(t *testing.T, dnsAddr string) []string
	}{
		{"upstream relays back to us", func(t *testing.T, dnsAddr string) []string {
			relay := startDNS(t, func(w dns.ResponseWriter, r *dns.Msg) {
				c := &dns.Client{Timeout: 2 * time.Second}
				resp, _, err := c.Exchange(r, dnsAddr)
				if err == nil {
					_ = w.WriteMsg(resp)
				}
			})
			return []string{"--listen", dnsAddr, "--upstream", relay}
		}},
		{"upstream is ourselves", func(t *testing.T, dnsAddr string) []string {
			return []string{"--listen", dnsAddr, "--upstream", dnsAddr}
		}},
		{"resolv.conf names ourselves", func(t *testing.T, _ string) []string {
			// A node whose resolv.conf says 127.0.0.1 while we serve port
			// 53 there (resolv.conf has no port).
			pc, err := net.ListenPacket("udp", "127.0.0.1:53")
			if err != nil {
				t.Skipf("cannot use 127.0.0.1:53 here: %v", err)
			}
			_ = pc.Close()
			file := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(file, []byte("search example.org\nnameserver 127.0.0.1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"--listen", "127.0.0.1:53", "--resolv-conf", file}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			_, rs := startRecordService(t)
			args := append(tt.setup(t, freePort(t)), "--recordsvc", rs, "--lameduck", "0s", "--upstream-timeout", "500ms")
			fe := startFrontend(t, args...)
			select {
			case err := <-fe.done:
				fe.done <- err
				if err == nil || !strings.Contains(err.Error(), "forwarding loop detected") {
					t.Fatalf("run returned %v, want a forwarding loop error", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("loop not detected\n%s", fe.log.String())
			}
			if log := fe.log.String(); !strings.Contains(log, "forwarding loop: the loop probe") {
				t.Errorf("log does not say why:\n%s", log)
			}
		})
	}
}

// TestRunNoLoop: an ordinary upstream does not trip the loop check.
func TestRunNoLoop(t *testing.T) {
	_, rs := startRecordService(t)
	up := startDNS(t, upstreamAnswers)
	fe := startFrontend(t, "--recordsvc", rs, "--upstream", up, "--lameduck", "0s", "--upstream-timeout", "300ms")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(fe.log.String(), "loop check done") {
		if time.Now().After(deadline) {
			t.Fatalf("loop check did not finish:\n%s", fe.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-fe.done:
		t.Fatalf("run returned %v", err)
	default:
	}
}

// TestRunLameduck: on SIGTERM (the context ends) /ready turns 503 at once
// while DNS is still answered for the lameduck period; then the listeners
// close, a query in flight is still answered (drain), and run returns.
func TestRunLameduck(t *testing.T) {
	checkGoroutines(t)
	fake, rs := startRecordService(t)
	fe := startFrontend(t, "--recordsvc", rs, "--lameduck", "1500ms", "--lookup-timeout", "20s",
		"--upstream", startDNS(t, upstreamAnswers))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _ := fe.get(t, "/ready"); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/ready never 200")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	fe.cancel()
	if status, _ := fe.get(t, "/ready"); status != http.StatusServiceUnavailable {
		t.Errorf("/ready right after SIGTERM: %d, want 503", status)
	}
	if status, _ := fe.get(t, "/health"); status != http.StatusOK {
		t.Errorf("/health during lameduck: %d, want 200", status)
	}
	// A query whose answer is held back by the record service.
	inflight := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Timeout: 30 * time.Second}
		resp, _, err := c.Exchange(new(dns.Msg).SetQuestion("slow.default.svc.cluster.local.", dns.TypeA), fe.dns)
		if err != nil {
			t.Errorf("in-flight query: %v", err)
		}
		inflight <- resp
	}()
	for fake.slowLookups() == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the in-flight query never reached the record service")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Still answering during the lameduck period, over UDP and TCP.
	for _, network := range []string{"udp", "tcp"} {
		if resp := fe.ask(t, network, "kubernetes.default.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeSuccess {
			t.Errorf("%s during lameduck: %v", network, resp)
		}
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Log("machine too slow to check answers inside the lameduck period")
	}
	// Once the lameduck period is over the listeners close...
	for {
		conn, err := net.DialTimeout("tcp", fe.dns, time.Second)
		if err != nil {
			break
		}
		_ = conn.Close()
		if time.Since(start) > 15*time.Second {
			t.Fatal("TCP listener still open long after the lameduck period")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Errorf("listeners closed %v after SIGTERM, before the 1.5s lameduck", waited)
	}
	// ...but run waits for the query in flight.
	select {
	case err := <-fe.done:
		t.Fatalf("run returned (%v) with a query in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(fake.release)
	if resp := <-inflight; resp == nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("in-flight query drained as %v, want its answer", resp)
	}
	select {
	case err := <-fe.done:
		fe.done <- err
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after the drain")
	}
}

// answerWith is a resolver answering every A question with ip.
func answerWith(ip string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Name + " 60 IN A " + ip)
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	}
}

// TestRunStubDomains: --stub-domain routes a zone to its own upstream, and
// a --stub-domains-file edit is applied without a restart.
func TestRunStubDomains(t *testing.T) {
	_, rs := startRecordService(t)
	def := startDNS(t, answerWith("192.0.2.1"))
	flagStub := startDNS(t, answerWith("192.0.2.2"))
	fileStubA := startDNS(t, answerWith("192.0.2.3"))
	fileStubB := startDNS(t, answerWith("192.0.2.4"))
	file := filepath.Join(t.TempDir(), "stubs")
	if err := os.WriteFile(file, []byte("# stub domains\ncorp.example="+fileStubA+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fe := startFrontend(t, "--recordsvc", rs, "--lameduck", "0s", "--upstream", def,
		"--stub-domain", "lab.example="+flagStub, "--stub-domains-file", file)
	addr := func(name string) string {
		resp := fe.ask(t, "udp", name, dns.TypeA)
		if len(resp.Answer) != 1 {
			t.Fatalf("%s: %v", name, resp)
		}
		return resp.Answer[0].(*dns.A).A.String()
	}
	for name, want := range map[string]string{
		"www.example.org.":      "192.0.2.1",
		"host.lab.example.":     "192.0.2.2",
		"host.corp.example.":    "192.0.2.3",
		"a.b.corp.example.":     "192.0.2.3",
		"host.notcorp.example.": "192.0.2.1",
	} {
		if got := addr(name); got != want {
			t.Errorf("%s answered by %s, want %s", name, got, want)
		}
	}
	if err := os.WriteFile(file, []byte("corp.example="+fileStubB+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		// A new name each time: the old answers are cached.
		if addr(fmt.Sprintf("h%d.corp.example.", i)) == "192.0.2.4" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stub domains file change not applied\n%s", fe.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := addr("host.lab.example."); got != "192.0.2.2" {
		t.Errorf("flag stub domain after the reload answered by %s", got)
	}
}
