// Package loadgen is a DNS load generator for the side-by-side benchmark:
// it asks a server the questions of a query file over UDP, as fast as the
// server answers with a bounded number of queries in flight, or at a fixed
// rate, and reports what dnsperf reports (sent, completed, lost, QPS,
// average and p99 latency, response codes) plus the CPU it used itself.
//
// It exists because dnsperf on one core saturates before the fastest
// servers do: here several connected UDP sockets move their queries and
// replies in batches (sendmmsg, recvmmsg), every query is packed before the
// run, and no allocation happens per query.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config configures one run. The run is bounded in time (Duration) and,
// with Once or MaxQueries, in count.
type Config struct {
	// Server is the DNS server, HOST:PORT.
	Server string
	// Queries are asked in order, from the start again at the end unless
	// Once.
	Queries []Query
	// Duration bounds the time queries are sent (dnsperf -l); replies to
	// queries in flight are awaited up to Timeout after it.
	Duration time.Duration
	// Once sends every query at most once (dnsperf -n 1).
	Once bool
	// MaxQueries, when above 0, bounds the number of queries sent.
	MaxQueries int64
	// Sockets is the number of connected UDP sockets (dnsperf -c), each
	// from its own port; default 4.
	Sockets int
	// Outstanding bounds the queries in flight over all sockets (dnsperf
	// -q); default 100.
	Outstanding int
	// MaxQPS limits the rate of queries sent (dnsperf -Q); 0 is unlimited.
	MaxQPS int
	// Timeout is how long a query waits for its reply before it counts as
	// lost (dnsperf -t); default 2 s.
	Timeout time.Duration
	// NoGSO sends every query with its own datagram header instead of
	// runs of queries of one length as one segmented send (UDP_SEGMENT,
	// used where the kernel has it). The server gets the same datagrams
	// either way; segmentation costs the generator less CPU.
	NoGSO bool
}

// Result is what one run measured.
type Result struct {
	// Sent queries; Completed got their reply; Lost got none within the
	// timeout. Mismatched counts datagrams that matched no query in
	// flight (a reply after its query's timeout, a duplicate, a wrong ID
	// or question); they complete nothing.
	Sent, Completed, Lost, Mismatched int64
	// Errors counts failed socket reads and writes (such as ICMP port
	// unreachable reported on a connected socket).
	Errors int64
	// Reads and Writes count the recvmmsg and sendmmsg calls that moved
	// datagrams: replies per read is how well batching worked.
	Reads, Writes int64
	// QPS is Completed per second of RunTime.
	QPS float64
	// Avg is the exact mean latency of completed queries; P50 and P99 are
	// read from a histogram with buckets 1/64 wide.
	Avg, P50, P99 time.Duration
	// Rcodes counts the replies by rcode name.
	Rcodes map[string]int64
	// RunTime is from the first query to the last query sent or the last
	// reply received, whichever is later; lost queries at the end do not
	// lengthen it.
	RunTime time.Duration
	// CPU is the user and system time this process used during the run
	// (getrusage), and CPUShare that time over the run's wall time: near
	// 1 per core the generator could use, it was the bottleneck.
	CPU      time.Duration
	CPUShare float64
	// Wall is the run's wall time including the wait for the last replies.
	Wall time.Duration
}

// Limits of a run.
const (
	maxDuration = time.Hour
	// maxWindow bounds the queries in flight on one socket, leaving ID
	// bits to a generation count that tells a late reply from the reply
	// to the slot's next query.
	maxWindow = 4096
)

