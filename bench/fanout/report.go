package fanout

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/bench"
)

// Targets of issue #13 item 3.
const (
	targetPropagationP99 = 250 * time.Millisecond
	targetReconnect      = 10 * time.Second
	targetRSSRatio       = 2.0
)

// Report is everything one run measured.
type Report struct {
	Mode              string
	Started, Finished time.Time
	Machine           string
	Cluster           string
	Flags             []string
	// Sync is the record service's time from start to SERVING.
	Sync time.Duration
	// Watches are API server watches by resource, per system.
	Watches map[string]Watches
	// Grow is the time to connect each phase's subscribers.
	Grow          []time.Duration
	Few, Many     PhaseResult
	AfterRestart  PhaseResult
	Restart       RestartResult
	HarnessMemory bench.Memory
	// HarnessCPUs are the CPUs the harness, etcd and kube-apiserver were
	// pinned to ("" when not pinned).
	HarnessCPUs string
}

// machine describes the CPUs and the load when the run started.
func machine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%d CPUs (%s/%s), load average at start %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		strings.Join(strings.Fields(string(load))[:3], " "))
}

// harnessPinning says where the rest ran when the harness was pinned.
func harnessPinning(cpus string) string {
	if cpus == "" {
		return ""
	}
	return fmt.Sprintf("; the harness (all subscribers), etcd and kube-apiserver were pinned to CPU %s, so the record service had its CPU "+
		"to itself, as on a node of its own", cpus)
}

