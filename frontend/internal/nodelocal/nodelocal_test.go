package nodelocal

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var (
	linkLocal = netip.MustParseAddr("169.254.20.10")
	kubeDNS   = netip.MustParseAddr("10.96.0.10")
)

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "169.254.20.10,10.96.0.10", want: "[169.254.20.10 10.96.0.10]"},
		{in: "fd00::a, 169.254.20.10", want: "[fd00::a 169.254.20.10]"},
		{in: "", wantErr: "address"},
		{in: "169.254.20.10,169.254.20.10", wantErr: "given twice"},
		{in: "0.0.0.0", wantErr: "not a unicast"},
		{in: "10.96.0.10:53", wantErr: "address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddresses(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAddresses(%q) = %v, %v; want error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := fmtAddrs(got); s != tt.want {
				t.Fatalf("ParseAddresses(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func fmtAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestHandoverAndFallback runs in a namespace of its own with a stand-in
// for kube-proxy (a DNAT of the kube-dns IP to a fallback server): the
// node-local addresses answer while a Setup holds them, even with the DNAT
// in place; a second Setup takes them over with no gap; when the device
// goes without cleanup (as after SIGKILL) the table left behind is inert
// and the kube-dns IP reaches the fallback again; the next Up replaces the
// table and Close leaves nothing.
func TestHandoverAndFallback(t *testing.T) {
	if !inNetns(t) {
		return
	}
	run(t, "ip", "link", "set", "lo", "up")
	// A route for the Service range that leads nowhere, so that a packet to
	// the kube-dns IP reaches the DNAT rule as on a node.
	run(t, "ip", "link", "add", "svc0", "type", "veth", "peer", "name", "svc1")
	run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "svc0")
	run(t, "ip", "link", "set", "svc0", "up")
	run(t, "ip", "link", "set", "svc1", "up")
	run(t, "ip", "route", "add", "10.96.0.0/12", "via", "192.0.2.2")
	for _, p := range []string{"udp", "tcp"} {
		run(t, "iptables", "-w", "-t", "nat", "-A", "OUTPUT", "-d", kubeDNS.String(), "-p", p, "--dport", "53",
			"-j", "DNAT", "--to-destination", "127.0.0.1:5300")
	}
	startServer(t, "127.0.0.1:5300", "fallback")

	ask(t, kubeDNS, "udp", "fallback")
	addrs := []netip.Addr{linkLocal, kubeDNS}
	first, err := Up(Config{Addresses: addrs, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := startServers(t, addrs, "first")
	if err := first.Activate(); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ask(t, a, "udp", "first")
		ask(t, a, "tcp", "first")
	}

	// Handover: a second holder overlaps, then the first goes.
	second, err := Up(Config{Addresses: addrs, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	if first.Device() == second.Device() {
		t.Fatalf("both setups use device %s", first.Device())
	}
	stopSecond := startServers(t, addrs, "second")
	if err := second.Activate(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	stopFirst()
	wantDevice(t, first.Device(), false)
	wantTable(t, true)
	for _, a := range addrs {
		ask(t, a, "udp", "second")
		ask(t, a, "tcp", "second")
	}

	// As after SIGKILL: the device goes with the process's files, the
	// table stays behind.
	dev := second.Device()
	if err := second.dev.close(); err != nil {
		t.Fatal(err)
	}
	second.dev = nil
	stopSecond()
	wantDevice(t, dev, false)
	wantTable(t, true)
	ask(t, kubeDNS, "udp", "fallback")
	ask(t, kubeDNS, "tcp", "fallback")

	third, err := Up(Config{Addresses: addrs, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	stopThird := startServers(t, addrs, "third")
	if err := third.Activate(); err != nil {
		t.Fatal(err)
	}
	ask(t, kubeDNS, "udp", "third")
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
	stopThird()
	wantTable(t, false)
	if local, err := localAddrs(addrs); err != nil || len(local) > 0 {
		t.Fatalf("addresses still local after Close: %v %v", local, err)
	}
	ask(t, kubeDNS, "udp", "fallback")
}

// TestSIGKILL kills a process holding the addresses and checks the kernel
// removed its device and addresses, and the kube-dns IP falls back.
func TestSIGKILL(t *testing.T) {
	if os.Getenv("NODELOCAL_HOLD") != "" {
		s, err := Up(Config{Addresses: []netip.Addr{linkLocal, kubeDNS}, Port: 53})
		if err == nil {
			err = s.Activate()
		}
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("device " + s.Device() + "\n")
		time.Sleep(time.Minute)
		return
	}
	if !inNetns(t) {
		return
	}
	run(t, "ip", "link", "set", "lo", "up")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NODELOCAL_HOLD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dev string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "device "); ok {
			dev = d
			break
		}
	}
	if dev == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the holder printed no device")
	}
	wantDevice(t, dev, true)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wantDevice(t, dev, false)
	if local, err := localAddrs([]netip.Addr{linkLocal, kubeDNS}); err != nil || len(local) > 0 {
		t.Fatalf("addresses still local after SIGKILL: %v %v", local, err)
	}
	wantTable(t, true) // left behind, inert
	s, err := Up(Config{Addresses: []netip.Addr{linkLocal}, Port: 53})
	if err != nil {
		t.Fatal(err)
	}
	// Up deletes it: no rule may deliver to the addresses before the
	// sockets are bound and Activate puts the rules back.
	wantTable(t, false)
	if err := s.Activate(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantTable(t, false)
}

func wantDevice(t *testing.T, name string, want bool) {
	t.Helper()
	got, err := deviceExists(name)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("device %s exists: %v, want %v", name, got, want)
	}
}

func wantTable(t *testing.T, want bool) {
	t.Helper()
	got, err := tableExists(DefaultTable)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("table %s exists: %v, want %v", DefaultTable, got, want)
	}
}

// startServers serves answer on every address's port 53 (UDP and TCP,
// SO_REUSEPORT as the frontend binds them) and returns a function that
// closes them.
func startServers(t *testing.T, addrs []netip.Addr, answer string) func() {
	t.Helper()
	var stops []func()
	for _, a := range addrs {
		stops = append(stops, startServer(t, netip.AddrPortFrom(a, 53).String(), answer))
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// startServer answers every question at addr with a TXT record holding
// answer, until the returned function is called (or the test ends).
func startServer(t *testing.T, addr, answer string) func() {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{answer}}}
		_ = w.WriteMsg(m)
	})
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	servers := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for _, s := range servers {
			_ = s.Shutdown()
		}
	}
	t.Cleanup(stop)
	return stop
}

// ask queries a:53 over network and wants the TXT answer want, ten times
// in a row (so that every socket of a SO_REUSEPORT group is asked).
func ask(t *testing.T, a netip.Addr, network, want string) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	for i := range 10 {
		m := new(dns.Msg)
		m.SetQuestion("probe.example.", dns.TypeTXT)
		r, _, err := c.Exchange(m, netip.AddrPortFrom(a, 53).String())
		if err != nil {
			t.Fatalf("query %d to %s over %s (want %q): %v", i, a, network, want, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != want {
			t.Fatalf("query %d to %s over %s: %v, want %q", i, a, network, r.Answer, want)
		}
	}
}
