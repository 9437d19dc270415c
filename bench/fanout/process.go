package fanout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/clusterdns/clusterdns/bench"
	"github.com/clusterdns/clusterdns/test/stack"
)

// readyTimeout bounds a record service's start, its initial list of the
// API server included.
const readyTimeout = 5 * time.Minute

// RecordService runs the recordsvc binary on fixed loopback addresses, so
// that it can be restarted where its subscribers look for it.
type RecordService struct {
	Bin, Dir string
	// Addr is the gRPC address, Metrics the HTTP one (with --pprof).
	Addr, Metrics string
	Args          []string
	CPU           int

	proc *bench.Process
	runs int
}

// NewRecordService prepares a record service on free ports with args
// (after --listen, --metrics-listen and --pprof).
func NewRecordService(bin, dir string, cpu int, args ...string) (*RecordService, error) {
	addr, err := bench.FreeTCPAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := bench.FreeTCPAddr(addr)
	if err != nil {
		return nil, err
	}
	return &RecordService{Bin: bin, Dir: dir, Addr: addr, Metrics: metrics, CPU: cpu, Args: args}, nil
}

// Start starts the process and returns once it is started; Ready waits for
// gRPC health SERVING.
func (r *RecordService) Start() error {
	r.runs++
	args := append([]string{"--listen", r.Addr, "--metrics-listen", r.Metrics, "--pprof"}, r.Args...)
	p, err := bench.StartProcess(fmt.Sprint("recordsvc-", r.runs), filepath.Join(r.Dir, fmt.Sprintf("recordsvc-%d.log", r.runs)), r.CPU, r.Bin, args...)
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// Ready waits until the record service reports SERVING and returns the
// time from its start.
func (r *RecordService) Ready(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return r.proc.WaitReady(ctx, bench.GRPCServing(r.Addr))
}

// Stop sends SIGTERM (SIGKILL after a grace period) and waits for the exit.
func (r *RecordService) Stop() {
	if r.proc != nil {
		r.proc.Stop()
	}
}

// PID is the running process's id.
func (r *RecordService) PID() int { return r.proc.PID() }

// Memory is VmHWM and VmRSS.
func (r *RecordService) Memory() (bench.Memory, error) { return r.proc.Memory() }

// CPUTime is the process's user plus system time so far.
func (r *RecordService) CPUTime() (time.Duration, error) { return processCPU(r.PID()) }

// LogTail is the end of the current run's log.
func (r *RecordService) LogTail(n int) string { return r.proc.LogTail(n) }

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 10 * time.Millisecond

// processCPU reads utime+stime of pid from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name may hold spaces: fields count from after its ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("cpu time: /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// utime and stime are fields 14 and 15 of stat(5); state (3) is the
	// first after the name.
	if len(fields) < 13 {
		return 0, fmt.Errorf("cpu time: /proc/%d/stat: %d fields", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// selfMemory is the harness's own VmHWM and VmRSS.
func selfMemory() (bench.Memory, error) {
	return readStatusMemory("/proc/self/status")
}

// readStatusMemory parses VmHWM and VmRSS of a /proc status file.
func readStatusMemory(path string) (bench.Memory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return bench.Memory{}, fmt.Errorf("memory: %w", err)
	}
	var m bench.Memory
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return bench.Memory{}, fmt.Errorf("memory: %s %s: %w", path, key, err)
		}
		if key == "VmHWM" {
			m.PeakRSS = kb << 10
		} else {
			m.RSS = kb << 10
		}
	}
	return m, nil
}

// longRunning is the kube-apiserver gauge of requests in flight that do
// not end on their own; an open watch is one request of verb WATCH in it
// while it lasts.
const longRunning = "apiserver_longrunning_requests"

// Watches is a reading of the API server's open watches by resource.
type Watches map[string]float64

// Total sums the watches of every resource.
func (w Watches) Total() float64 {
	var t float64
	for _, n := range w {
		t += n
	}
	return t
}

