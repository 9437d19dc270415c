package frontend

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// exampleCluster is the file `make run` serves, relative to this package.
const exampleCluster = "../../../deploy/examples/cluster.yaml"

// cachedName is a name of the example cluster that the tests cache before
// an attack and keep asking during it.
const cachedName = "kubernetes.default.svc.cluster.local."

// startStack starts a record service on a copy of the example cluster and a
// frontend in front of it with the given extra flags.
func startStack(t *testing.T, frontendArgs ...string) (rs, fe *stack.Process) {
	t.Helper()
	bins := stack.Installed(t)
	data, err := os.ReadFile(exampleCluster)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rs = stack.StartRecordService(t, bins, "--source", "file:"+src)
	fe = stack.StartFrontend(t, bins, rs.Addr, frontendArgs...)
	stack.Eventually(t, 30*time.Second, fe.Addr, cachedName, dns.TypeA, false, func(m *dns.Msg) string {
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
			return "not answered yet: " + dns.RcodeToString[m.Rcode]
		}
		return ""
	})
	return rs, fe
}

// freeze stops p with SIGSTOP until the returned function (also run at the
// end of the test) sends SIGCONT.
func freeze(t *testing.T, p *stack.Process) (thaw func()) {
	t.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) returns before every thread has stopped: a thread running on
	// the other core may still answer a question or two, which would then
	// be a true answer, not one of a stopped record service.
	deadline := time.Now().Add(10 * time.Second)
	for !stopped(p.PID()) {
		if time.Now().After(deadline) {
			t.Fatalf("record service (pid %d) not stopped 10s after SIGSTOP", p.PID())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			if err := p.Signal(syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// stopped reports whether every thread of pid is in the stopped state.
func stopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses
		// and may itself hold spaces or parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// rssBytes is the resident set size of process pid (VmRSS).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", sc.Text(), err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// peaks samples a frontend's goroutines (go_goroutines on its metrics
// address) and RSS until stop is called, and keeps the largest values.
type peaks struct {
	goroutines atomic.Int64
	rss        atomic.Int64
	samples    atomic.Int64
	stop       func()
	done       chan struct{}
}

func samplePeaks(fe *stack.Process) *peaks {
	ctx, cancel := context.WithCancel(context.Background())
	p := &peaks{stop: cancel, done: make(chan struct{})}
	pid := fe.PID()
	go func() {
		defer close(p.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := rssBytes(pid); err == nil && rss > p.rss.Load() {
				p.rss.Store(rss)
			}
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			if m, err := stack.Scrape(sctx, fe.MetricsAddr); err == nil {
				if g := int64(m.Sum("go_goroutines")); g > p.goroutines.Load() {
					p.goroutines.Store(g)
				}
				p.samples.Add(1)
			}
			scancel()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// finish stops sampling.
func (p *peaks) finish() {
	p.stop()
	<-p.done
}

// floodResult counts the replies a flood got, by rcode.
type floodResult struct {
	sent    int64
	replies map[int]int64
}

// floodUDP sends a query for each of names over UDP from a few sockets,
// spread evenly over about spread (never longer than limit), without
// waiting for replies, and counts the replies that come within a second of
// the last query.
func floodUDP(t *testing.T, addr string, names []string, spread, limit time.Duration) floodResult {
	t.Helper()
	const senders = 4
	var (
		mu     sync.Mutex
		res    = floodResult{replies: map[int]int64{}}
		sent   atomic.Int64
		wg     sync.WaitGroup
		stopAt = time.Now().Add(limit)
	)
	for s := range senders {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The reader counts replies until its deadline, set once the
		// sender is done.
		var rwg sync.WaitGroup
		rwg.Go(func() {
			buf := make([]byte, 4096)
			var m dns.Msg
			for {
				n, err := conn.Read(buf)
				if err != nil {
					return
				}
				if m.Unpack(buf[:n]) == nil {
					mu.Lock()
					res.replies[m.Rcode]++
					mu.Unlock()
				}
			}
		})
		wg.Go(func() {
			defer rwg.Wait()
			q := new(dns.Msg)
			start := time.Now()
			for i := s; i < len(names) && time.Now().Before(stopAt); i += senders {
				// Keep to the pace: a burst of 100 queries, then wait
				// for the schedule.
				if i%(100*senders) == s {
					due := start.Add(time.Duration(int64(spread) * int64(i) / int64(len(names))))
					time.Sleep(time.Until(due))
				}
				q.SetQuestion(names[i], dns.TypeA)
				q.Id = uint16(i)
				b, err := q.Pack()
				if err != nil {
					t.Error(err)
					break
				}
				if _, err := conn.Write(b); err == nil {
					sent.Add(1)
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		})
	}
	wg.Wait()
	res.sent = sent.Load()
	return res
}

// uniqueNames are n cluster names that exist nowhere, each asked once.
func uniqueNames(n int, tag string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d.default.svc.cluster.local.", tag, i)
	}
	return out
}

// hitProber asks the cached name over UDP every few milliseconds until
// stopped and counts the questions asked and those answered with the
// cached records. As a stub resolver does, it sends a question again when
// no answer came within half a second, three times at most: in a flood the
// kernel drops datagrams before any server sees them.
type hitProber struct {
	asked, answered atomic.Int64
	stop            func()
	done            chan struct{}
}

func probeHits(t *testing.T, addr string) *hitProber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &hitProber{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// A stub resolver's patience (glibc: 5s, two tries): on a loaded
		// machine the reply to a hit can queue behind the flood's replies
		// for longer than half a second without the hit being lost.
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		for ctx.Err() == nil {
			p.asked.Add(1)
			for range 3 {
				r, _, err := c.Exchange(stack.NewQuery(cachedName, dns.TypeA), addr)
				if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
					p.answered.Add(1)
					break
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *hitProber) finish() (asked, answered int64) {
	p.stop()
	<-p.done
	return p.asked.Load(), p.answered.Load()
}
