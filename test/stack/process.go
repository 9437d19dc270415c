package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	// startTimeout bounds the wait for a started process to serve.
	startTimeout = 30 * time.Second
	// stopGrace is how long a process gets after SIGTERM before SIGKILL; it
	// covers a frontend's lameduck period.
	stopGrace = 15 * time.Second
	// logTailLines is how much of a process log is shown when a test fails.
	logTailLines = 60
)

// Process is a clusterdns binary running on loopback for one test. It is
// stopped when the test ends, and its log is shown if the test failed.
type Process struct {
	// Name identifies the process in messages ("recordsvc", "frontend").
	Name string
	// Addr is the serving address: gRPC for a record service, DNS (UDP and
	// TCP) for a frontend.
	Addr string
	// MetricsAddr is the HTTP address of /metrics and the health endpoints.
	MetricsAddr string
	// LogPath is the file holding the process's stdout and stderr.
	LogPath string

	bin   string
	args  []string
	ready func(ctx context.Context) error

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current run has exited; waitErr is then set.
	exited  chan struct{}
	waitErr error
}

// StartRecordService starts the record service with `--listen 127.0.0.1:PORT`
// and `--metrics-listen 127.0.0.1:PORT2` on free ports and `--lameduck 0s` (unless args set them)
// followed by args, and waits until its gRPC port accepts connections.
func StartRecordService(t testing.TB, bins Binaries, args ...string) *Process {
	t.Helper()
	p := &Process{Name: "recordsvc", bin: bins.RecordService}
	p.ready = func(ctx context.Context) error { return dialTCP(ctx, p.Addr) }
	if flagValue(args, "--lameduck") == "" {
		// Tests stop record services often; those that test the lameduck
		// period ask for one.
		args = append([]string{"--lameduck", "0s"}, args...)
	}
	p.launch(t, args, func(t testing.TB) string { return freeAddr(t) })
	return p
}

// StartFrontend starts a frontend with `--listen 127.0.0.1:PORT` (a port free
// for both UDP and TCP), `--recordsvc recordsvcAddr`,
// `--metrics-listen 127.0.0.1:PORT2` and, unless args name upstreams,
// `--upstream` of a RefusingUpstream, followed by args, and waits until it
// answers a DNS message over UDP (any rcode) and accepts TCP connections.
func StartFrontend(t testing.TB, bins Binaries, recordsvcAddr string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: "frontend", bin: bins.Frontend}
	p.ready = func(ctx context.Context) error {
		if err := answersDNS(ctx, p.Addr); err != nil {
			return err
		}
		return dialTCP(ctx, p.Addr)
	}
	args = append([]string{"--recordsvc", recordsvcAddr}, args...)
	if flagValue(args, "--upstream") == "" {
		// Never let a test frontend fall back to the machine's resolv.conf:
		// test traffic stays on loopback.
		args = append([]string{"--upstream", RefusingUpstream(t)}, args...)
	}
	p.launch(t, args, freeDNSAddr)
	return p
}

// choosePorts sets Addr and MetricsAddr from args, choosing free ports for
// those args leave out (listen chooses the serving one), and sets p.args to
// the flags of the chosen ones followed by args. It reports whether it chose
// any.
func (p *Process) choosePorts(t testing.TB, args []string, listen func(testing.TB) string) (chose bool) {
	p.args = nil
	p.Addr = flagValue(args, "--listen")
	if p.Addr == "" {
		p.Addr, chose = listen(t), true
		p.args = append(p.args, "--listen", p.Addr)
	}
	p.MetricsAddr = flagValue(args, "--metrics-listen")
	if p.MetricsAddr == "" {
		p.MetricsAddr, chose = freeAddr(t, p.Addr), true
		p.args = append(p.args, "--metrics-listen", p.MetricsAddr)
	}
	p.args = append(p.args, args...)
	return chose
}

// launchAttempts bounds how often a first start chooses its ports again.
const launchAttempts = 3

// errPortTaken marks a start that failed because a listener's port was
// taken.
var errPortTaken = errors.New("a port was taken")

// launch starts the process for the first time with args and ports chosen
// by choosePorts, and waits until it is ready. A port chosen free may be
// taken by another test binary before the process binds it; such a start is
// tried again on newly chosen ports.
func (p *Process) launch(t testing.TB, args []string, listen func(testing.TB) string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		chose := p.choosePorts(t, args, listen)
		err := p.startOnce(t)
		if err == nil {
			return
		}
		if chose && attempt < launchAttempts && errors.Is(err, errPortTaken) {
			t.Logf("stack: %v; choosing its ports again", err)
			continue
		}
		t.Fatalf("stack: %v\n%s log:\n%s", err, p.Name, p.LogTail(logTailLines))
	}
}

