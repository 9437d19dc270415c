package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// targetRelistRatio is issue #15 item 4: peak RSS during a relist at most
// 1.2x the steady state.
const targetRelistRatio = 1.2

// rssSampler reads a process's VmRSS at a fixed interval and keeps the
// highest reading.
type rssSampler struct {
	rs       *RecordService
	interval time.Duration

	mu      sync.Mutex
	peak    int64
	samples int
}

// run samples until ctx ends.
func (s *rssSampler) run(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		if m, err := s.rs.Memory(); err == nil {
			s.mu.Lock()
			s.peak = max(s.peak, m.RSS)
			s.samples++
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// result is the highest sampled RSS and the number of samples.
func (s *rssSampler) result() (int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.samples
}

// resetPeakRSS resets the kernel's VmHWM of pid (clear_refs 5, Linux 4.0+)
// so that a later VmHWM is the peak since now, samples or not.
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS: %w", err)
	}
	return nil
}

// steadyRSS samples RSS every 250 ms in 5-s windows until two consecutive
// window means differ by less than 3% (at most maxWait) and returns the
// last window's mean: the resident set once the Go runtime has settled after
// the initial sync.
func steadyRSS(ctx context.Context, rs *RecordService, maxWait time.Duration) (int64, error) {
	deadline := time.Now().Add(maxWait)
	var prev int64
	for {
		var sum, n int64
		for range 20 {
			m, err := rs.Memory()
			if err != nil {
				return 0, err
			}
			sum += m.RSS
			n++
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		mean := sum / n
		if prev > 0 {
			d := float64(mean-prev) / float64(prev)
			if (d < 0.03 && d > -0.03) || time.Now().After(deadline) {
				return mean, nil
			}
		}
		prev = mean
	}
}

// waitIdle waits until the record service used less than 5% of a CPU over
// one second (at most maxWait) and returns when that idle second began:
// after a relist, the informer handlers have then processed every listed
// object.
func waitIdle(ctx context.Context, rs *RecordService, maxWait time.Duration) (time.Time, error) {
	deadline := time.Now().Add(maxWait)
	for {
		start := time.Now()
		c0, err := rs.CPUTime()
		if err != nil {
			return start, err
		}
		select {
		case <-ctx.Done():
			return start, ctx.Err()
		case <-time.After(time.Second):
		}
		c1, err := rs.CPUTime()
		if err != nil {
			return start, err
		}
		if c1-c0 < 50*time.Millisecond {
			return start, nil
		}
		if time.Now().After(deadline) {
			return start, fmt.Errorf("record service still busy (%s CPU in the last second) after %s", c1-c0, maxWait)
		}
	}
}

// relistLookups are the gRPC Lookups asked during a relist.
type relistLookups struct {
	Asked, Success, FalseNXDOMAIN, NotReady, Failed atomic.Int64
}

// run asks the record service at addr for names (all existing), one every
// 20 ms, at most limit times, until ctx ends.
func (l *relistLookups) run(ctx context.Context, addr string, names []string, limit int) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("lookups: %w", err)
	}
	defer conn.Close()
	client := clusterdnsv1.NewRecordServiceClient(conn)
	for i := 0; i < limit && ctx.Err() == nil; i++ {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		resp, err := client.Lookup(lctx, &clusterdnsv1.LookupRequest{Name: names[i%len(names)], Qtype: 1})
		cancel()
		if ctx.Err() != nil {
			break
		}
		l.Asked.Add(1)
		switch {
		case err != nil:
			l.Failed.Add(1)
		case resp.GetResult() == clusterdnsv1.Result_RESULT_SUCCESS && len(resp.GetAnswer()) > 0:
			l.Success.Add(1)
		case resp.GetResult() == clusterdnsv1.Result_RESULT_NAME_ERROR:
			l.FalseNXDOMAIN.Add(1)
		case resp.GetResult() == clusterdnsv1.Result_RESULT_NOT_READY:
			l.NotReady.Add(1)
		default:
			l.Failed.Add(1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// etcdCompact writes a throw-away key to etcd at url (so that the revision
// moves past every resource version a client holds) and compacts to that
// revision: no watch can resume from an older resource version, and every
// reflector must relist.
func etcdCompact(ctx context.Context, url string) (int64, error) {
	put, err := etcdCall(ctx, url+"/v3/kv/put", map[string]string{"key": "L2NsdXN0ZXJkbnMtcmVsaXN0", "value": "MQ=="})
	if err != nil {
		return 0, err
	}
	var reply struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal(put, &reply); err != nil {
		return 0, fmt.Errorf("etcd put reply: %w", err)
	}
	rev, err := strconv.ParseInt(reply.Header.Revision, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("etcd put reply %s: %w", put, err)
	}
	if _, err := etcdCall(ctx, url+"/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}); err != nil {
		return 0, err
	}
	return rev, nil
}

// etcdCall posts body as JSON to etcd's gateway and returns the reply.
func etcdCall(ctx context.Context, url string, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", url, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcd %s: status %d: %s: %w", url, resp.StatusCode, reply, err)
	}
	return reply, nil
}

// RelistRow is one relist measurement.
type RelistRow struct {
	// Mode names the record service's environment (client-go's list
	// mode, GOGC).
	Mode string
	// SyncPeak is VmHWM before the relist: the initial sync's peak.
	SyncPeak int64
	// Sync is the initial time to SERVING; Steady the settled RSS before
	// the relist; Peak the highest RSS from the API server's stop until
	// the record service was idle again (VmHWM after a reset, and the
	// highest 50-ms sample).
	Sync                  time.Duration
	Steady, Peak, Sampled int64
	Samples               int
	// Down is the API server's stop-to-ready time; Relist from its
	// ready until the record service's handlers were idle.
	Down, Relist time.Duration
	// Lists are the new API server's LIST requests by resource;
	// TooOld the reflector log lines about an expired resource version.
	Lists   Watches
	TooOld  int
	After   int64
	Lookups *relistLookups
}

// Ratio is the peak over the steady RSS.
func (r RelistRow) Ratio() float64 { return float64(r.Peak) / float64(r.Steady) }

// countLines counts the lines of the file at path that contain any of subs.
func countLines(path string, subs ...string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		for _, s := range subs {
			if strings.Contains(line, s) {
				n++
				break
			}
		}
	}
	return n
}

