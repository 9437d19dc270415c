package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// System is one DNS system under test.
type System struct {
	// ID is the key of its results; Name is what the tables show.
	ID, Name string
}

// Cell is one workload run on one system.
type Cell struct {
	// Result is nil when the run was not possible; NA then says why.
	Result *PerfResult
	NA     string
	// Generator is the load generator of the run (genDNSPerf, genLoadgen).
	Generator string
	// MaxQPS is the rate limit of the run (0: unlimited).
	MaxQPS int
	// ServerCPU and ForeignCPU are the shares of the server CPU that the
	// system under test and other processes took during the run (see
	// CPUShares).
	ServerCPU, ForeignCPU float64
	// ProcessCPU splits ServerCPU by process name for systems of several
	// processes.
	ProcessCPU map[string]float64
	// Note says, for clusterdns, where its replies came from during the
	// run (see clusterdnsCounters).
	Note string
	// ClientCPU and ClientForeignCPU are the same shares of the load
	// generator's CPU: the generator's, and other processes'. ClientIdle
	// is the share its CPU stayed idle: what the generator left.
	ClientCPU, ClientForeignCPU, ClientIdle float64
}

// SyncRow is the start of one server on the full cluster.
type SyncRow struct {
	System string
	// Pods is the pods mode ("insecure", "verified").
	Pods string
	// Sync is the time from process start to ready.
	Sync   time.Duration
	Memory Memory
}

// Target is one target of issue #6 and whether the run met it.
type Target struct {
	Name     string
	Measured string
	// Met is "met", "not met" or "n/a" (with the reason in Measured).
	Met string
}

// Report collects everything one suite run measured.
type Report struct {
	// Mode is "full" or "smoke".
	Mode     string
	Started  time.Time
	Duration time.Duration
	// Machine describes the host (CPU model and count).
	Machine string
	// Versions of the servers and tools.
	Versions []string
	// Cluster is what was created, and how long it took.
	Cluster  string
	Populate PopulateStats
	// PerfSetup describes the dnsperf parameters and pinning.
	PerfSetup string
	Systems   []System
	Workloads []Workload
	// Perf[workload ID][system ID] are the runs with dnsperf, LoadgenPerf
	// those with bench/loadgen (of the workloads that loop over their file).
	Perf, LoadgenPerf map[string]map[string]*Cell
	Sync              []SyncRow
	// FrontendMemory: after start (idle) and after every workload.
	FrontendIdle, FrontendLoaded Memory
	FrontendCacheSize            string
	Propagation                  map[string]*PropagationResult
	PropagationSetup             string
	PropagationOrder             []string
	// Correctness lists per system the mismatches of the answer check
	// (empty when every sampled answer was right) and how many were checked.
	Correctness        map[string][]string
	CorrectnessChecked int
	Targets            []Target
	Notes              []string
}

// cell returns the dnsperf cell of a workload and system, or nil.
func (r *Report) cell(workload, system string) *Cell {
	return r.genCell(genDNSPerf, workload, system)
}

// genCell returns the cell of a workload and system measured with
// generator gen, or nil.
func (r *Report) genCell(gen, workload, system string) *Cell {
	perf := r.Perf
	if gen == genLoadgen {
		perf = r.LoadgenPerf
	}
	if perf[workload] == nil {
		return nil
	}
	return perf[workload][system]
}

// qps returns the QPS of a dnsperf cell, NaN when there is none.
func (r *Report) qps(workload, system string) float64 {
	return r.genQPS(genDNSPerf, workload, system)
}

