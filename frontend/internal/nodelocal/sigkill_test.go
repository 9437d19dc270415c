package nodelocal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Roles of the test binary when this file's tests run it again.
const (
	// holderEnv: hold the addresses and answer on them until killed.
	holderEnv = "NODELOCAL_SERVE"
	// clientEnv: ask the kube-dns IP for the given milliseconds (inside the
	// pod namespace) and print the counts as JSON.
	clientEnv = "NODELOCAL_ASK_MS"
)

// Addresses of the pod namespace's link, and the fallback server on the
// node's side of it (kube-proxy's DNAT sends the kube-dns IP there).
var (
	nodeSide = netip.MustParseAddr("198.51.100.1")
	podSide  = netip.MustParseAddr("198.51.100.2")
	fallback = netip.AddrPortFrom(nodeSide, 5300)
)

// TestSIGKILLUnderLoad kills a frontend stand-in (a process holding the
// addresses and answering on them) while a pod keeps asking the kube-dns IP,
// with a stand-in for kube-proxy's DNAT to the Service. Every query must be
// answered, by the holder or the fallback, or time out if it was in flight
// at the kill; none may be refused.
func TestSIGKILLUnderLoad(t *testing.T) {
	switch {
	case os.Getenv(holderEnv) != "":
		hold(t)
		return
	case os.Getenv(clientEnv) != "":
		askFor(t)
		return
	}
	if !inNetns(t) {
		return
	}
	pod := setUpPod(t)
	for round := range 3 {
		c := killUnderLoad(t, pod)
		t.Logf("round %d: %+v", round, c)
		if c.Refused > 0 || c.Holder == 0 || c.Fallback == 0 {
			t.Errorf("round %d: %d queries refused around the SIGKILL (want 0), %d answered by the holder and %d by the fallback (want some of each)",
				round, c.Refused, c.Holder, c.Fallback)
		}
	}
}

// hold is the holder's part: Up, servers, Activate, then wait to be killed.
func hold(t *testing.T) {
	addrs := []netip.Addr{linkLocal, kubeDNS}
	s, err := Up(Config{Addresses: addrs, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	startServers(t, addrs, "holder")
	if err := s.Activate(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
}

// counts are the client's results.
type counts struct {
	Holder, Fallback, Refused, Other int
}

// askFor is the client's part: four askers for the given time, each query
// with a socket of its own as stub resolvers do.
func askFor(t *testing.T) {
	ms, err := strconv.Atoi(os.Getenv(clientEnv))
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(time.Duration(ms) * time.Millisecond)
	var (
		mu sync.Mutex
		c  counts
		wg sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			cl := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
			for i := 0; i < 50000 && time.Now().Before(end); i++ {
				m := new(dns.Msg)
				m.SetQuestion("probe.example.", dns.TypeTXT)
				r, _, err := cl.Exchange(m, netip.AddrPortFrom(kubeDNS, 53).String())
				mu.Lock()
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					c.Refused++
				case err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.TXT).Txt[0] == "holder":
					c.Holder++
				case err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.TXT).Txt[0] == "fallback":
					c.Fallback++
				default:
					c.Other++ // the queries in flight at the kill time out
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("counts %s\n", b)
}

// setUpPod makes a pod: a namespace whose queries reach this one over a
// veth, as a pod's reach the node, and the DNAT of the kube-dns IP to a
// fallback server, as kube-proxy's to the Service's endpoints. It returns
// the pod namespace's name, deleted at cleanup.
func setUpPod(t *testing.T) string {
	t.Helper()
	pod := fmt.Sprintf("cdns-nl-pod-%d", os.Getpid())
	run(t, "ip", "netns", "add", pod)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", pod).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", pod, err, out)
		}
	})
	run(t, "ip", "link", "set", "lo", "up")
	run(t, "ip", "link", "add", "pod0", "type", "veth", "peer", "name", "pod1")
	run(t, "ip", "link", "set", "pod1", "netns", pod)
	run(t, "ip", "addr", "add", nodeSide.String()+"/24", "dev", "pod0")
	run(t, "ip", "link", "set", "pod0", "up")
	run(t, "ip", "-n", pod, "link", "set", "lo", "up")
	run(t, "ip", "-n", pod, "addr", "add", podSide.String()+"/24", "dev", "pod1")
	run(t, "ip", "-n", pod, "link", "set", "pod1", "up")
	run(t, "ip", "-n", pod, "route", "add", "default", "via", nodeSide.String())
	// Without the DNAT the Service range leads nowhere.
	run(t, "ip", "route", "add", "unreachable", "10.96.0.0/12")
	run(t, "iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-d", kubeDNS.String(), "-p", "udp", "--dport", "53",
		"-j", "DNAT", "--to-destination", fallback.String())
	startServer(t, fallback.String(), "fallback")
	return pod
}

// killUnderLoad starts a holder, has the pod ask the kube-dns IP for three
// seconds, SIGKILLs the holder a second in, and returns the pod's counts.
func killUnderLoad(t *testing.T, pod string) counts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	holder := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestSIGKILLUnderLoad$", "-test.count=1")
	holder.Env = append(os.Environ(), holderEnv+"=1")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	}()
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		t.Fatal("the holder did not start")
	}

	var c counts
	done := make(chan error, 1)
	go func() {
		var err error
		c, err = askFromPod(ctx, pod, 3*time.Second)
		done <- err
	}()
	time.Sleep(time.Second)
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNoSocketFallsBack holds the addresses with nothing listening on them,
// the state between a killed frontend's sockets and its device going away:
// a pod's query to the kube-dns IP must reach the Service, not be delivered
// locally and refused.
func TestNoSocketFallsBack(t *testing.T) {
	if os.Getenv(clientEnv) != "" {
		askFor(t)
		return
	}
	if !inNetns(t) {
		return
	}
	pod := setUpPod(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addrs := []netip.Addr{linkLocal, kubeDNS}
	s, err := Up(Config{Addresses: addrs, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	stop := startServers(t, addrs, "holder")
	if err := s.Activate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		before       func()
		holder, back bool
	}{
		{name: "listening", before: func() {}, holder: true},
		{name: "sockets closed, device up", before: stop, back: true},
	} {
		tc.before()
		c, err := askFromPod(ctx, pod, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if c.Refused+c.Other > 0 || (c.Holder > 0) != tc.holder || (c.Fallback > 0) != tc.back {
			t.Errorf("%s: %+v, want answers from the holder %v, from the fallback %v, no other outcome",
				tc.name, c, tc.holder, tc.back)
		}
	}
}

// askFromPod runs this test binary as a client in the pod namespace for d
// and returns its counts.
func askFromPod(ctx context.Context, pod string, d time.Duration) (counts, error) {
	client := exec.CommandContext(ctx, "ip", "netns", "exec", pod, os.Args[0],
		"-test.run", "^(TestSIGKILLUnderLoad|TestNoSocketFallsBack)$", "-test.count=1")
	client.Env = append(os.Environ(), clientEnv+"="+strconv.Itoa(int(d.Milliseconds())))
	var c counts
	out, err := client.Output()
	if err == nil {
		err = parseCounts(out, &c)
	}
	if err != nil {
		return c, fmt.Errorf("client in %s: %w", pod, err)
	}
	return c, nil
}

// parseCounts reads the client's "counts {...}" line.
func parseCounts(out []byte, c *counts) error {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "counts "); ok {
			return json.Unmarshal([]byte(s), c)
		}
	}
	return fmt.Errorf("no counts in %q", out)
}
