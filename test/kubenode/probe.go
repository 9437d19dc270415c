package kubenode

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// InProbeNetns runs fn on a thread inside the harness's probe network
// namespace, an address on the bridge like a pod's: Service addresses are
// reached there through kube-proxy's rules, which the host's own sockets
// cannot use (the Service CIDR is unreachable from the host). Sockets fn
// opens stay in that namespace; goroutines fn starts do not enter it.
func InProbeNetns(fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("probe netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + probeNetns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("probe netns: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("probe netns: enter: %w", err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime retires it with the
		// goroutine instead of reusing it in the wrong namespace.
		return fmt.Errorf("probe netns: leave: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// QueryFromProbe sends one DNS question to server (IP:port or IP, port 53)
// from the probe namespace over "udp" or "tcp" and returns the reply.
func QueryFromProbe(ctx context.Context, server, network, name string, qtype uint16) (*dns.Msg, error) {
	if _, err := netip.ParseAddr(server); err == nil {
		server = net.JoinHostPort(server, "53")
	}
	req := new(dns.Msg)
	req.SetQuestion(dns.Fqdn(name), qtype)
	req.RecursionDesired = true
	timeout := 3 * time.Second
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	client := &dns.Client{Net: network, Timeout: timeout}
	var resp *dns.Msg
	err := InProbeNetns(func() error {
		var err error
		resp, _, err = client.ExchangeContext(ctx, req, server)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s @%s over %s: %w", dns.TypeToString[qtype], name, server, network, err)
	}
	if resp == nil {
		return nil, fmt.Errorf("%s %s @%s over %s: %w", dns.TypeToString[qtype], name, server, network, errNoAnswer)
	}
	return resp, nil
}
