package kubenode

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// kubelet and kube-proxy leave iptables chains behind (KUBE-FIREWALL,
// KUBE-KUBELET-CANARY, KUBE-SERVICES, ...), and so does the portmap CNI
// plugin when a pod's sandbox is not torn down through CRI (CNI-HOSTPORT-*,
// CNI-DN-*). Down deletes the jumps to them from the built-in chains, then
// the chains, in both address families. Whole tables are never flushed: they
// may hold rules that are not the node's.

// ownedChainPrefixes are the chain name prefixes the node's components use.
var ownedChainPrefixes = []string{"KUBE-", "CNI-HOSTPORT-", "CNI-DN-"}

// ownedChain reports whether a chain is one the node's components create.
func ownedChain(name string) bool {
	for _, p := range ownedChainPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// removeKubeChains removes the owned chains and every rule that jumps to them.
func removeKubeChains(ctx context.Context) error {
	var errs []error
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			if err := removeChainsOf(ctx, tool, table); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeChainsOf cleans one table of one address family.
func removeChainsOf(ctx context.Context, tool, table string) error {
	out, err := run(ctx, tool, "-w", "-t", table, "-S")
	if err != nil {
		// A family or table the kernel lacks holds nothing of ours.
		return nil
	}
	var chains []string
	for _, line := range strings.Split(out, "\n") {
		args := splitRule(line)
		if len(args) < 2 {
			continue
		}
		switch {
		case args[0] == "-N" && ownedChain(args[1]):
			chains = append(chains, args[1])
		case args[0] == "-A" && !ownedChain(args[1]) && jumpsToOwned(args):
			// A jump from a chain that is not ours (a built-in one).
			del := append([]string{"-w", "-t", table, "-D"}, args[1:]...)
			if _, err := run(ctx, tool, del...); err != nil {
				return err
			}
		}
	}
	for _, ch := range chains {
		if _, err := run(ctx, tool, "-w", "-t", table, "-F", ch); err != nil {
			return err
		}
	}
	for _, ch := range chains {
		if _, err := run(ctx, tool, "-w", "-t", table, "-X", ch); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

// jumpsToOwned reports whether a rule's target (-j or -g) is an owned chain.
func jumpsToOwned(args []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "-j" || args[i] == "-g") && ownedChain(args[i+1]) {
			return true
		}
	}
	return false
}

// splitRule splits a line of `iptables -S` into arguments; double-quoted
// words (comments) keep their spaces and lose the quotes.
func splitRule(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			inQuote = !inQuote
			inWord = true
		case (ch == ' ' || ch == '\t') && !inQuote:
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}
