package kubenode

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodeBinaries are the programs a node runs. A process is the node's when its
// program is one of these and its command line names the state directory
// (every component's flags point into it; a shim's -address is the node's
// containerd socket).
var nodeBinaries = map[string]bool{
	"etcd": true, "kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true,
	"kubelet": true, "kube-proxy": true, "containerd": true, "containerd-shim-runc-v2": true,
}

// proc is one entry of /proc.
type proc struct {
	pid, ppid int
	argv      []string
}

// listProcs reads every process's command line and parent.
func listProcs() []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in stat may hold spaces and parentheses; the
		// fields after the last ')' are fixed: state, then ppid.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		out = append(out, proc{pid: pid, ppid: ppid, argv: argv})
	}
	return out
}

// nodeProcs returns the node's processes whose program is in names (all node
// programs when names is empty) and, with descendants, everything they
// started (the containers under a shim). The caller and its ancestors are
// never included.
func nodeProcs(stateDir string, descendants bool, names ...string) []int {
	procs := listProcs()
	protected := map[int]bool{}
	for pid := os.Getpid(); pid > 1; {
		protected[pid] = true
		next := 0
		for _, p := range procs {
			if p.pid == pid {
				next = p.ppid
			}
		}
		pid = next
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	picked := map[int]bool{}
	for _, p := range procs {
		if protected[p.pid] || len(p.argv) == 0 {
			continue
		}
		prog := filepath.Base(p.argv[0])
		if !nodeBinaries[prog] || (len(want) > 0 && !want[prog]) {
			continue
		}
		if strings.Contains(strings.Join(p.argv, " "), stateDir+"/") {
			picked[p.pid] = true
		}
	}
	if descendants {
		for changed := true; changed; {
			changed = false
			for _, p := range procs {
				if !picked[p.pid] && picked[p.ppid] && !protected[p.pid] {
					picked[p.pid] = true
					changed = true
				}
			}
		}
	}
	out := make([]int, 0, len(picked))
	for pid := range picked {
		out = append(out, pid)
	}
	return out
}

// killProcs sends SIGTERM, waits up to grace for the processes to go, then
// SIGKILLs the rest and waits for them to disappear.
func killProcs(pids []int, grace time.Duration) {
	signalAll := func(sig syscall.Signal) {
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
	}
	alive := func() bool {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil && !zombie(pid) {
				return true
			}
		}
		return false
	}
	if grace > 0 {
		signalAll(syscall.SIGTERM)
		for deadline := time.Now().Add(grace); alive() && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
	}
	signalAll(syscall.SIGKILL)
	for deadline := time.Now().Add(10 * time.Second); alive() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
}

// zombie reports whether pid has exited and waits to be reaped.
func zombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}
