package fanout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/bench"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// modeEnv selects the full run ("full"); anything else runs at small
// scale and asserts correctness only.
const modeEnv = "CLUSTERDNS_FANOUT"

// profileEnv names a directory where a run keeps the record service's heap
// profile after each phase (heap-N.pb.gz, for `go tool pprof`).
const profileEnv = "CLUSTERDNS_FANOUT_PROFILES"

// outEnv overrides where the full run writes fanout.md (default
// bench/results).
const outEnv = "CLUSTERDNS_FANOUT_OUT"

// subscribersEnv, with CLUSTERDNS_FANOUT=full, sets the larger subscriber
// count (default 5000) for a shorter run at full cluster scale: 30 s of
// churn and no CoreDNS watch count. Its fanout.md goes to outEnv's
// directory when set.
const subscribersEnv = "CLUSTERDNS_FANOUT_SUBSCRIBERS"

// churnEnv, with CLUSTERDNS_FANOUT=full, sets the churn's writes per
// second (default 20; the API server here takes about 17).
const churnEnv = "CLUSTERDNS_FANOUT_CHURN"

// settings are what differ between the full and the small run.
type settings struct {
	mode  string
	scale bench.Scale
	// few and many are the subscriber counts of the two phases.
	few, many int
	// churnRate writes per second for churnTime (fewTime at few
	// subscribers); restartChurn after the restart.
	churnRate                        float64
	churnTime, fewTime, restartChurn time.Duration
	// lookupRate is lookups per second per subscriber.
	lookupRate float64
	// cpu pins the record service (bench.Unpinned: not pinned).
	cpu int
	// coreDNS measures CoreDNS's API watches too.
	coreDNS bool
	// growTimeout bounds connecting the subscribers; reconnectTimeout
	// their return after the restart.
	growTimeout, reconnectTimeout time.Duration
}

func settingsFor(mode, subscribers, churn string) settings {
	if mode == "full" {
		cpu := 1
		if runtime.NumCPU() < 2 {
			cpu = bench.Unpinned
		}
		set := settings{mode: "full", scale: bench.FullScale(), few: 10, many: 5000,
			churnRate: 20, churnTime: 60 * time.Second, fewTime: 20 * time.Second, restartChurn: 10 * time.Second,
			lookupRate: 0.2, cpu: cpu, coreDNS: true,
			growTimeout: 5 * time.Minute, reconnectTimeout: 2 * time.Minute}
		if n, err := strconv.Atoi(subscribers); err == nil && n > set.few {
			set.mode = fmt.Sprintf("full scale, %d subscribers", n)
			set.many, set.churnTime, set.coreDNS = n, 30*time.Second, false
		}
		if r, err := strconv.ParseFloat(churn, 64); err == nil && r > 0 {
			set.churnRate = r
		}
		return set
	}
	return settings{mode: "small", scale: bench.SmokeScale(), few: 5, many: 50,
		churnRate: 10, churnTime: 3 * time.Second, fewTime: 2 * time.Second, restartChurn: 2 * time.Second,
		lookupRate: 2, cpu: bench.Unpinned,
		growTimeout: time.Minute, reconnectTimeout: time.Minute}
}