// uptime is `uptime`'s line now.
func uptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// share is cpu as a percentage of one CPU over wall.
func share(cpu, wall time.Duration) string {
	if wall <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*cpu.Seconds()/wall.Seconds())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# Fan-out at cluster scale: one record-service replica, %d subscribers", r.Many.Subscribers)
	p("")
	p("Produced by `make bench-fanout` (`CLUSTERDNS_FANOUT=full go test -count=1 -timeout 60m -run TestFanout -v ./bench/fanout/`), "+
		"%s, %s to %s UTC.", r.Started.UTC().Format("2006-01-02"), r.Started.UTC().Format("15:04"), r.Finished.UTC().Format("15:04"))
	p("")
	p("- Machine: %s; `uptime` at the end: %s. Other engineers' builds and tests share the two CPUs: figures carry that noise.", r.Machine, uptime())
	p("- Cluster (real kube-apiserver and etcd, test/kubecluster): %s. The record service synced in %s.", r.Cluster, r.Sync.Round(time.Millisecond))
	p("- Record service: the built recordsvc binary, `%s` (plus `--listen`, `--metrics-listen`, `--pprof`), pinned to one CPU with taskset%s.", strings.Join(r.Flags, " "), harnessPinning(r.HarnessCPUs))
	p("- Subscribers: one gRPC connection each, from its own loopback address (127.1.x.y, so the per-address limits apply to each as to one frontend pod), "+
		"a Watch stream resumed as the frontend's client resumes it and a LookupStream for lookups; the record service's total limits were raised "+
		"with the flags above (defaults: 1024 connections, 2048 streams). Harness RSS at %d subscribers: %s (peak %s).",
		r.Many.Subscribers, mib(r.HarnessMemory.RSS), mib(r.HarnessMemory.PeakRSS))
	p("- Churn: an EndpointSlice patch (a headless Service's endpoint address) and a Service patch (a port) in turn, %.0f writes/s. "+
		"Lookups: half existing names, half NXDOMAIN names, 0.2/s per subscriber, from random subscribers.", float64(r.Many.Writes)/r.Many.Elapsed.Seconds())
	p("")
	p("## Targets")
	p("")
	p("| target | measured | |")
	p("|---|---|---|")
	p99 := quantile(r.Many.Prop.AllFromWrite, 0.99)
	p("| propagation p99 to all %d subscribers <= 250 ms | %s from the API write (%s from the record service's revision) | %s |",
		r.Many.Subscribers, ms(p99), ms(quantile(r.Many.Prop.AllFromRevision, 0.99)), verdict(p99 <= targetPropagationP99))
	p("| all %d reconnect within 10 s of the restart | %s after SIGTERM (%s after the new process was SERVING) | %s |",
		r.Restart.Subscribers, ms(r.Restart.AllBack), ms(r.Restart.AfterReady), verdict(r.Restart.AfterReady <= targetReconnect))
	ratio := float64(r.Many.Memory.RSS) / float64(r.Few.Memory.RSS)
	p("| RSS at %d subscribers <= 2x at %d | %s / %s = %.2fx (peak %s / %s) | %s |", r.Many.Subscribers, r.Few.Subscribers,
		mib(r.Many.Memory.RSS), mib(r.Few.Memory.RSS), ratio, mib(r.Many.Memory.PeakRSS), mib(r.Few.Memory.PeakRSS), verdict(ratio <= targetRSSRatio))
	p("| no false NXDOMAIN | %d in %d lookups (all phases and the restart) | %s |",
		r.falseNX(), r.lookups(), verdict(r.falseNX() == 0))
	p("")
	p("## Propagation and cost per change")
	p("")
	p("\"All\" is, per change, the time until the last subscriber received it; \"each\" is over every (subscriber, change) delivery. " +
		"\"From write\" starts when the harness sends the API write; \"from revision\" at the change_time the record service gives the revision " +
		"(when it observed the change: the churn sets no trigger time), so it is the fan-out alone. CPU per change is the record service's " +
		"utime+stime during the churn minus that during as long a time of the lookup load alone, per delivered change.")
	p("")
	p("| subscribers | changes | all p50 / p99 from write | all p50 / p99 from revision | each p50 / p99 from write | each p99 from revision | CPU per change (with lookups) | RSS (peak) | goroutines | lookups (false NXDOMAIN) |")
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, ph := range []PhaseResult{r.Few, r.Many, r.AfterRestart} {
		goroutines := "–" // not read after the restart
		if ph.Goroutines > 0 {
			goroutines = fmt.Sprint(ph.Goroutines)
		}
		p("| %d | %d (%d incomplete) | %s / %s | %s / %s | %s / %s | %s | %s (%s) | %s (%s) | %s | %d (%d) |", ph.Subscribers, ph.Prop.Changes, ph.Prop.Incomplete,
			ms(quantile(ph.Prop.AllFromWrite, 0.5)), ms(quantile(ph.Prop.AllFromWrite, 0.99)),
			ms(quantile(ph.Prop.AllFromRevision, 0.5)), ms(quantile(ph.Prop.AllFromRevision, 0.99)),
			ms(ph.FromWrite[0]), ms(ph.FromWrite[1]), ms(ph.FromRevision[1]),
			ms(ph.CPUPerChange()), ms(ph.RawCPUPerChange()), mib(ph.Memory.RSS), mib(ph.Memory.PeakRSS), goroutines,
			ph.Lookups.Total(), ph.Lookups.FalseNXDOMAIN.Load())
	}
	p("")
	p("The last row is a short churn after the restart, on the new process. Connecting the subscribers took %s.", joinDurations(r.Grow))
	p("")
	p("CPU during each churn (until every subscriber had the last change), as shares of one CPU: the record service against the harness, " +
		"whose clients receive every delivery (plus the churn's writes and the lookup load). A harness near 100%% of its CPUs receives late, " +
		"and the times above grow with it.")
	p("")
	p("| subscribers | churn wall time | record service CPU | harness CPU | idle share of each CPU |")
	p("|---|---|---|---|---|")
	for _, ph := range []PhaseResult{r.Few, r.Many, r.AfterRestart} {
		var idle []string
		for i, v := range ph.Idle {
			idle = append(idle, fmt.Sprintf("CPU %d %.0f%%", i, 100*v))
		}
		p("| %d | %s | %s | %s | %s |", ph.Subscribers, ph.ChurnWall.Round(time.Millisecond), share(ph.ChurnCPU, ph.ChurnWall),
			share(ph.HarnessCPU, ph.ChurnWall), strings.Join(idle, ", "))
	}
	p("")
	p("Where the record service's memory was after each phase (its Go runtime's statistics; the heap goal counts the stacks too, " +
		"so each KiB of stack also lets the heap grow a KiB before the next collection):")
	p("")
	p("| subscribers | RSS | heap in use | heap goal | goroutine stacks | goroutines | RSS per subscriber over the first row |")
	p("|---|---|---|---|---|---|---|")
	for _, ph := range []PhaseResult{r.Few, r.Many} {
		perSub := "–"
		if extra := ph.Subscribers - r.Few.Subscribers; extra > 0 {
			perSub = fmt.Sprintf("%.0f KiB", float64(ph.Memory.RSS-r.Few.Memory.RSS)/1024/float64(extra))
		}
		p("| %d | %s | %s | %s | %s | %d | %s |", ph.Subscribers, mib(ph.Memory.RSS), mib(ph.Runtime.HeapInuse),
			mib(ph.Runtime.HeapGoal), mib(ph.Runtime.Stacks), ph.Goroutines, perSub)
	}
	p("")
	p("## Restart")
	p("")
	p("SIGTERM (`--lameduck 0s`) took %s to end the old process; the new one was SERVING %s after its start (its initial list of the API server). "+
		"The last of %d subscribers had a stream on it %s after the SIGTERM, %s after SERVING: %d resumed, %d resynced. "+
		"Lookups meanwhile: %d asked, %d correct, %d NOT_READY, %d UNAVAILABLE or timed out, %d false NXDOMAIN, %d wrong.",
		ms(r.Restart.Stopped), ms(r.Restart.Ready), r.Restart.Subscribers, ms(r.Restart.AllBack), ms(r.Restart.AfterReady),
		r.Restart.Resumed, r.Restart.Resynced, r.Restart.Lookups.Total(), r.Restart.Lookups.Correct.Load(), r.Restart.Lookups.NotReady.Load(),
		r.Restart.Lookups.Unavailable.Load(), r.Restart.Lookups.FalseNXDOMAIN.Load(), r.Restart.Lookups.Wrong.Load())
	p("")
	p("## API server watches")
	p("")
	p("Open watches (kube-apiserver `apiserver_longrunning_requests{verb=\"WATCH\"}`) each system adds, by resource, each measured alone on the same API server:")
	p("")
	p("| system | watches |")
	p("|---|---|")
	names := make([]string, 0, len(r.Watches))
	for n := range r.Watches {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p("| %s | %g (%s) |", n, r.Watches[n].Total(), r.Watches[n])
	}
	p("")
	rsw := r.Watches["clusterdns recordsvc --pods insecure"].Total()
	rsv := r.Watches["clusterdns recordsvc --pods verified"].Total()
	cdw := r.Watches["CoreDNS kubernetes plugin, pods insecure"].Total()
	cdv := r.Watches["CoreDNS kubernetes plugin, pods verified"].Total()
	const nodes, perReplica = 5000, 16
	replicas := (nodes + perReplica - 1) / perReplica
	p("At 5,000 nodes: CoreDNS at one replica per 16 nodes runs %d replicas, each with its own watch set: %d x %g = **%g** watches "+
		"(%d x %g = %g with pods verified). clusterdns: only record-service replicas watch; one replica served all %d subscribers here, so "+
		"1 replica holds **%g** (%g verified), and 3 replicas for availability %g (%g). Frontends hold no API watch; the record service's count "+
		"did not move between 0 and %d subscribers (table).",
		replicas, replicas, cdw, float64(replicas)*cdw, replicas, cdv, float64(replicas)*cdv, r.Many.Subscribers, rsw, rsv, 3*rsw, 3*rsv, r.Many.Subscribers)
	return b.String()
}

func joinDurations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return strings.Join(parts, " and ")
}

func (r *Report) falseNX() int64 {
	n := r.Restart.Lookups.FalseNXDOMAIN.Load()
	for _, ph := range []PhaseResult{r.Few, r.Many, r.AfterRestart} {
		n += ph.Lookups.FalseNXDOMAIN.Load()
	}
	return n
}

func (r *Report) lookups() int64 {
	n := r.Restart.Lookups.Total()
	for _, ph := range []PhaseResult{r.Few, r.Many, r.AfterRestart} {
		n += ph.Lookups.Total()
	}
	return n
}
