package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMain doubles as a fake frontend and record service: started with
// --listen, the test binary serves like one (see runFake), so the process
// lifecycle is tested without building the real binaries.
func TestMain(m *testing.M) {
	if listen := flagValue(os.Args[1:], "--listen"); listen != "" {
		os.Exit(runFake(listen, flagValue(os.Args[1:], "--metrics-listen"), flagValue(os.Args[1:], "--recordsvc") != ""))
	}
	os.Exit(m.Run())
}

// runFake serves DNS (frontend) or accepts TCP (record service) on listen and
// a counter on metricsListen until SIGTERM.
func runFake(listen, metricsListen string, frontend bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var queries atomic.Int64
	if frontend {
		handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			queries.Add(1)
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			rr, _ := dns.NewRR(r.Question[0].Name + " 30 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
			_ = w.WriteMsg(m)
		})
		for _, network := range []string{"udp", "tcp"} {
			srv := &dns.Server{Addr: listen, Net: network, Handler: handler}
			go func() { _ = srv.ListenAndServe() }()
			defer srv.Shutdown()
		}
	} else {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# HELP fake_queries_total Queries.\n# TYPE fake_queries_total counter\nfake_queries_total{transport=\"any\"} %d\n", queries.Load())
	})
	hs := &http.Server{Addr: metricsListen, Handler: mux}
	go func() { _ = hs.ListenAndServe() }()
	defer hs.Close()
	fmt.Println("fake serving on", listen)
	<-ctx.Done()
	return 0
}

func fakeBinaries(t *testing.T) Binaries {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Binaries{Frontend: self, RecordService: self}
}

// TestLaunchChoosesPortsAgain: a first start whose chosen port was taken
// before the process bound it (by another test binary) is tried again on
// newly chosen ports; a port the test named itself is not.
func TestLaunchChoosesPortsAgain(t *testing.T) {
	t.Parallel()
	taken := boundPort(t)
	p := &Process{Name: "recordsvc", bin: fakeBinaries(t).RecordService}
	p.ready = func(ctx context.Context) error { return dialTCP(ctx, p.Addr) }
	var choices int
	p.launch(t, nil, func(t testing.TB) string {
		choices++
		if choices == 1 {
			return taken
		}
		return freeAddr(t, taken)
	})
	if choices != 2 || p.Addr == taken || !p.Running() {
		t.Errorf("after %d choices the process runs on %s (taken %s), running %v", choices, p.Addr, taken, p.Running())
	}

	named := &Process{Name: "recordsvc", bin: fakeBinaries(t).RecordService}
	named.ready = func(ctx context.Context) error { return dialTCP(ctx, named.Addr) }
	named.Addr, named.MetricsAddr = taken, freeAddr(t)
	named.args = []string{"--listen", named.Addr, "--metrics-listen", named.MetricsAddr}
	if err := named.startOnce(t); !errors.Is(err, errPortTaken) {
		t.Errorf("start on a taken port: %v, want errPortTaken", err)
	}
}

// boundPort returns a loopback address whose TCP port is bound, without
// SO_REUSEADDR, by a socket that does not listen: a process cannot bind it,
// and a readiness check cannot connect to it by mistake.
func boundPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

