package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPUSnapshot is the CPU time, in clock ticks, spent so far on one CPU and by
// the processes under test, to tell how much of a run's server CPU went to
// anything else (other jobs on a shared machine).
type CPUSnapshot struct {
	// CPUBusy is user+nice+system time of the CPU; CPUAll includes idle,
	// I/O wait, interrupts and steal too; CPUIdle is idle and I/O wait.
	CPUBusy, CPUAll, CPUIdle uint64
	// Processes is the user+system time of the processes and their
	// descendants; PerProcess splits it by the PIDs given.
	Processes  uint64
	PerProcess map[int]uint64
}

// TakeCPUSnapshot reads /proc/stat for cpu (Unpinned: all CPUs) and
// /proc/PID/stat for pids and their descendants.
func TakeCPUSnapshot(cpu int, pids []int) (CPUSnapshot, error) {
	var s CPUSnapshot
	busy, all, idle, err := cpuTicks(cpu)
	if err != nil {
		return s, err
	}
	s.CPUBusy, s.CPUAll, s.CPUIdle = busy, all, idle
	tree, err := processTree()
	if err != nil {
		return s, err
	}
	seen := map[int]bool{}
	var add func(root, pid int)
	add = func(root, pid int) {
		if seen[pid] || tree[pid] == nil {
			return
		}
		seen[pid] = true
		s.Processes += tree[pid].ticks
		s.PerProcess[root] += tree[pid].ticks
		for _, child := range tree[pid].children {
			add(root, child)
		}
	}
	s.PerProcess = map[int]uint64{}
	for _, pid := range pids {
		add(pid, pid)
	}
	return s, nil
}

// CPUShares returns, between two snapshots, the share of the CPU's time
// that the processes took (own) and that anything else kept busy (foreign),
// each from 0 to 1. A server far below 1 was not the bottleneck of its run;
// foreign time is other jobs on a shared machine, taking the CPU either from
// the server or only the time it left idle. Kernel time in interrupts is in
// neither.
func CPUShares(before, after CPUSnapshot) (own, foreign float64) {
	all := float64(after.CPUAll - before.CPUAll)
	if all <= 0 {
		return 0, 0
	}
	busy := float64(after.CPUBusy - before.CPUBusy)
	mine := float64(after.Processes - before.Processes)
	return min(mine/all, 1), max(busy-mine, 0) / all
}

// userHZ is the unit of the CPU times in /proc: sysconf(_SC_CLK_TCK), 100
// on every Linux platform.
const userHZ = 100

// DurationShare returns the share of the CPU's time between two snapshots
// that d of CPU time (of a process that ran only on that CPU) amounts to,
// and the share that something else kept the CPU busy.
func DurationShare(before, after CPUSnapshot, d time.Duration) (own, foreign float64) {
	all := float64(after.CPUAll - before.CPUAll)
	if all <= 0 {
		return 0, 0
	}
	mine := d.Seconds() * userHZ
	busy := float64(after.CPUBusy - before.CPUBusy)
	return min(mine/all, 1), max(busy-mine, 0) / all
}

// IdleShare returns the share of the CPU's time between two snapshots that
// it was idle. A load generator's own CPU time does not tell how much of
// its CPU it left: the kernel delivers the datagrams it sends over
// loopback in softirqs on its CPU, accounted partly to it and partly to
// the softirq line of /proc/stat. What stayed idle is what it left.
func IdleShare(before, after CPUSnapshot) float64 {
	all := float64(after.CPUAll - before.CPUAll)
	if all <= 0 {
		return 0
	}
	return float64(after.CPUIdle-before.CPUIdle) / all
}

// ProcessShare returns the share of the CPU's time between two snapshots
// that process pid (with its descendants) took.
func ProcessShare(before, after CPUSnapshot, pid int) float64 {
	all := float64(after.CPUAll - before.CPUAll)
	if all <= 0 {
		return 0
	}
	return float64(after.PerProcess[pid]-before.PerProcess[pid]) / all
}

// cpuTicks returns the busy (user+nice+system), total and idle (idle and
// I/O wait) ticks of one CPU line of /proc/stat.
func cpuTicks(cpu int) (busy, all, idle uint64, err error) {
	name := "cpu"
	if cpu != Unpinned {
		name = "cpu" + strconv.Itoa(cpu)
	}
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("cpu time: %w", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 8 || fields[0] != name {
			continue
		}
		for i, v := range fields[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("cpu time: %s: %w", name, err)
			}
			// user nice system idle iowait irq softirq steal guest guest_nice;
			// guest time is already inside user.
			if i >= 8 {
				break
			}
			all += n
			switch {
			case i < 3:
				busy += n
			case i < 5:
				idle += n
			}
		}
		return busy, all, idle, nil
	}
	if err := scanner.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("cpu time: %w", err)
	}
	return 0, 0, 0, fmt.Errorf("cpu time: no %s in /proc/stat", name)
}

// procInfo is what processTree keeps of a process.
type procInfo struct {
	ticks    uint64
	children []int
}

// processTree reads every process's CPU time (utime+stime) and children.
func processTree() (map[int]*procInfo, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, fmt.Errorf("process tree: %w", err)
	}
	tree := map[int]*procInfo{}
	get := func(pid int) *procInfo {
		if tree[pid] == nil {
			tree[pid] = &procInfo{}
		}
		return tree[pid]
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended meanwhile
		}
		pid, ppid, ticks, err := parseStat(data)
		if err != nil {
			continue
		}
		get(pid).ticks = ticks
		get(ppid).children = append(get(ppid).children, pid)
	}
	return tree, nil
}

// parseStat extracts pid, ppid and utime+stime from a /proc/PID/stat line.
func parseStat(data []byte) (pid, ppid int, ticks uint64, err error) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return 0, 0, 0, fmt.Errorf("stat: no command name in %q", data)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(data[:open])))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stat: pid: %w", err)
	}
	// After the name: state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 13 {
		return 0, 0, 0, fmt.Errorf("stat: too few fields in %q", data)
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, 0, fmt.Errorf("stat: ppid: %w", err)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, fmt.Errorf("stat: cpu times in %q", data)
	}
	return pid, ppid, utime + stime, nil
}