// TestFanout runs the fan-out benchmark: at full scale with
// CLUSTERDNS_FANOUT=full (results in bench/results/fanout.md), at small
// scale otherwise, where it asserts that every subscriber receives every
// change, that no existing name is ever answered NAME_ERROR, and that
// every subscriber comes back after a restart.
func TestFanout(t *testing.T) {
	set := settingsFor(os.Getenv(modeEnv), os.Getenv(subscribersEnv), os.Getenv(churnEnv))
	ctx := t.Context()
	rep := &Report{Mode: set.mode, Started: time.Now(), Machine: machine()}
	dir := t.TempDir()

	bins := binaries(t)
	if set.cpu != bench.Unpinned {
		// Before etcd and kube-apiserver start, so that they inherit it.
		cpus, err := pinHarness(set.cpu)
		if err != nil {
			t.Fatal(err)
		}
		rep.HarnessCPUs = cpus
	}
	kc := kubecluster.Start(t)
	cluster := bench.Generate(set.scale)
	fast, err := bench.FastClient(kc.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	var etcd *bench.EtcdWriter
	if url, err := bench.ChildEtcdURL(); err == nil {
		etcd = bench.NewEtcdWriter(url, 48)
		defer etcd.Close()
	}
	pop, err := bench.Populate(ctx, fast, etcd, cluster, 48)
	if err != nil {
		t.Fatal(err)
	}
	services, headless, endpoints := cluster.Counts()
	rep.Cluster = fmt.Sprintf("%d Services (%d headless), %d endpoints in %d EndpointSlices, %d Pods, %d namespaces",
		services, headless, endpoints, pop.EndpointSlices, pop.Pods, pop.Namespaces)
	t.Logf("populated in %s: %s", pop.Elapsed.Round(time.Millisecond), rep.Cluster)

	baseWatches, err := ReadWatches(ctx, kc.Client)
	if err != nil {
		t.Fatal(err)
	}
	// Every subscriber holds a connection, a Watch and a LookupStream; the
	// defaults (1024 connections, 2048 streams) are for fewer frontends.
	rs, err := NewRecordService(bins.RecordService, dir, set.cpu, "--kubeconfig", kc.Kubeconfig, "--pods", "insecure",
		"--lameduck", "0s", "--max-connections", fmt.Sprint(set.many+100), "--max-streams", fmt.Sprint(2*set.many+100))
	if err != nil {
		t.Fatal(err)
	}
	rep.Flags = rs.Args
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	if rep.Sync, err = rs.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	rep.Watches = map[string]Watches{}
	rep.Watches["clusterdns recordsvc --pods insecure"] = settledWatches(t, ctx, kc, baseWatches)
	measureOtherWatches(t, ctx, set, rep, bins.RecordService, dir, kc, baseWatches)

	fleet := NewFleet(rs.Addr)
	t.Cleanup(fleet.Close)
	headlessT, portedT := ChurnTargets(cluster.Services, 100)
	churn := &Churn{Client: fast, Headless: headlessT, Ported: portedT, Rate: set.churnRate}
	existing, missing := lookupNames(cluster)
	load := func(n int) LookupLoad {
		return LookupLoad{Existing: existing, Missing: missing, Rate: set.lookupRate * float64(n), Workers: 64}
	}

	phase := func(n int, d time.Duration) PhaseResult {
		t.Helper()
		grow, err := fleet.Grow(ctx, n, set.growTimeout)
		if err != nil {
			t.Fatalf("connecting %d subscribers: %v\n%s", n, err, rs.LogTail(20))
		}
		rep.Grow = append(rep.Grow, grow)
		churn.Count, churn.Duration = int(set.churnRate*d.Seconds()), d+10*time.Second
		res, err := Phase(ctx, fleet, rs, churn, load(n))
		if err != nil {
			t.Fatalf("%d subscribers: %v\n%s", n, err, rs.LogTail(20))
		}
		t.Logf("%d subscribers: %d writes, %d changes (%d incomplete, %d writes unmatched); all subscribers p50 %s p99 %s from the write, "+
			"p50 %s p99 %s from the revision; CPU %s per change (%s with lookups); RSS %d MiB (peak %d MiB); lookups %d (%d false NXDOMAIN)",
			n, res.Writes, res.Prop.Changes, res.Prop.Incomplete, res.Prop.Unmatched,
			quantile(res.Prop.AllFromWrite, 0.5), quantile(res.Prop.AllFromWrite, 0.99),
			quantile(res.Prop.AllFromRevision, 0.5), quantile(res.Prop.AllFromRevision, 0.99),
			res.CPUPerChange(), res.RawCPUPerChange(), res.Memory.RSS>>20, res.Memory.PeakRSS>>20,
			res.Lookups.Total(), res.Lookups.FalseNXDOMAIN.Load())
		checkPhase(t, res)
		if res.Goroutines, err = rs.Goroutines(ctx); err != nil {
			t.Error(err)
		}
		if pdir := os.Getenv(profileEnv); pdir != "" {
			heap, err := rs.Profile(ctx, "heap", "gc=1")
			if err == nil {
				err = os.WriteFile(filepath.Join(pdir, fmt.Sprintf("heap-%d.pb.gz", n)), heap, 0o644)
			}
			if err != nil {
				t.Error(err)
			}
		}
		return res
	}
	rep.Few = phase(set.few, set.fewTime)
	rep.Many = phase(set.many, set.churnTime)
	if rep.HarnessMemory, err = selfMemory(); err != nil {
		t.Fatal(err)
	}
	rep.Watches["clusterdns recordsvc --pods insecure, with all subscribers"] = settledWatches(t, ctx, kc, baseWatches)
	if c := fleet.Counts(); c.Broken != 0 || c.Gaps != 0 || c.Streams != int64(set.many) {
		t.Errorf("before the restart: %d streams for %d subscribers, %d broken, %d gaps", c.Streams, set.many, c.Broken, c.Gaps)
	}

	restart, err := Restart(ctx, fleet, rs, load(set.many), set.reconnectTimeout)
	if err != nil {
		t.Fatalf("restart: %v\n%s", err, rs.LogTail(20))
	}
	rep.Restart = restart
	t.Logf("restart: SIGTERM to exit %s, new process SERVING after %s; all %d subscribers back %s after the SIGTERM (%s after SERVING): "+
		"%d resumed, %d resynced; lookups %d (%d not ready, %d unavailable, %d false NXDOMAIN)",
		restart.Stopped, restart.Ready, restart.Subscribers, restart.AllBack, restart.AfterReady, restart.Resumed, restart.Resynced,
		restart.Lookups.Total(), restart.Lookups.NotReady.Load(), restart.Lookups.Unavailable.Load(), restart.Lookups.FalseNXDOMAIN.Load())
	if restart.Resumed+restart.Resynced < int64(set.many) {
		t.Errorf("after the restart %d resumed and %d resynced, want %d in all", restart.Resumed, restart.Resynced, set.many)
	}
	checkLookups(t, "restart", restart.Lookups)

	// Changes after the restart reach every subscriber as well.
	churn.Count, churn.Duration = int(set.churnRate*set.restartChurn.Seconds()), set.restartChurn+10*time.Second
	after, err := Phase(ctx, fleet, rs, churn, load(set.many))
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	checkPhase(t, after)
	rep.AfterRestart = after

	if !strings.HasPrefix(set.mode, "full") {
		return
	}
	out := os.Getenv(outEnv)
	if out == "" && set.mode != "full" {
		return // a shorter run does not overwrite the full run's results
	}
	if out == "" {
		root, err := kubecluster.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(root, "bench", "results")
	}
	rep.Finished = time.Now()
	path := filepath.Join(out, "fanout.md")
	if err := os.WriteFile(path, []byte(rep.Markdown()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// checkPhase fails t unless every subscriber received every change and
// every write showed, with no wrong lookup answer.
func checkPhase(t *testing.T, res PhaseResult) {
	t.Helper()
	if res.Prop.Changes == 0 || res.Prop.Incomplete != 0 || res.Prop.Unmatched != 0 || res.Prop.Written != res.Writes {
		t.Errorf("%d subscribers: %d writes, %d changes delivered (%d matched to writes), %d not delivered to every subscriber, %d writes never seen",
			res.Subscribers, res.Writes, res.Prop.Changes, res.Prop.Written, res.Prop.Incomplete, res.Prop.Unmatched)
	}
	checkLookups(t, fmt.Sprint(res.Subscribers, " subscribers"), res.Lookups)
}

// checkLookups fails t on a false NXDOMAIN or any other wrong answer, and
// when no lookup was answered at all.
func checkLookups(t *testing.T, what string, s *LookupStats) {
	t.Helper()
	if n := s.FalseNXDOMAIN.Load(); n != 0 {
		t.Errorf("%s: %d lookups of existing names answered NAME_ERROR", what, n)
	}
	if n := s.Wrong.Load(); n != 0 {
		t.Errorf("%s: %d lookups answered wrongly", what, n)
	}
	if s.Correct.Load() == 0 {
		t.Errorf("%s: no lookup answered (%d asked)", what, s.Total())
	}
}

// lookupNames returns A names of the first Services (never changed by the
// churn) and names under their namespaces that do not exist.
func lookupNames(c *bench.Cluster) (existing, missing []string) {
	for i, s := range c.Services[:min(len(c.Services), 1000)] {
		existing = append(existing, s.FQDN(c.Domain))
		missing = append(missing, fmt.Sprintf("nx-%d.%s.svc.%s.", i, s.Namespace, c.Domain))
	}
	return existing, missing
}

// settledWatches reads the API server's open watches once they stop
// moving (an informer opens its watch right after its list) and returns
// them minus base.
func settledWatches(t *testing.T, ctx context.Context, kc *kubecluster.Cluster, base Watches) Watches {
	t.Helper()
	var last Watches
	for range 30 {
		w, err := ReadWatches(ctx, kc.Client)
		if err != nil {
			t.Fatal(err)
		}
		d := w.Minus(base)
		if last != nil && d.String() == last.String() {
			return d
		}
		last = d
		time.Sleep(time.Second)
	}
	return last
}

// measureOtherWatches counts the API watches of a record service with
// --pods verified and, in the full run, of CoreDNS in both pods modes,
// each started alone, synced and stopped.
func measureOtherWatches(t *testing.T, ctx context.Context, set settings, rep *Report, bin, dir string, kc *kubecluster.Cluster, base Watches) {
	t.Helper()
	// The record service under test is running: count on top of it.
	running, err := ReadWatches(ctx, kc.Client)
	if err != nil {
		t.Fatal(err)
	}
	verified, err := NewRecordService(bin, filepath.Join(dir, "verified"), bench.Unpinned, "--kubeconfig", kc.Kubeconfig, "--pods", "verified", "--lameduck", "0s")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(verified.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := verified.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := verified.Ready(ctx); err != nil {
		verified.Stop()
		t.Fatal(err)
	}
	rep.Watches["clusterdns recordsvc --pods verified"] = settledWatches(t, ctx, kc, running)
	verified.Stop()
	if !set.coreDNS {
		return
	}
	root, err := kubecluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	coredns := filepath.Join(root, "bin", "coredns")
	if _, err := os.Stat(coredns); err != nil {
		t.Fatalf("CoreDNS: %v (make bench-fanout installs it with bench/setup.sh)", err)
	}
	for _, pods := range []string{"insecure", "verified"} {
		settledWatches(t, ctx, kc, running) // the one before is gone
		cd, err := bench.StartCoreDNS(ctx, "coredns-"+pods, filepath.Join(dir, "coredns-"+pods), bench.Unpinned, bench.CoreDNSConfig{
			Binary: coredns, Kubeconfig: kc.Kubeconfig, Pods: pods, Upstream: "127.0.0.1:9", Domain: "cluster.local"})
		if err != nil {
			t.Fatal(err)
		}
		rep.Watches["CoreDNS kubernetes plugin, pods "+pods] = settledWatches(t, ctx, kc, running)
		cd.Stop()
	}
}

// binaries are the clusterdns binaries of stack.BinDirEnv when it is set
// (a build kept for repeated runs), else built for this run.
func binaries(t *testing.T) stack.Binaries {
	t.Helper()
	if os.Getenv(stack.BinDirEnv) != "" {
		return stack.Installed(t)
	}
	bins, cleanup, err := stack.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return bins
}