func TestProcessLifecycle(t *testing.T) {
	t.Parallel()
	bins := fakeBinaries(t)
	rs := StartRecordService(t, bins, "--cluster-domain", "cluster.local")
	if rs.Addr == "" || rs.MetricsAddr == "" || rs.Addr == rs.MetricsAddr {
		t.Fatalf("record service addresses: %q %q", rs.Addr, rs.MetricsAddr)
	}
	fe := StartFrontend(t, bins, rs.Addr)

	for _, tcp := range []bool{false, true} {
		t.Run(Transport(tcp), func(t *testing.T) {
			r := Query(t, fe.Addr, "Kubernetes.default.svc.cluster.local", dns.TypeA, tcp)
			if len(r.Answer) != 1 || r.Answer[0].Header().Name != "Kubernetes.default.svc.cluster.local." {
				t.Errorf("answer %v", r.Answer)
			}
		})
	}
	if got := ScrapeMetrics(t, fe.MetricsAddr).Sum("fake_queries_total"); got != 2 {
		t.Errorf("fake_queries_total = %v after two queries, want 2", got)
	}
	if !strings.Contains(fe.LogTail(5), "--recordsvc "+rs.Addr) {
		t.Errorf("frontend log does not show its command line:\n%s", fe.LogTail(5))
	}

	fe.Kill()
	if fe.Running() {
		t.Fatal("frontend still running after Kill")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Exchange(ctx, fe.Addr, NewQuery("a.example", dns.TypeA), true); err == nil {
		t.Error("killed frontend still answers over TCP")
	}
	fe.Restart(t)
	Eventually(t, 5*time.Second, fe.Addr, "a.example", dns.TypeA, false, func(r *dns.Msg) string {
		if len(r.Answer) != 1 {
			return "no answer"
		}
		return ""
	})
	if err := fe.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := fe.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestExchangeRetriesTimeouts(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var received atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if received.Add(1) == 1 {
				continue // drop the first query: the client must retry
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			r := new(dns.Msg)
			r.SetRcode(q, dns.RcodeNameError)
			out, _ := r.Pack()
			_, _ = pc.WriteTo(out, from)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Exchange(ctx, pc.LocalAddr().String(), NewQuery("x.example", dns.TypeA), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeNameError || received.Load() != 2 {
		t.Errorf("rcode %s after %d queries, want NXDOMAIN after 2", dns.RcodeToString[r.Rcode], received.Load())
	}
}

func TestExchangeDoesNotRetryRefusedConnections(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	if _, err := Exchange(context.Background(), addr, NewQuery("x.example", dns.TypeA), true); err == nil {
		t.Fatal("exchange with a closed port succeeded")
	}
	if time.Since(start) > queryTimeout {
		t.Errorf("connection refused was retried (took %v)", time.Since(start))
	}
}

func TestNewQuery(t *testing.T) {
	m := NewQuery("MiXeD.Example", dns.TypeSRV)
	if m.Question[0].Name != "MiXeD.Example." || m.Question[0].Qtype != dns.TypeSRV || !m.RecursionDesired {
		t.Errorf("question %v rd=%v", m.Question, m.RecursionDesired)
	}
	if opt := m.IsEdns0(); opt == nil || opt.UDPSize() != EDNSBufferSize {
		t.Errorf("EDNS0 OPT = %v, want UDP size %d", opt, EDNSBufferSize)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP dns_requests_total Requests.
# TYPE dns_requests_total counter
dns_requests_total{rcode="NOERROR",transport="udp"} 3
dns_requests_total{rcode="NXDOMAIN",transport="tcp"} 2
dns_weird{path="a b}c",quote="x\"y"} 7 1700000000000
cache_entries 1.5e+01
`
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dns_requests_total", nil, 5},
		{"dns_requests_total", map[string]string{"transport": "udp"}, 3},
		{"dns_requests_total", map[string]string{"rcode": "NXDOMAIN", "transport": "tcp"}, 2},
		{"dns_requests_total", map[string]string{"transport": "dot"}, 0},
		{"dns_weird", nil, 7},
		{"cache_entries", nil, 15},
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		if got := m.SumWhere(tt.name, tt.labels); got != tt.want {
			t.Errorf("SumWhere(%s, %v) = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if got := strings.Join(m.Names(), " "); got != "cache_entries dns_requests_total dns_weird" {
		t.Errorf("Names = %s", got)
	}
}

func TestParseMetricsErrors(t *testing.T) {
	tests := []string{
		"no_value\n",
		`unterminated{a="b" 1` + "\n",
		"bad_value abc\n",
		"too_many 1 2 3\n",
	}
	for _, text := range tests {
		if _, err := ParseMetrics(strings.NewReader(text)); err == nil {
			t.Errorf("ParseMetrics(%q) accepted it", text)
		}
	}
}

func TestFlagValue(t *testing.T) {
	tests := []struct {
		args []string
		flag string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:53"}, "--listen", "127.0.0.1:53"},
		{[]string{"--listen=127.0.0.1:53"}, "--listen", "127.0.0.1:53"},
		{[]string{"-listen", "x"}, "--listen", "x"},
		{[]string{"--metrics-listen", "m", "--listen", "l"}, "--listen", "l"},
		{[]string{"--listen-extra", "x"}, "--listen", ""},
		{[]string{"value", "--listen"}, "--listen", ""},
		{nil, "--listen", ""},
	}
	for _, tt := range tests {
		if got := flagValue(tt.args, tt.flag); got != tt.want {
			t.Errorf("flagValue(%q, %s) = %q, want %q", tt.args, tt.flag, got, tt.want)
		}
	}
}
