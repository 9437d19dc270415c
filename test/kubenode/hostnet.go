package kubenode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Host network setup: the bridge, unreachable routes, the egress chain, the
// sysctls pods need and the probe namespace. Everything here is undone by
// teardownHostNetwork, which tolerates any part being gone already.

const (
	// probeVeth is the host end of the probe namespace's veth pair.
	probeVeth = "cdnsprobe0"
	// sysctlFile records the sysctl values found before Up changed them.
	sysctlFile = "sysctl.json"
)

// nodeSysctls are set for the node and restored by Down: forwarding so that
// Service traffic DNATed to a pod is routed, and bridge netfilter so that
// kube-proxy's rules see traffic between pods on the bridge.
var nodeSysctls = []string{
	"/proc/sys/net/ipv4/ip_forward",
	"/proc/sys/net/bridge/bridge-nf-call-iptables",
}

// run runs a command and returns its output; the error carries the output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// preflight fails when the host already has what setupHostNetwork would
// make: another node runs, or the host uses these addresses. It runs before
// the node's config is saved, so that Down never removes what another node
// or the host owns.
func preflight(ctx context.Context, c Config) error {
	for _, prefix := range []string{c.PodCIDR.String(), c.ServiceCIDR.String()} {
		out, err := run(ctx, "ip", "-4", "route", "show", "exact", prefix)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("the host already routes %s (%s): give the node other CIDRs or remove that route", prefix, strings.TrimSpace(out))
		}
	}
	if _, err := run(ctx, "ip", "link", "show", c.Bridge); err == nil {
		return fmt.Errorf("a link named %s exists and is not this node's (another node running? `make cluster-down` removes that one)", c.Bridge)
	}
	if _, err := os.Stat("/var/run/netns/" + probeNetns); err == nil {
		return fmt.Errorf("network namespace %s exists: another node is running", probeNetns)
	}
	if _, err := run(ctx, "iptables", "-w", "-S", egressChain); err == nil {
		return fmt.Errorf("iptables chain %s exists: another node is running", egressChain)
	}
	return nil
}

// setupHostNetwork makes the node's network safe before any component runs.
func setupHostNetwork(ctx context.Context, c Config) error {
	// Routes first: from here on a packet to the pod or Service range that no
	// rule of ours claims is dropped on this host, never sent out.
	for _, prefix := range []string{c.PodCIDR.String(), c.ServiceCIDR.String()} {
		if _, err := run(ctx, "ip", "route", "add", "unreachable", prefix); err != nil {
			return err
		}
	}
	if err := setupEgressChains(ctx, c); err != nil {
		return err
	}
	if err := setSysctls(c); err != nil {
		return err
	}
	gw := fmt.Sprintf("%s/%d", c.Gateway(), c.NodePodCIDR.Bits())
	steps := [][]string{
		{"ip", "link", "add", c.Bridge, "type", "bridge"},
		{"ip", "addr", "add", gw, "dev", c.Bridge},
		{"ip", "link", "set", c.Bridge, "up"},
		{"ip", "netns", "add", probeNetns},
		{"ip", "link", "add", probeVeth, "type", "veth", "peer", "name", "eth0", "netns", probeNetns},
		{"ip", "link", "set", probeVeth, "master", c.Bridge, "up"},
		{"ip", "-n", probeNetns, "addr", "add", fmt.Sprintf("%s/%d", c.probeAddr(), c.NodePodCIDR.Bits()), "dev", "eth0"},
		{"ip", "-n", probeNetns, "link", "set", "lo", "up"},
		{"ip", "-n", probeNetns, "link", "set", "eth0", "up"},
		{"ip", "-n", probeNetns, "route", "add", "default", "via", c.Gateway().String()},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// egressRules are the harness's chain: pod traffic may go to pods, Services
// and the node (the gateway is inside the pod CIDR); anything else is refused.
// The filter twin rejects (a quick error for the pod), the mangle twin drops
// in POSTROUTING whatever another chain accepted before ours.
func egressRules(c Config, table string) [][]string {
	final := []string{"-j", "REJECT", "--reject-with", "icmp-net-prohibited"}
	if table == "mangle" {
		final = []string{"-j", "DROP"}
	}
	pod, svc := c.PodCIDR.String(), c.ServiceCIDR.String()
	return [][]string{
		{"-s", pod, "-d", pod, "-j", "RETURN"},
		{"-s", pod, "-d", svc, "-j", "RETURN"},
		append([]string{"-s", pod}, final...),
	}
}

// egressJumps are the built-in chains that jump to the harness's chain.
var egressJumps = map[string][]string{
	"filter": {"FORWARD", "INPUT"},
	"mangle": {"POSTROUTING"},
}

// setupEgressChains creates the harness's chains and jumps to them first.
func setupEgressChains(ctx context.Context, c Config) error {
	for _, table := range []string{"filter", "mangle"} {
		if _, err := run(ctx, "iptables", "-w", "-t", table, "-N", egressChain); err != nil {
			return err
		}
		for _, rule := range egressRules(c, table) {
			if _, err := run(ctx, "iptables", append([]string{"-w", "-t", table, "-A", egressChain}, rule...)...); err != nil {
				return err
			}
		}
		for _, builtin := range egressJumps[table] {
			if _, err := run(ctx, "iptables", "-w", "-t", table, "-I", builtin, "1", "-j", egressChain); err != nil {
				return err
			}
		}
	}
	return nil
}

// setSysctls records the current values and turns forwarding and bridge
// netfilter on.
func setSysctls(c Config) error {
	if _, err := os.Stat(nodeSysctls[1]); errors.Is(err, os.ErrNotExist) {
		// br_netfilter is a module; loading it creates the bridge sysctls.
		if _, err := run(context.Background(), "modprobe", "br_netfilter"); err != nil {
			return fmt.Errorf("bridge netfilter is unavailable (%s missing): %w", nodeSysctls[1], err)
		}
	}
	saved := map[string]string{}
	for _, p := range nodeSysctls {
		v, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("sysctl: %w", err)
		}
		saved[p] = strings.TrimSpace(string(v))
	}
	data, err := json.Marshal(saved)
	if err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	if err := os.WriteFile(c.path(sysctlFile), data, 0o644); err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	for _, p := range nodeSysctls {
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", p, err)
		}
	}
	return nil
}