func (c *Config) setDefaults() error {
	if c.Server == "" {
		return errors.New("loadgen: no server")
	}
	if len(c.Queries) == 0 {
		return errors.New("loadgen: no queries")
	}
	if c.Duration <= 0 || c.Duration > maxDuration {
		return fmt.Errorf("loadgen: duration %s: want above 0 and at most %s", c.Duration, maxDuration)
	}
	if c.Sockets <= 0 {
		c.Sockets = 4
	}
	if c.Outstanding <= 0 {
		c.Outstanding = 100
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.MaxQPS < 0 || c.MaxQueries < 0 {
		return errors.New("loadgen: negative rate or count")
	}
	// No socket without a query in flight, nor without a share of the
	// rate.
	c.Sockets = min(c.Sockets, c.Outstanding)
	if c.MaxQPS > 0 {
		c.Sockets = min(c.Sockets, c.MaxQPS)
	}
	if c.Outstanding > c.Sockets*maxWindow {
		return fmt.Errorf("loadgen: %d queries in flight over %d sockets: at most %d per socket", c.Outstanding, c.Sockets, maxWindow)
	}
	return nil
}

// source hands out query indexes to the sockets.
type source struct {
	next  atomic.Int64
	n     int64
	limit int64 // queries to send in all, 0 for no limit
}

// claim returns the first index and the count of up to k queries to send
// next (indexes wrap around the file); count 0 when none is left.
func (s *source) claim(k int) (first int64, count int) {
	start := s.next.Add(int64(k)) - int64(k)
	if s.limit > 0 {
		if start >= s.limit {
			return 0, 0
		}
		k = int(min(int64(k), s.limit-start))
	}
	return start % s.n, k
}

// Run sends the queries of cfg to its server and returns what it measured.
// ctx cancels it early.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return Result{}, err
	}
	p, err := pack(cfg.Queries)
	if err != nil {
		return Result{}, err
	}
	server, err := net.ResolveUDPAddr("udp", cfg.Server)
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: server %q: %w", cfg.Server, err)
	}
	src := &source{n: int64(p.len()), limit: cfg.MaxQueries}
	if cfg.Once && (src.limit == 0 || src.limit > src.n) {
		src.limit = src.n
	}
	workers := make([]*worker, cfg.Sockets)
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.close()
			}
		}
	}()
	for i := range workers {
		window := cfg.Outstanding / cfg.Sockets
		if i < cfg.Outstanding%cfg.Sockets {
			window++
		}
		rate := 0.0
		if cfg.MaxQPS > 0 {
			rate = float64(cfg.MaxQPS) / float64(cfg.Sockets)
		}
		w, err := newWorker(server, p, src, window, rate, cfg.Timeout, !cfg.NoGSO)
		if err != nil {
			return Result{}, err
		}
		workers[i] = w
	}

	cpuBefore, err := processCPU()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Go(func() { errs[i] = w.run(ctx, start, end) })
	}
	wg.Wait()
	wall := time.Since(start)
	cpuAfter, err := processCPU()
	if err != nil {
		return Result{}, err
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	res := Result{Rcodes: map[string]int64{}, Wall: wall, CPU: cpuAfter - cpuBefore}
	var h histogram
	var rcodes [16]int64
	for _, w := range workers {
		st := &w.stats
		res.Sent += st.sent
		res.Completed += st.completed
		res.Lost += st.lost
		res.Mismatched += st.mismatched
		res.Errors += st.errors
		res.Reads += st.reads
		res.Writes += st.writes
		res.RunTime = max(res.RunTime, st.lastSend, st.lastReply)
		h.merge(&st.hist)
		for rc, n := range st.rcodes {
			rcodes[rc] += n
		}
	}
	for rc, n := range rcodes {
		if n > 0 {
			name, ok := dns.RcodeToString[rc]
			if !ok {
				name = fmt.Sprintf("RCODE%d", rc)
			}
			res.Rcodes[name] = n
		}
	}
	if res.RunTime > 0 {
		res.QPS = float64(res.Completed) / res.RunTime.Seconds()
	}
	res.Avg, res.P50, res.P99 = h.mean(), h.quantile(0.50), h.quantile(0.99)
	if wall > 0 {
		res.CPUShare = res.CPU.Seconds() / wall.Seconds()
	}
	return res, nil
}