// relistMarkdown renders bench/results/relist.md.
func relistMarkdown(started, finished time.Time, mach, cluster string, rows []RelistRow) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# Record-service memory through a relist")
	p("")
	p("Issue #15 item 4. Produced by `make bench-relist` (`CLUSTERDNS_RELIST=1 go test -count=1 -timeout 60m -run TestRelist -v ./bench/fanout/`), "+
		"%s, %s to %s UTC.", started.UTC().Format("2006-01-02"), started.UTC().Format("15:04"), finished.UTC().Format("15:04"))
	p("")
	p("- Machine: %s; `uptime` at the end: %s. Other engineers' builds and tests share the CPUs: durations carry that noise, memory much less.", mach, uptime())
	p("- Cluster (real kube-apiserver and etcd, test/kubecluster): %s.", cluster)
	p("- Record service: the built recordsvc binary, `--pods verified` (Pods watched as well as Services and EndpointSlices), not pinned, " +
		"one process per row started fresh; client-go's streaming list chosen with `KUBE_FEATURE_WatchListClient` in its environment.")
	p("- Steady state: after SERVING, RSS sampled every 250 ms in 5-s windows until two window means differ by < 3%%; the last mean.")
	p("- Relist: the kube-apiserver is stopped (etcd keeps running), a key is written to etcd and etcd compacted to that revision, " +
		"then the same kube-apiserver is started again: no watch can resume from a resource version the record service holds, so every " +
		"reflector relists. Peak: the kernel's VmHWM, reset (clear_refs 5) just before the stop and read when the record service was idle again, " +
		"checked against VmRSS sampled every 50 ms. Relist time: from the new API server's /readyz to the start of the first second in " +
		"which the record service used < 5%% of a CPU after its watches were open again.")
	p("- Lookups: gRPC Lookup of existing Service A names, one every 20 ms, from before the stop until after the relist.")
	p("")
	p("| environment | initial sync (its peak RSS) | steady RSS | peak RSS (50-ms samples) | peak / steady | RSS after | API server down | relist | LISTs on the new API server | lookups (success, false NXDOMAIN, NOT_READY, failed) |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		p("| %s | %s (%s) | %s | %s (%s) | **%.2fx** %s | %s | %s | %s | %s | %d (%d, %d, %d, %d) |", r.Mode, r.Sync.Round(time.Millisecond),
			mib(r.SyncPeak), mib(r.Steady), mib(r.Peak), mib(r.Sampled), r.Ratio(), verdict(r.Ratio() <= targetRelistRatio), mib(r.After),
			r.Down.Round(time.Millisecond), r.Relist.Round(time.Millisecond), r.Lists, r.Lookups.Asked.Load(), r.Lookups.Success.Load(),
			r.Lookups.FalseNXDOMAIN.Load(), r.Lookups.NotReady.Load(), r.Lookups.Failed.Load())
	}
	p("")
	p("Target: peak RSS during a relist <= %.1fx the steady state.", targetRelistRatio)
	return b.String()
}