// genQPS returns the QPS of a cell measured with gen, NaN when there is
// none.
func (r *Report) genQPS(gen, workload, system string) float64 {
	c := r.genCell(gen, workload, system)
	if c == nil || c.Result == nil {
		return math.NaN()
	}
	return c.Result.QPS
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# clusterdns side-by-side benchmark (%s run)\n\n", r.Mode)
	fmt.Fprintf(&b, "Run %s, took %s, on %s.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Duration.Round(time.Second), r.Machine)
	for _, v := range r.Versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	fmt.Fprintf(&b, "- cluster: %s; created in %s\n", r.Cluster, r.Populate.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "- %s\n\n", r.PerfSetup)

	if len(r.Targets) > 0 {
		b.WriteString("## Targets (issues #6 and #15)\n\n| target | measured | |\n|---|---|---|\n")
		for _, t := range r.Targets {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, t.Measured, t.Met)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Throughput and latency\n\n")
	b.WriteString("Each server is measured twice on every workload that loops over its file: with dnsperf, then with bench/loadgen (batched sendmmsg/recvmmsg over connected sockets; the rows *with loadgen*), which on one core outruns servers that dnsperf cannot saturate. The *vs* columns compare runs of the same generator; *loadgen / dnsperf* is the same server's QPS with either. Latencies are those of a saturated server (the generator keeps its queries in flight), except in the runs limited with -Q. *server CPU* and *generator CPU* are the shares of their CPUs that the system under test and the load generator used during the run (loadgen's own getrusage over its run, start-up excluded), and in parentheses the share the generator's CPU stayed idle: the kernel delivers the datagrams a generator sends over loopback in softirqs on its CPU, partly outside its own time, so a generator whose CPU kept no idle time may have been what limited the run; *other CPU* is the share other processes took of the server's / of the generator's CPU (the machine is shared). A server well below 100% was not the bottleneck (its load generator was, near 100% of its core); much other CPU on either core means other jobs took time from the run and its figures are understated.\n\n")
	for _, w := range r.Workloads {
		fmt.Fprintf(&b, "### %s\n\n%s.\n\n", w.Title, w.Note)
		b.WriteString("| system | QPS | avg ms | p99 ms | lost | vs CoreDNS kubeadm | vs CoreDNS cache 30 | vs NSD | loadgen / dnsperf | server CPU | generator CPU (idle) | other CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Systems {
			for _, gen := range []string{genDNSPerf, genLoadgen} {
				c := r.genCell(gen, w.ID, s.ID)
				if c == nil {
					continue
				}
				if c.Result == nil {
					fmt.Fprintf(&b, "| %s | n/a: %s | | | | | | | | | | |\n", rowName(s.Name, gen), c.NA)
					continue
				}
				res := c.Result
				name := rowName(s.Name, gen)
				if c.MaxQPS > 0 {
					name += fmt.Sprintf(" (-Q %d)", c.MaxQPS)
				}
				pair := "-"
				if gen == genLoadgen {
					pair = ratio(res.QPS, r.genQPS(genDNSPerf, w.ID, s.ID))
				}
				fmt.Fprintf(&b, "| %s | %.0f | %.3f | %.3f | %d (%.2f%%) | %s | %s | %s | %s | %.0f%% | %.0f%% (%.0f%%) | %.0f%% / %.0f%% |\n", name, res.QPS,
					ms(res.Avg), ms(res.P99), res.Lost, 100*float64(res.Lost)/math.Max(float64(res.Sent), 1),
					ratio(res.QPS, r.genQPS(gen, w.ID, "coredns")), ratio(res.QPS, r.genQPS(gen, w.ID, "coredns-cache")), ratio(res.QPS, r.genQPS(gen, w.ID, "nsd")),
					pair, 100*c.ServerCPU, 100*c.ClientCPU, 100*c.ClientIdle, 100*c.ForeignCPU, 100*c.ClientForeignCPU)
			}
		}
		for _, s := range r.Systems {
			for _, gen := range []string{genDNSPerf, genLoadgen} {
				if c := r.genCell(gen, w.ID, s.ID); c != nil && len(c.ProcessCPU) > 0 {
					fmt.Fprintf(&b, "\nCPU of %s by process (%s): %s.\n", s.Name, gen, strings.Trim(processSplit(c.ProcessCPU), "()"))
				}
				if c := r.genCell(gen, w.ID, s.ID); c != nil && c.Note != "" {
					fmt.Fprintf(&b, "\n%s (%s): %s.\n", s.Name, gen, c.Note)
				}
			}
		}
		b.WriteString("\n")
	}

	if len(r.Sync) > 0 {
		b.WriteString("## Sync time and memory on the full cluster\n\n")
		b.WriteString("Sync: from process start to ready (record service: gRPC health SERVING; CoreDNS: `ready` plugin). Peak RSS is VmHWM.\n\n")
		b.WriteString("| server | pods | sync s | peak RSS MB | RSS MB |\n|---|---|---:|---:|---:|\n")
		for _, s := range r.Sync {
			fmt.Fprintf(&b, "| %s | %s | %.2f | %.0f | %.0f |\n", s.System, s.Pods, s.Sync.Seconds(), mb(s.Memory.PeakRSS), mb(s.Memory.RSS))
		}
		fmt.Fprintf(&b, "| clusterdns frontend, idle after start | - | - | %.0f | %.0f |\n", mb(r.FrontendIdle.PeakRSS), mb(r.FrontendIdle.RSS))
		fmt.Fprintf(&b, "| clusterdns frontend, after all workloads (cache %s) | - | - | %.0f | %.0f |\n\n", r.FrontendCacheSize, mb(r.FrontendLoaded.PeakRSS), mb(r.FrontendLoaded.RSS))
	}

	if len(r.Propagation) > 0 {
		b.WriteString("## Propagation of API changes\n\n")
		b.WriteString(r.PropagationSetup + "\n\n")
		b.WriteString("| system | changes seen | p50 ms | p99 ms | max ms | not seen |\n|---|---:|---:|---:|---:|---:|\n")
		for _, name := range r.PropagationOrder {
			p := r.Propagation[name]
			if p == nil {
				continue
			}
			var maxLatency time.Duration
			if len(p.Latencies) > 0 {
				maxLatency = p.Latencies[len(p.Latencies)-1]
			}
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f | %d |\n", name, len(p.Latencies),
				ms(p.Percentile(0.50)), ms(p.Percentile(0.99)), ms(maxLatency), p.NotSeen)
		}
		b.WriteString("\n")
	}

	if r.Correctness != nil {
		fmt.Fprintf(&b, "## Answer check\n\n%d sampled questions per system compared with the generated cluster:\n\n", r.CorrectnessChecked)
		for _, s := range r.Systems {
			bad, ok := r.Correctness[s.ID]
			if !ok {
				continue
			}
			if len(bad) == 0 {
				fmt.Fprintf(&b, "- %s: all right\n", s.Name)
				continue
			}
			fmt.Fprintf(&b, "- %s: %d wrong, e.g. %s\n", s.Name, len(bad), strings.Join(bad[:min(3, len(bad))], "; "))
		}
		b.WriteString("\n")
	}

	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// Charts returns the bar charts of the report: QPS per workload and system
// with dnsperf and with loadgen, dnsperf's p99 latency, and memory on the
// full cluster.
func (r *Report) Charts() []BarChart {
	qps := BarChart{Title: "Queries per second with dnsperf, server pinned to one core (higher is better)", Unit: "QPS"}
	lqps := BarChart{Title: "Queries per second with bench/loadgen, server pinned to one core (higher is better)", Unit: "QPS"}
	p99 := BarChart{Title: "p99 latency with dnsperf, ms (lower is better)", Unit: "ms"}
	for _, s := range r.Systems {
		qps.Series = append(qps.Series, s.Name)
		lqps.Series = append(lqps.Series, s.Name)
		p99.Series = append(p99.Series, s.Name)
	}
	for _, w := range r.Workloads {
		if w.ID == "miss-half" || w.ID == "miss-fixed" {
			continue // rate-limited: their QPS is the limit
		}
		qps.Groups = append(qps.Groups, shortTitle(w.Title))
		p99.Groups = append(p99.Groups, shortTitle(w.Title))
		var qv, pv, lv []float64
		for _, s := range r.Systems {
			qv = append(qv, r.genQPS(genDNSPerf, w.ID, s.ID))
			lv = append(lv, r.genQPS(genLoadgen, w.ID, s.ID))
			pv = append(pv, math.NaN())
			if c := r.cell(w.ID, s.ID); c != nil && c.Result != nil {
				pv[len(pv)-1] = ms(c.Result.P99)
			}
		}
		qps.Values = append(qps.Values, qv)
		p99.Values = append(p99.Values, pv)
		if !w.Once {
			lqps.Groups = append(lqps.Groups, shortTitle(w.Title))
			lqps.Values = append(lqps.Values, lv)
		}
	}
	charts := []BarChart{qps, lqps, p99}
	if len(r.Sync) > 0 {
		mem := BarChart{
			Title:  "Peak RSS on the full cluster, MB (lower is better)",
			Unit:   "MB",
			Series: []string{"clusterdns", "CoreDNS"},
			Exact:  true, Missing: "-",
		}
		for _, pods := range []string{"verified", "insecure"} {
			values := []float64{math.NaN(), math.NaN()}
			for _, s := range r.Sync {
				if s.Pods != pods {
					continue
				}
				if strings.HasPrefix(s.System, "clusterdns") {
					values[0] = mb(s.Memory.PeakRSS)
				} else {
					values[1] = mb(s.Memory.PeakRSS)
				}
			}
			mem.Groups = append(mem.Groups, "pods "+pods+": record service vs CoreDNS")
			mem.Values = append(mem.Values, values)
		}
		mem.Groups = append(mem.Groups, "frontend, after all workloads")
		mem.Values = append(mem.Values, []float64{mb(r.FrontendLoaded.PeakRSS), math.NaN()})
		charts = append(charts, mem)
	}
	return charts
}

// rowName names a table row: the system, and for loadgen's runs the
// generator (dnsperf's rows keep the system's name alone).
func rowName(system, gen string) string {
	if gen == genLoadgen {
		return system + " with loadgen"
	}
	return system
}

// shortTitle drops the explanation after the workload number's first words.
func shortTitle(title string) string {
	if i := strings.Index(title, ","); i > 0 {
		return title[:i]
	}
	return title
}

// ratio formats a/b as "1.23x", or "-" when either is missing.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// ms converts to floating milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mb converts bytes to MB (2^20).
func mb(n int64) float64 { return float64(n) / (1 << 20) }

// processSplit formats a per-process CPU split: "(frontend 60%, recordsvc-insecure 30%)".
func processSplit(split map[string]float64) string {
	if len(split) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(split))
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", n, 100*split[n]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
