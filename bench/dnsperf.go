package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/bench/loadgen"
)

// The load generators.
const (
	genDNSPerf = "dnsperf"
	// genLoadgen is bench/loadgen: sendmmsg/recvmmsg batches over connected
	// sockets, so that one core outruns the server (dnsperf on one core
	// does not outrun NSD or the frontend on cache hits).
	genLoadgen = "loadgen"
)

// PerfRun configures one run of a load generator (dnsperf or loadgen).
type PerfRun struct {
	// Server is the DNS server, HOST:PORT.
	Server string
	// QueryFile is in dnsperf's format (see WriteQueryFile).
	QueryFile string
	// Duration is dnsperf's time limit (-l).
	Duration time.Duration
	// Once stops at the end of the query file (-n 1).
	Once bool
	// Clients is the number of UDP sockets (-c); Outstanding the number of
	// queries in flight (-q); Threads dnsperf's threads (-T).
	Clients, Outstanding, Threads int
	// MaxQPS limits the query rate (-Q); 0 is unlimited.
	MaxQPS int
	// CPU pins dnsperf (Unpinned: not pinned).
	CPU int
	// OutputPath receives dnsperf's verbose output (one line per query),
	// parsed for the latency percentiles; it is removed afterwards.
	OutputPath string
}

// PerfResult is what one run of a load generator measured.
type PerfResult struct {
	Sent, Completed, Lost int64
	// QPS is completed queries per second of run time.
	QPS float64
	// Avg is dnsperf's average latency; P50 and P99 come from the per-query
	// latencies of its verbose output.
	Avg, P50, P99 time.Duration
	// Rcodes counts the responses by rcode name.
	Rcodes map[string]int64
	// RunTime is how long dnsperf sent queries.
	RunTime time.Duration
	// ClientCPU is the CPU time the load generator's process used (user
	// and system).
	ClientCPU time.Duration
	// ClientShare is loadgen's own measure of its CPU over the run's wall
	// time, start-up excluded (0 for dnsperf).
	ClientShare float64
	// PerRead is loadgen's replies per recvmmsg call (0 for dnsperf).
	PerRead float64
}

// RunDNSPerf runs dnsperf and parses its result.
func RunDNSPerf(ctx context.Context, run PerfRun) (PerfResult, error) {
	host, port, err := net.SplitHostPort(run.Server)
	if err != nil {
		return PerfResult{}, fmt.Errorf("dnsperf: server %q: %w", run.Server, err)
	}
	args := []string{
		"-s", host, "-p", port, "-d", run.QueryFile,
		"-l", strconv.FormatFloat(run.Duration.Seconds(), 'f', 1, 64),
		"-c", strconv.Itoa(run.Clients), "-q", strconv.Itoa(run.Outstanding), "-T", strconv.Itoa(run.Threads),
		"-t", "2", "-v",
	}
	if run.Once {
		args = append(args, "-n", "1")
	}
	if run.MaxQPS > 0 {
		args = append(args, "-Q", strconv.Itoa(run.MaxQPS))
	}
	argv := append([]string{"dnsperf"}, args...)
	if run.CPU != Unpinned {
		argv = append([]string{"taskset", "-c", strconv.Itoa(run.CPU)}, argv...)
	}
	out, err := os.Create(run.OutputPath)
	if err != nil {
		return PerfResult{}, fmt.Errorf("dnsperf output: %w", err)
	}
	defer os.Remove(run.OutputPath)
	defer out.Close()
	ctx, cancel := context.WithTimeout(ctx, run.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return PerfResult{}, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return PerfResult{}, fmt.Errorf("dnsperf output: %w", err)
	}
	res, err := ParseDNSPerf(out)
	if err != nil {
		return PerfResult{}, fmt.Errorf("%s: %w (stderr: %s)", strings.Join(argv, " "), err, stderr.String())
	}
	res.ClientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return res, nil
}

