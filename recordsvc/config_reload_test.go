package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/clusterdns/clusterdns/internal/configwatch"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

// syncBuffer is a log sink the service writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeLoopbackAddr returns a loopback TCP address that was free a moment ago
// and is none of taken (a closed listener's port may be handed out again at
// once).
func freeLoopbackAddr(t *testing.T, taken ...string) string {
	t.Helper()
	for range 20 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		if !slices.Contains(taken, addr) {
			return addr
		}
	}
	t.Fatalf("no loopback port free apart from %v", taken)
	return ""
}

// TestRunConfigReload runs the whole service with a --config file and edits
// it while it serves: a good edit (log level), a partial one (log level
// applied, TTL reported as needing a restart, a field a flag overrides
// ignored), a bad one and a half-written one (rejected, the last good
// configuration keeps serving), then a fix. Each step is observed on
// /metrics, in the log and in the answers.
func TestRunConfigReload(t *testing.T) {
	addr := freeLoopbackAddr(t)
	metricsAddr := freeLoopbackAddr(t, addr)
	path := filepath.Join(t.TempDir(), "recordsvc.yaml")
	write := func(content string) {
		t.Helper()
		// A rename, as a ConfigMap volume swaps its content: the watcher
		// never reads a half-written file it was not given on purpose.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("logLevel: info\nttl: 7\n")
	cfg, err := parseFlags([]string{"--listen", addr, "--metrics-listen", metricsAddr, "--lameduck", "0s",
		"--source", "file:" + filepath.Join("..", "deploy", "examples", "cluster.yaml"),
		"--config", path, "--config-reload-interval", "50ms", "--max-streams", "100"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := newLogger(logs, cfg)
	ctx, client := startRun(t, cfg, addr, logger)
	// answerTTL asks for the kubernetes Service and returns the TTL of its
	// A record.
	answerTTL := func() uint32 {
		t.Helper()
		callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
		defer callCancel()
		resp, err := client.Lookup(callCtx, &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1},
			grpc.WaitForReady(true))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS || len(resp.GetAnswer()) != 1 {
			t.Fatalf("lookup: %v %v", resp.GetResult(), resp.GetAnswer())
		}
		return resp.GetAnswer()[0].GetTtl()
	}
	const (
		reloads = "clusterdns_recordsvc_config_reloads_total"
		lastOK  = "clusterdns_recordsvc_config_last_reload_successful"
		pending = "clusterdns_recordsvc_config_restart_pending"
		info    = "clusterdns_recordsvc_config_info"
	)
	// waitMetrics scrapes until the reload counters reach success and
	// failure, then returns the next scrape: one scrape is no snapshot (its
	// collectors run at once), but the reload set its gauges before the
	// counter moved, so a scrape started after the count was seen shows them.
	waitMetrics := func(success, failure float64) stack.Metrics {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		counted := func(m stack.Metrics) bool {
			return m.SumWhere(reloads, map[string]string{"result": "success"}) == success &&
				m.SumWhere(reloads, map[string]string{"result": "failure"}) == failure
		}
		for {
			m, err := stack.Scrape(ctx, metricsAddr)
			if err == nil && counted(m) {
				if m, err = stack.Scrape(ctx, metricsAddr); err == nil && counted(m) {
					return m
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("reloads: want %v succeeded and %v failed; scrape %v, err %v\nlog:\n%s", success, failure,
					pick(m, reloads), err, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check := func(step string, m stack.Metrics, wantOK, wantPending float64, wantContent string, wantLevel slog.Level) {
		t.Helper()
		if got := m.Sum(lastOK); got != wantOK {
			t.Errorf("%s: %s = %v, want %v", step, lastOK, got, wantOK)
		}
		if got := m.Sum(pending); got != wantPending {
			t.Errorf("%s: %s = %v, want %v", step, pending, got, wantPending)
		}
		if got := m.SumWhere(info, map[string]string{"sha256": configwatch.Hash([]byte(wantContent))}); got != 1 {
			t.Errorf("%s: %s of the content in effect = %v, want 1 (%v)", step, info, got, pick(m, info))
		}
		for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			if got := logger.Enabled(ctx, l); got != (l >= wantLevel) {
				t.Errorf("%s: level %s logged: %v, want the level to be %s", step, l, got, wantLevel)
			}
		}
		if got := answerTTL(); got != 7 {
			t.Errorf("%s: answer TTL %d, want the started 7", step, got)
		}
	}

	check("start", waitMetrics(0, 0), 1, 0, "logLevel: info\nttl: 7\n", slog.LevelInfo)

	good := "logLevel: debug\nttl: 7\n"
	write(good)
	check("good edit", waitMetrics(1, 0), 1, 0, good, slog.LevelDebug)

	partial := "logLevel: warn\nttl: 9\nlimits:\n  maxStreams: 5\n"
	write(partial)
	check("partial edit", waitMetrics(2, 0), 1, 1, partial, slog.LevelWarn)
	if !strings.Contains(logs.String(), `msg="configuration change needs a restart to take effect; the log level is applied" fields=[ttl]`) {
		t.Errorf("no restart line naming ttl (only) in the log:\n%s", logs.String())
	}

	write("logLevel: error\nttl: 0\n")
	check("bad edit", waitMetrics(2, 1), 0, 1, partial, slog.LevelWarn)
	if !strings.Contains(logs.String(), `msg="configuration rejected; the last good configuration keeps serving"`) ||
		!strings.Contains(logs.String(), "ttl: 0: must be 1..2147483647 seconds") {
		t.Errorf("no rejection line naming the field in the log:\n%s", logs.String())
	}

	write("logLevel: debug\nlimits:\n  maxStreams")
	check("half-written edit", waitMetrics(2, 2), 0, 1, partial, slog.LevelWarn)

	fixed := "ttl: 7\n"
	write(fixed)
	// The log level is absent now: the flag's default, info, is back.
	check("fix", waitMetrics(3, 2), 1, 0, fixed, slog.LevelInfo)
}

// pick returns the samples of metric name, for failure messages.
func pick(m stack.Metrics, name string) map[string]float64 {
	out := make(map[string]float64)
	for k, v := range m {
		if strings.HasPrefix(k, name) {
			out[k] = v
		}
	}
	return out
}
