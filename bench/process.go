package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const (
	// stopGrace is how long a process gets after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// probeInterval is the pause between readiness probes; it bounds the
	// resolution of measured sync times.
	probeInterval = 20 * time.Millisecond
	// logTailLines is how much of a process log error messages carry.
	logTailLines = 30
)

// Unpinned is the CPU argument of StartProcess that leaves a process free to
// run on any CPU.
const Unpinned = -1

// Process is a server the suite started, optionally pinned to one CPU with
// taskset (which execs the server, so PID is the server's own).
type Process struct {
	*childproc.Process
}

// StartProcess starts bin with args, pinned to cpu (Unpinned: not pinned),
// its output appended to logPath. The process is killed if the suite dies.
func StartProcess(name, logPath string, cpu int, bin string, args ...string) (*Process, error) {
	argv := append([]string{bin}, args...)
	if cpu != Unpinned {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	p, err := childproc.Start(name, logPath, argv...)
	if err != nil {
		return nil, err
	}
	return &Process{p}, nil
}

// Stop sends SIGTERM, then SIGKILL after stopGrace, and waits for the exit.
// Stopping an exited process is a no-op.
func (p *Process) Stop() { p.Process.Stop(stopGrace) }

// WaitReady polls probe until it succeeds and returns the time from the start
// of the process to the first successful probe. It fails when the process
// exits or ctx ends first.
func (p *Process) WaitReady(ctx context.Context, probe func(ctx context.Context) error) (time.Duration, error) {
	last := errors.New("not probed yet")
	for {
		select {
		case <-p.Exited():
			return 0, fmt.Errorf("%w before it was ready:\n%s", p.ExitError(), p.LogTail(logTailLines))
		default:
		}
		probeCtx, cancel := context.WithTimeout(ctx, time.Second)
		last = probe(probeCtx)
		cancel()
		if last == nil {
			return time.Since(p.Started), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s not ready: %w (last probe: %w):\n%s", p.Name, ctx.Err(), last, p.LogTail(logTailLines))
		case <-p.Exited():
		case <-time.After(probeInterval):
		}
	}
}

// Memory is a process's resident memory.
type Memory struct {
	// PeakRSS is VmHWM, the high-water mark of the resident set, in bytes.
	PeakRSS int64
	// RSS is VmRSS, the resident set now, in bytes.
	RSS int64
}

// Memory reads the process's resident memory from /proc/PID/status.
func (p *Process) Memory() (Memory, error) {
	return readMemory(fmt.Sprintf("/proc/%d/status", p.PID()))
}

// readMemory parses VmHWM and VmRSS (in kB) from a /proc status file.
func readMemory(path string) (Memory, error) {
	f, err := os.Open(path)
	if err != nil {
		return Memory{}, fmt.Errorf("memory: %w", err)
	}
	defer f.Close()
	var m Memory
	found := 0
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return Memory{}, fmt.Errorf("memory: %s: unexpected %s line %q", path, key, value)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("memory: %s: %w", path, err)
		}
		if key == "VmHWM" {
			m.PeakRSS = kb << 10
		} else {
			m.RSS = kb << 10
		}
		found++
	}
	if err := scanner.Err(); err != nil {
		return Memory{}, fmt.Errorf("memory: %s: %w", path, err)
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("memory: %s has no VmHWM and VmRSS", path)
	}
	return m, nil
}

// HTTPOK is a readiness probe that wants 200 from GET url.
func HTTPOK(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	}
}

// GRPCServing is a readiness probe that wants the gRPC health service at addr
// to report SERVING for the whole server.
func GRPCServing(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health of %s: %s", addr, resp.GetStatus())
		}
		return nil
	}
}

// DNSRcode is a readiness probe that wants the DNS server at addr to answer
// name/qtype over UDP with rcode.
func DNSRcode(addr, name string, qtype uint16, rcode int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		r, err := exchange(ctx, addr, name, qtype)
		if err != nil {
			return err
		}
		if r.Rcode != rcode {
			return fmt.Errorf("%s %s at %s: rcode %s, want %s", name, dns.TypeToString[qtype], addr,
				dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
		}
		return nil
	}
}

// exchange asks addr for name/qtype once over UDP (TCP when truncated).
func exchange(ctx context.Context, addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s at %s: %w", name, dns.TypeToString[qtype], addr, err)
	}
	if r.Id != m.Id {
		return nil, fmt.Errorf("%s %s at %s: reply ID %d, query ID %d", name, dns.TypeToString[qtype], addr, r.Id, m.Id)
	}
	return r, nil
}