// ParseDNSPerf reads dnsperf's verbose output: per-query lines
// "> RCODE NAME TYPE LATENCY" ("> T NAME TYPE" for a timeout) and the final
// statistics.
func ParseDNSPerf(r io.Reader) (PerfResult, error) {
	res := PerfResult{Rcodes: map[string]int64{}}
	var latencies []float64
	found := map[string]bool{}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			fields := strings.Fields(rest)
			if len(fields) == 4 && fields[0] != "T" {
				if v, err := strconv.ParseFloat(fields[3], 64); err == nil {
					latencies = append(latencies, v)
				}
			}
			continue
		}
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		var err error
		switch key {
		case "Queries sent":
			res.Sent, err = leadingInt(value)
		case "Queries completed":
			res.Completed, err = leadingInt(value)
		case "Queries lost":
			res.Lost, err = leadingInt(value)
		case "Queries per second":
			res.QPS, err = strconv.ParseFloat(value, 64)
		case "Run time (s)":
			var s float64
			s, err = strconv.ParseFloat(value, 64)
			res.RunTime = seconds(s)
		case "Average Latency (s)":
			var s float64
			s, err = strconv.ParseFloat(strings.Fields(value)[0], 64)
			res.Avg = seconds(s)
		case "Response codes":
			err = parseRcodes(value, res.Rcodes)
		default:
			continue
		}
		if err != nil {
			return PerfResult{}, fmt.Errorf("dnsperf output %q: %w", line, err)
		}
		found[key] = true
	}
	if err := scanner.Err(); err != nil {
		return PerfResult{}, fmt.Errorf("dnsperf output: %w", err)
	}
	for _, key := range []string{"Queries sent", "Queries completed", "Queries lost", "Queries per second"} {
		if !found[key] {
			return PerfResult{}, fmt.Errorf("dnsperf output has no %q", key)
		}
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.P50 = seconds(percentile(latencies, 0.50))
		res.P99 = seconds(percentile(latencies, 0.99))
	}
	return res, nil
}

// parseRcodes parses "NOERROR 503 (50.15%), NXDOMAIN 500 (49.85%)".
func parseRcodes(s string, into map[string]int64) error {
	for part := range strings.SplitSeq(s, ",") {
		fields := strings.Fields(part)
		if len(fields) < 2 {
			return fmt.Errorf("response code %q", part)
		}
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return fmt.Errorf("response code %q: %w", part, err)
		}
		into[fields[0]] = n
	}
	return nil
}

// leadingInt parses the integer that starts s ("1003 (83.37%)").
func leadingInt(s string) (int64, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return 0, fmt.Errorf("no number in %q", s)
	}
	return strconv.ParseInt(fields[0], 10, 64)
}

// percentile returns the nearest-rank p-quantile of sorted values.
func percentile[T int64 | float64 | time.Duration](sorted []T, p float64) T {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// seconds converts floating seconds to a Duration.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

// BuildLoadgen builds bench/loadgen's dnsload command into dir and returns
// its path.
func BuildLoadgen(ctx context.Context, root, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "dnsload")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./bench/loadgen/cmd/dnsload")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build dnsload: %w\n%s", err, out)
	}
	return bin, nil
}

// RunLoadgen runs bench/loadgen (the dnsload binary) with the parameters of
// run that dnsperf has too: the same file, duration, sockets (-c), queries
// in flight (-q), rate (-Q), timeout and CPU. Threads is dnsperf's alone;
// OutputPath is not used (the latencies come from loadgen's histogram).
func RunLoadgen(ctx context.Context, binary string, run PerfRun) (PerfResult, error) {
	args := []string{
		"-s", run.Server, "-d", run.QueryFile, "-l", run.Duration.String(),
		"-c", strconv.Itoa(run.Clients), "-q", strconv.Itoa(run.Outstanding), "-t", "2s", "-json",
	}
	if run.Once {
		args = append(args, "-n")
	}
	if run.MaxQPS > 0 {
		args = append(args, "-Q", strconv.Itoa(run.MaxQPS))
	}
	argv := append([]string{binary}, args...)
	if run.CPU != Unpinned {
		argv = append([]string{"taskset", "-c", strconv.Itoa(run.CPU)}, argv...)
	}
	ctx, cancel := context.WithTimeout(ctx, run.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return PerfResult{}, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	var lr loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &lr); err != nil {
		return PerfResult{}, fmt.Errorf("%s: output %q: %w", strings.Join(argv, " "), stdout.String(), err)
	}
	return PerfResult{
		Sent: lr.Sent, Completed: lr.Completed, Lost: lr.Lost,
		QPS: lr.QPS, Avg: lr.Avg, P50: lr.P50, P99: lr.P99,
		Rcodes: lr.Rcodes, RunTime: lr.RunTime,
		ClientCPU:   cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		ClientShare: lr.CPUShare,
		PerRead:     float64(lr.Completed) / max(float64(lr.Reads), 1),
	}, nil
}