// Minus is w - o by resource, leaving out resources that did not move.
func (w Watches) Minus(o Watches) Watches {
	d := Watches{}
	for r, n := range w {
		if n != o[r] {
			d[r] = n - o[r]
		}
	}
	for r, n := range o {
		if _, ok := w[r]; !ok && n != 0 {
			d[r] = -n
		}
	}
	return d
}

// String lists resource=count, sorted.
func (w Watches) String() string {
	var parts []string
	for r, n := range w {
		parts = append(parts, fmt.Sprintf("%s=%g", r, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// ReadWatches scrapes the kube-apiserver's /metrics for its open WATCH
// requests by resource.
func ReadWatches(ctx context.Context, client kubernetes.Interface) (Watches, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	m, err := stack.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	w := Watches{}
	found := false
	for sample, v := range m {
		name, labels, _ := strings.Cut(sample, "{")
		if name != longRunning {
			continue
		}
		found = true
		if !strings.Contains(labels, `verb="WATCH"`) {
			continue
		}
		w[labelValue(labels, "resource")] += v
	}
	if !found {
		return nil, fmt.Errorf("kube-apiserver /metrics has no %s", longRunning)
	}
	return w, nil
}

// labelValue returns the value of label name in a Prometheus label list
// (`a="x",b="y"}`); label values here hold no commas or quotes.
func labelValue(labels, name string) string {
	for part := range strings.SplitSeq(strings.TrimSuffix(labels, "}"), ",") {
		if v, ok := strings.CutPrefix(part, name+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Profile fetches the record service's pprof profile name (query such as
// "debug=1" or "") from its metrics listener.
func (r *RecordService) Profile(ctx context.Context, name, query string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Metrics+"/debug/pprof/"+name+"?"+query, nil)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("profile %s: status %d: %w", name, resp.StatusCode, err)
	}
	return body, nil
}

// Goroutines is the record service's number of goroutines.
func (r *RecordService) Goroutines(ctx context.Context) (int, error) {
	body, err := r.Profile(ctx, "goroutine", "debug=1")
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(string(body), "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	return n, nil
}

// pinHarness pins this process, every thread of it, to all CPUs but cpu
// (the record service's), and returns their list. Threads and processes
// started later inherit it. Otherwise the harness's 5,000 clients, which
// need about as much CPU per change as the record service, run on the
// record service's CPU too, and its fan-out waits for them.
func pinHarness(cpu int) (string, error) {
	var others []string
	for c := range runtime.NumCPU() {
		if c != cpu {
			others = append(others, strconv.Itoa(c))
		}
	}
	if len(others) == 0 {
		return "", fmt.Errorf("pin the harness: no CPU besides %d", cpu)
	}
	list := strings.Join(others, ",")
	out, err := exec.Command("taskset", "-a", "-p", "-c", list, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pin the harness to CPU %s: %w: %s", list, err, out)
	}
	return list, nil
}

// RuntimeMemory is where the record service's Go runtime keeps its
// memory: what RSS is made of beyond the binary.
type RuntimeMemory struct {
	// HeapInuse is the heap's spans in use (live objects and garbage not
	// yet swept); HeapGoal the heap size at which the next collection
	// starts; Stacks the goroutine stacks.
	HeapInuse, HeapGoal, Stacks int64
}

// RuntimeMemory reads the record service's Go memory statistics from its
// /metrics.
func (r *RecordService) RuntimeMemory(ctx context.Context) (RuntimeMemory, error) {
	m, err := stack.Scrape(ctx, r.Metrics)
	if err != nil {
		return RuntimeMemory{}, fmt.Errorf("runtime memory: %w", err)
	}
	return RuntimeMemory{HeapInuse: int64(m.Sum("go_memstats_heap_inuse_bytes")),
		HeapGoal: int64(m.Sum("go_memstats_next_gc_bytes")), Stacks: int64(m.Sum("go_memstats_stack_inuse_bytes"))}, nil
}