// startOnce runs the process (first run: registers the cleanup) and waits
// until it is ready.
func (p *Process) startOnce(t testing.TB) error {
	t.Helper()
	if p.LogPath == "" {
		p.LogPath = filepath.Join(t.TempDir(), p.Name+".log")
		t.Cleanup(func() {
			if err := p.Stop(); err != nil {
				t.Logf("stack: %v", err)
			}
			if t.Failed() {
				t.Logf("stack: %s log (%s):\n%s", p.Name, p.Addr, p.LogTail(logTailLines))
			}
		})
	}
	var logStart int64
	if fi, err := os.Stat(p.LogPath); err == nil {
		logStart = fi.Size()
	}
	if err := p.run(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	err := p.waitReady(ctx)
	if err == nil {
		return nil
	}
	if !p.Running() && p.loggedSince(logStart, "address already in use") {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return fmt.Errorf("%s on %s did not become ready: %w", p.Name, p.Addr, err)
}

// loggedSince reports whether the log holds text after its first off bytes.
func (p *Process) loggedSince(off int64, text string) bool {
	data, err := os.ReadFile(p.LogPath)
	return err == nil && int64(len(data)) >= off && strings.Contains(string(data[off:]), text)
}

// run starts the binary, appending its output to the log.
func (p *Process) run() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.exited) {
		return fmt.Errorf("%s on %s is already running", p.Name, p.Addr)
	}
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.Name, err)
	}
	fmt.Fprintf(logFile, "+ %s %s\n", p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Pdeathsig kills the child if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// waitReady polls the readiness check until it passes, the process exits or
// ctx ends.
func (p *Process) waitReady(ctx context.Context) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	var last error
	for {
		select {
		case <-exited:
			if err := p.exitErr(); err != nil {
				return fmt.Errorf("exited before serving: %w", err)
			}
			return errors.New("exited with status 0 before serving")
		default:
		}
		probeCtx, cancel := context.WithTimeout(ctx, time.Second)
		last = p.ready(probeCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %w)", ctx.Err(), last)
		case <-exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Running reports whether the process is running.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.exited)
}

// Stop sends SIGTERM and waits for the exit, sending SIGKILL after a grace
// period. It returns an error unless the process exited cleanly (status 0) on
// SIGTERM; stopping a process that is not running returns nil.
func (p *Process) Stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if err := p.exitErr(); err != nil {
			return fmt.Errorf("%s on %s: exit after SIGTERM: %w", p.Name, p.Addr, err)
		}
		return nil
	case <-time.After(stopGrace):
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("%s on %s: still running %v after SIGTERM, killed", p.Name, p.Addr, stopGrace)
}

// PID is the process id of the current run, 0 when it is not running.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.exited) {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the running process: SIGSTOP and SIGCONT freeze and
// thaw it, as a stuck or overloaded process would be.
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.exited) {
		return fmt.Errorf("%s on %s is not running", p.Name, p.Addr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Kill ends the process at once with SIGKILL and waits for it.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a stopped or killed process again with the same arguments
// and ports, and waits until it is ready.
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	if err := p.startOnce(t); err != nil {
		t.Fatalf("stack: %v\n%s log:\n%s", err, p.Name, p.LogTail(logTailLines))
	}
}

// LogTail returns the last n lines of the process log.
func (p *Process) LogTail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// exitErr is the exit error of the last run (nil for status 0).
func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// flagValue returns the value given to flag in args ("--flag v" or
// "--flag=v", one or two dashes), or "" when absent.
func flagValue(args []string, flag string) string {
	name := strings.TrimLeft(flag, "-")
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if k != name {
			continue
		}
		if hasValue {
			return v
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// freeAddr returns a loopback TCP address that was free a moment ago and is
// none of taken. The kernel may hand a port it just gave out again once its
// listener is closed (CI once started a record service with the same port
// for --listen and --metrics-listen), so the addresses chosen for one
// process are kept apart here.
func freeAddr(t testing.TB, taken ...string) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("stack: free port: %v", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !slices.Contains(taken, addr) {
			return addr
		}
	}
	t.Fatalf("stack: no loopback port free apart from %v", taken)
	return ""
}

// freeDNSAddr returns a loopback port free for both UDP and TCP.
func freeDNSAddr(t testing.TB) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("stack: free port: %v", err)
		}
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatalf("stack: no loopback port free for both UDP and TCP")
	return ""
}

// dialTCP checks that addr accepts a TCP connection.
func dialTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// answersDNS checks that a DNS server on addr answers over UDP. The probe is
// a message without a question, which a server must answer (FORMERR) without
// consulting its cache, the record service or an upstream.
func answersDNS(ctx context.Context, addr string) error {
	m := new(dns.Msg)
	m.Id = dns.Id()
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	if deadline, ok := ctx.Deadline(); ok {
		c.Timeout = min(c.Timeout, time.Until(deadline))
	}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err != nil {
		return err
	}
	if r.Id != m.Id {
		return errors.New("reply with another ID")
	}
	return nil
}