// teardownHostNetwork removes what setupHostNetwork made and restores the
// sysctls. Parts already gone are skipped; the first real failure is returned
// after every step has been tried.
func teardownHostNetwork(ctx context.Context, c Config) error {
	var errs []error
	ignore := func(_ string, err error) {
		// Deleting what is not there fails; that is the idempotent case.
		_ = err
	}
	ignore(run(ctx, "ip", "netns", "delete", probeNetns))
	ignore(run(ctx, "ip", "link", "delete", probeVeth))
	if out, err := run(ctx, "ip", "-o", "link", "show", "master", c.Bridge); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if name := linkName(line); name != "" {
				ignore(run(ctx, "ip", "link", "delete", name))
			}
		}
	}
	ignore(run(ctx, "ip", "link", "delete", c.Bridge, "type", "bridge"))
	for _, prefix := range []string{c.PodCIDR.String(), c.ServiceCIDR.String()} {
		ignore(run(ctx, "ip", "route", "delete", "unreachable", prefix))
	}
	for table, builtins := range egressJumps {
		for _, builtin := range builtins {
			for range 10 {
				if _, err := run(ctx, "iptables", "-w", "-t", table, "-D", builtin, "-j", egressChain); err != nil {
					break
				}
			}
		}
		ignore(run(ctx, "iptables", "-w", "-t", table, "-F", egressChain))
		ignore(run(ctx, "iptables", "-w", "-t", table, "-X", egressChain))
	}
	if err := restoreSysctls(c); err != nil {
		errs = append(errs, err)
	}
	for _, prefix := range []string{c.PodCIDR.String(), c.ServiceCIDR.String()} {
		if out, _ := run(ctx, "ip", "-4", "route", "show", "type", "unreachable", "exact", prefix); strings.TrimSpace(out) != "" {
			errs = append(errs, fmt.Errorf("unreachable route %s is still there", prefix))
		}
	}
	return errors.Join(errs...)
}

// restoreSysctls writes back the values recorded by setSysctls.
func restoreSysctls(c Config) error {
	data, err := os.ReadFile(c.path(sysctlFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysctl: %w", err)
	}
	saved := map[string]string{}
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("sysctl: %s: %w", c.path(sysctlFile), err)
	}
	for p, v := range saved {
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return fmt.Errorf("sysctl: restore %s: %w", p, err)
		}
	}
	return os.Remove(c.path(sysctlFile))
}

// linkName returns the interface name of a line of `ip -o link show`
// ("7: veth1234@if3: <...>" gives "veth1234").
func linkName(line string) string {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
	return name
}
