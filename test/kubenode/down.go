package kubenode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Down removes everything a node made in stateDir, whether it stopped cleanly
// or crashed: processes (kubelet first, so it restarts nothing), containers
// and their processes, pod network namespaces, mounts, the bridge, routes,
// iptables chains and the state directory itself. It is idempotent: a missing
// state directory is nothing to do.
func Down(ctx context.Context, stateDir string) error {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return fmt.Errorf("down: %w", err)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	c, err := LoadConfig(abs)
	if errors.Is(err, os.ErrNotExist) {
		// Up saves the config before it makes anything but files, so
		// there is nothing else to remove; above all not the bridge or
		// routes of another node that shares the default names.
		// Nor is the directory removed with whatever it holds: it may not
		// be a node's at all. Only the detached supervisor's files go.
		for _, f := range supervisorFiles {
			_ = os.Remove(filepath.Join(abs, f))
		}
		_ = os.Remove(abs)
		return nil
	}
	if err != nil {
		return fmt.Errorf("down: %w", err)
	}
	var errs []error
	killProcs(nodeProcs(c.StateDir, false, "kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager"), 5*time.Second)
	removeContainers(ctx, c)
	// Containers first (SIGKILL, they hold nothing worth a grace period),
	// then containerd and the control plane.
	killProcs(nodeProcs(c.StateDir, true, "containerd-shim-runc-v2"), 0)
	killProcs(nodeProcs(c.StateDir, true), 5*time.Second)

	deletePodNetns(ctx, c)
	if err := unmountUnder(c.StateDir); err != nil {
		errs = append(errs, err)
	}
	if err := teardownHostNetwork(ctx, c); err != nil {
		errs = append(errs, err)
	}
	if err := removeKubeChains(ctx); err != nil {
		errs = append(errs, err)
	}
	removeContainerLogLinks(c)
	if len(errs) > 0 {
		return fmt.Errorf("down %s: %w", c.StateDir, errors.Join(errs...))
	}
	// Only with nothing mounted below it: RemoveAll would otherwise reach
	// into whatever a leftover mount shows. The detached supervisor's log
	// stays, so that a failed start can be read; `kubenode down` removes it.
	entries, err := os.ReadDir(c.StateDir)
	if err != nil {
		return fmt.Errorf("down: %w", err)
	}
	for _, e := range entries {
		if slices.Contains(supervisorFiles, e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(c.StateDir, e.Name())); err != nil {
			return fmt.Errorf("down: %w", err)
		}
	}
	_ = os.Remove(c.StateDir)
	return nil
}

// supervisorFiles are what `kubenode up -detach` writes into a state
// directory before the node saves its config.
var supervisorFiles = []string{"kubenode.log", "kubenode.pid"}

// removeContainers kills and deletes the node's containers through its
// containerd when that still answers, so runc removes their cgroups.
func removeContainers(ctx context.Context, c Config) {
	sock := c.containerdSocket()
	if _, err := os.Stat(sock); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ctr := func(args ...string) (string, error) {
		return run(ctx, "ctr", append([]string{"--address", sock, "-n", "k8s.io"}, args...)...)
	}
	out, err := ctr("tasks", "list", "-q")
	if err != nil {
		return
	}
	tasks := strings.Fields(out)
	for _, id := range tasks {
		_, _ = ctr("tasks", "kill", "--all", "--signal", "SIGKILL", id)
	}
	// One listing per round rather than a retry per task: with a dozen
	// tasks, per-task retries of ctr add up to a minute.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		out, err := ctr("tasks", "list")
		if err != nil || !strings.Contains(out, "RUNNING") {
			break
		}
	}
	for _, id := range tasks {
		_, _ = ctr("tasks", "delete", "--force", id)
	}
	if out, err := ctr("containers", "list", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = ctr("containers", "delete", id)
		}
	}
}

// netnsBeforeFile lists the CNI network namespaces that existed before Up,
// which Down must leave alone.
const netnsBeforeFile = "netns-before"

// cniNetns lists the names of the CNI network namespaces on the host.
func cniNetns() []string {
	entries, _ := os.ReadDir("/var/run/netns")
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// recordNetnsBefore writes the CNI namespaces that exist before the node
// starts, so Down can tell the node's empty ones from others'.
func recordNetnsBefore(c Config) error {
	if err := os.WriteFile(c.path(netnsBeforeFile), []byte(strings.Join(cniNetns(), "\n")), 0o644); err != nil {
		return fmt.Errorf("record network namespaces: %w", err)
	}
	return nil
}

// deletePodNetns deletes the network namespaces the CNI plugins made for the
// node's pods: those holding an address of the node's pod CIDR, and those
// made since Up that hold no address but loopback's (a sandbox torn down
// half-way while its pod was deleted leaves an empty namespace behind).
// Deleting one also removes its veth pair.
func deletePodNetns(ctx context.Context, c Config) {
	before := map[string]bool{}
	recorded := false
	if b, err := os.ReadFile(c.path(netnsBeforeFile)); err == nil {
		recorded = true
		for _, name := range strings.Fields(string(b)) {
			before[name] = true
		}
	}
	for _, name := range cniNetns() {
		out, err := run(ctx, "ip", "-n", name, "-4", "-o", "addr", "show")
		if err != nil {
			continue
		}
		ours := holdsAddrIn(out, c.NodePodCIDR) || (recorded && !before[name] && onlyLoopback(out))
		if ours {
			_, _ = run(ctx, "ip", "netns", "delete", name)
		}
	}
}

// onlyLoopback reports whether `ip -o addr` output shows no address but
// loopback's.
func onlyLoopback(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[1] != "lo" {
			return false
		}
	}
	return true
}

// holdsAddrIn reports whether `ip -o addr` output shows an address in prefix.
func holdsAddrIn(out string, prefix netip.Prefix) bool {
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		for i, f := range fields {
			if f != "inet" || i+1 >= len(fields) {
				continue
			}
			if p, err := netip.ParsePrefix(fields[i+1]); err == nil && prefix.Contains(p.Addr()) {
				return true
			}
		}
	}
	return false
}

// unmountUnder lazily unmounts every mount at or below dir, deepest first,
// and reports any that remain.
func unmountUnder(dir string) error {
	var left []string
	for range 3 {
		mounts, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
		for _, m := range mounts {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
		left = mounts
	}
	if mounts, err := mountsUnder(dir); err != nil || len(mounts) > 0 {
		return fmt.Errorf("mounts left under %s: %v", dir, left)
	}
	return nil
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mounts: %w", err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		// mountinfo escapes spaces and the like as octal; our paths have none.
		mp := fields[4]
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, s.Err()
}

// removeContainerLogLinks removes kubelet's links in /var/log/containers
// that point into the node's pod log directory.
func removeContainerLogLinks(c Config) {
	const dir = "/var/log/containers"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(target, c.StateDir+"/") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
