package fanout

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/bench"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// relistEnv enables TestRelist ("1"); it is a full-size measurement and
// not part of `make test`.
const relistEnv = "CLUSTERDNS_RELIST"

// relistOutEnv overrides where TestRelist writes relist.md (default
// bench/results).
const relistOutEnv = "CLUSTERDNS_RELIST_OUT"

// TestRelist measures the record service's resident memory through a
// relist forced by an API-server restart (issue #15 item 4) at 10k
// Services, 100k endpoints and 100k Pods, once with client-go's LIST-based
// relist and once with its streaming list (WatchListClient), and writes
// bench/results/relist.md. It fails on a false NXDOMAIN during the relist.
func TestRelist(t *testing.T) {
	if os.Getenv(relistEnv) != "1" {
		t.Skipf("set %s=1 to run the relist measurement at full size (make bench-relist)", relistEnv)
	}
	ctx := t.Context()
	started := time.Now()
	mach := machine()
	dir := t.TempDir()
	bins := binaries(t)
	kc := kubecluster.Start(t)
	cluster := bench.Generate(bench.FullScale())
	fast, err := bench.FastClient(kc.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	etcdURL, err := bench.ChildEtcdURL()
	if err != nil {
		t.Fatal(err)
	}
	etcd := bench.NewEtcdWriter(etcdURL, 48)
	defer etcd.Close()
	pop, err := bench.Populate(ctx, fast, etcd, cluster, 48)
	if err != nil {
		t.Fatal(err)
	}
	services, headless, endpoints := cluster.Counts()
	desc := fmt.Sprintf("%d Services (%d headless), %d endpoints in %d EndpointSlices, %d Pods, %d namespaces",
		services, headless, endpoints, pop.EndpointSlices, pop.Pods, pop.Namespaces)
	t.Logf("populated in %s: %s", pop.Elapsed.Round(time.Millisecond), desc)
	existing, _ := lookupNames(cluster)

	var rows []RelistRow
	// The record service's environment per row: client-go's LIST-based
	// relist and its streaming list (the default of client-go v0.37).
	modes := []struct{ name, gogc, watchList string }{
		{"KUBE_FEATURE_WatchListClient=false", "", "false"},
		{"KUBE_FEATURE_WatchListClient=true (default)", "", "true"},
	}
	for i, m := range modes {
		t.Setenv("KUBE_FEATURE_WatchListClient", m.watchList)
		if m.gogc != "" {
			t.Setenv("GOGC", m.gogc)
		}
		mode := m.name
		row := relistRow(t, ctx, kc, bins, etcdURL, filepath.Join(dir, fmt.Sprint("row-", i)), mode, existing)
		t.Logf("%s: steady %s, peak %s (sampled %s in %d samples), ratio %.2fx; API server down %s, relist %s; LISTs %s; "+
			"%d too-old lines; lookups %d (%d success, %d false NXDOMAIN, %d not ready, %d failed)",
			mode, mib(row.Steady), mib(row.Peak), mib(row.Sampled), row.Samples, row.Ratio(), row.Down.Round(time.Millisecond),
			row.Relist.Round(time.Millisecond), row.Lists, row.TooOld, row.Lookups.Asked.Load(), row.Lookups.Success.Load(),
			row.Lookups.FalseNXDOMAIN.Load(), row.Lookups.NotReady.Load(), row.Lookups.Failed.Load())
		if n := row.Lookups.FalseNXDOMAIN.Load(); n != 0 {
			t.Errorf("%s: %d lookups of existing names answered NAME_ERROR during the relist", mode, n)
		}
		if row.Lookups.Success.Load() == 0 {
			t.Errorf("%s: no lookup answered during the relist", mode)
		}
		rows = append(rows, row)
	}

	out := os.Getenv(relistOutEnv)
	if out == "" {
		root, err := kubecluster.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(root, "bench", "results")
	}
	path := filepath.Join(out, "relist.md")
	if err := os.WriteFile(path, []byte(relistMarkdown(started, time.Now(), mach, desc, rows)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// relistRow starts a record service with --pods verified in the
// environment the caller set (mode names it), lets it settle, restarts the API server with etcd
// compacted in between, and measures it until its handlers are idle.
func relistRow(t *testing.T, ctx context.Context, kc *kubecluster.Cluster, bins stack.Binaries, etcdURL, dir, mode string, names []string) RelistRow {
	t.Helper()
	row := RelistRow{Mode: mode, Lookups: &relistLookups{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rs, err := NewRecordService(bins.RecordService, dir, bench.Unpinned, "--kubeconfig", kc.Kubeconfig, "--pods", "verified", "--lameduck", "0s")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	if row.Sync, err = rs.Ready(ctx); err != nil {
		t.Fatalf("%v\n%s", err, rs.LogTail(20))
	}
	if row.Steady, err = steadyRSS(ctx, rs, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	before, err := ReadWatches(ctx, kc.Client)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "recordsvc-1.log")
	tooOld := []string{"too old", "Gone"}
	oldLines := countLines(logPath, tooOld...)

	initial, err := rs.Memory()
	if err != nil {
		t.Fatal(err)
	}
	row.SyncPeak = initial.PeakRSS
	if err := resetPeakRSS(rs.PID()); err != nil {
		t.Fatal(err)
	}
	sctx, stopSampling := context.WithCancel(ctx)
	sampler := &rssSampler{rs: rs, interval: 50 * time.Millisecond}
	sampled := make(chan struct{})
	go func() { defer close(sampled); sampler.run(sctx) }()
	looked := make(chan error, 1)
	go func() { looked <- row.Lookups.run(sctx, rs.Addr, names, 50_000) }()

	t0 := time.Now()
	kc.StopAPIServer(t)
	rev, err := etcdCompact(ctx, etcdURL)
	if err != nil {
		stopSampling()
		t.Fatal(err)
	}
	kc.StartAPIServer(t)
	ready := time.Now()
	row.Down = ready.Sub(t0)
	t.Logf("%s: etcd compacted at revision %d; API server back after %s", mode, rev, row.Down.Round(time.Millisecond))
	// The record service's watches are open again on the new API server...
	if err := waitWatchesBack(ctx, kc, before, 5*time.Minute); err != nil {
		t.Error(err)
	}
	// ...and its handlers have processed what the relist delivered.
	idle, err := waitIdle(ctx, rs, 5*time.Minute)
	if err != nil {
		t.Error(err)
	}
	row.Relist = idle.Sub(ready)
	// A little more of lookups and samples on the relisted index.
	time.Sleep(time.Second)
	stopSampling()
	<-sampled
	if err := <-looked; err != nil {
		t.Error(err)
	}
	row.Sampled, row.Samples = sampler.result()
	mem, err := rs.Memory()
	if err != nil {
		t.Fatal(err)
	}
	row.Peak, row.After = max(mem.PeakRSS, row.Sampled), mem.RSS
	row.TooOld = countLines(logPath, tooOld...) - oldLines
	if row.Lists, err = readLists(ctx, kc); err != nil {
		t.Error(err)
	}
	return row
}

// waitWatchesBack waits until the API server has at least the open watches
// of want for each resource of the record service.
func waitWatchesBack(ctx context.Context, kc *kubecluster.Cluster, want Watches, maxWait time.Duration) error {
	deadline := time.Now().Add(maxWait)
	for {
		now, err := ReadWatches(ctx, kc.Client)
		back := err == nil
		for _, r := range []string{"services", "endpointslices", "pods"} {
			if back && now[r] < want[r] {
				back = false
			}
		}
		if back {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("watches not back after %s: %v (before the restart %v), last error %w", maxWait, now, want, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readLists returns the API server's completed LIST requests by resource
// (apiserver_request_total), for services, endpointslices and pods: on a
// restarted API server, the relists.
func readLists(ctx context.Context, kc *kubecluster.Cluster) (Watches, error) {
	raw, err := kc.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	m, err := stack.ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	lists := Watches{}
	for sample, v := range m {
		name, labels, _ := strings.Cut(sample, "{")
		if name != "apiserver_request_total" || !strings.Contains(labels, `verb="LIST"`) {
			continue
		}
		switch r := labelValue(labels, "resource"); r {
		case "services", "endpointslices", "pods":
			lists[r] += v
		}
	}
	return lists, nil
}
