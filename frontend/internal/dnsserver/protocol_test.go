package dnsserver_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
)

// corpusCase is one file of testdata/malformed: a packet and the response
// it must get.
type corpusCase struct {
	name   string
	desc   string
	expect string // an rcode name (FORMERR, NOTIMP, ...) or "dropped"
	msg    []byte
}

// readCorpus loads testdata/malformed/*.hex. A file holds "#" comment
// lines (the first describes the case), one "expect: RCODE|dropped" line
// and the packet in hex, spaces and line breaks allowed.
func readCorpus(tb testing.TB) []corpusCase {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "malformed", "*.hex"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus files: %v", err)
	}
	var out []corpusCase
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		c := corpusCase{name: strings.TrimSuffix(filepath.Base(file), ".hex")}
		var hexText strings.Builder
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(line, "#"):
				if c.desc == "" {
					c.desc = strings.TrimSpace(strings.TrimPrefix(line, "#"))
				}
			case strings.HasPrefix(line, "expect:"):
				c.expect = strings.TrimSpace(strings.TrimPrefix(line, "expect:"))
			default:
				hexText.WriteString(strings.ReplaceAll(line, " ", ""))
			}
		}
		c.msg, err = hex.DecodeString(hexText.String())
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		if _, ok := rcodeByName(c.expect); !ok && c.expect != "dropped" {
			tb.Fatalf("%s: expect %q is neither an rcode nor dropped", file, c.expect)
		}
		out = append(out, c)
	}
	return out
}

// rcodeByName maps an rcode name to its value; BADVERS shares 16 with
// BADSIG, which miekg/dns's table names.
func rcodeByName(name string) (int, bool) {
	if name == "BADVERS" {
		return dns.RcodeBadVers, true
	}
	rcode, ok := dns.StringToRcode[name]
	return rcode, ok
}

// TestMalformedCorpus sends every packet of testdata/malformed over real
// UDP and TCP to a started server and checks the response each file
// expects; the server must go on answering and leave no goroutine behind.
func TestMalformedCorpus(t *testing.T) {
	checkGoroutines(t)
	corpus := readCorpus(t)
	h := startHarness(t, harnessOptions{})
	for _, network := range transports() {
		for _, c := range corpus {
			t.Run(network+"/"+c.name, func(t *testing.T) {
				wait := 3 * time.Second
				if c.expect == "dropped" {
					wait = 300 * time.Millisecond
				}
				reply := h.raw(t, network, c.msg, wait)
				if c.expect == "dropped" {
					if reply != nil {
						t.Fatalf("%s: got a reply %x, want none", c.desc, reply)
					}
					return
				}
				if reply == nil {
					t.Fatalf("%s: no reply, want %s", c.desc, c.expect)
				}
				m := new(dns.Msg)
				if err := m.Unpack(reply); err != nil {
					t.Fatalf("%s: reply does not unpack: %v", c.desc, err)
				}
				want, _ := rcodeByName(c.expect)
				if m.Id != 0xbeef || !m.Response || m.Rcode != want {
					t.Errorf("%s: reply id %#x QR %v rcode %s, want id 0xbeef, QR, %s",
						c.desc, m.Id, m.Response, dns.RcodeToString[m.Rcode], c.expect)
				}
				if network == "udp" && len(reply) > dns.MinMsgSize && m.IsEdns0() == nil {
					t.Errorf("%s: UDP reply of %d bytes without EDNS", c.desc, len(reply))
				}
				if want == dns.RcodeBadVers {
					if o := m.IsEdns0(); o == nil || o.Version() != 0 {
						t.Errorf("BADVERS reply OPT %v, want version 0", o)
					}
				}
			})
		}
	}
	for _, network := range transports() {
		if resp := h.ask(t, network, "web.default.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeSuccess {
			t.Errorf("%s after the corpus: %v", network, resp)
		}
	}
}

// checkGoroutines fails the test when, after every cleanup registered
// later has run, more goroutines are left than there were at the call
// (waiting up to 10s for them to end).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines left after the test, %d before:\n%s", n, before, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// tcpQuery writes one framed query on conn.
func tcpQuery(t *testing.T, conn net.Conn, id uint16) {
	t.Helper()
	m := new(dns.Msg).SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	m.Id = id
	packed, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(append([]byte{byte(len(packed) >> 8), byte(len(packed))}, packed...)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// tcpReply reads one framed reply, or returns the read error.
func tcpReply(conn net.Conn, wait time.Duration) (*dns.Msg, error) {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	var size [2]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, int(size[0])<<8|int(size[1]))
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	return m, m.Unpack(body)
}

// closedByServer reports whether err means the peer closed the connection
// (not a read timeout).
func closedByServer(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// TestTCPLimits: idle connections are closed, a connection may send a
// bounded number of queries, and connections beyond the bound are closed at
// once (and counted) until a slot frees.
func TestTCPLimits(t *testing.T) {
	checkGoroutines(t)
	t.Run("idle timeout", func(t *testing.T) {
		h := startHarness(t, harnessOptions{configure: func(c *dnsserver.Config) { c.TCPIdleTimeout = 300 * time.Millisecond }})
		for _, queries := range []int{0, 2} {
			conn, err := net.Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for i := range queries {
				tcpQuery(t, conn, uint16(i))
				if _, err := tcpReply(conn, 3*time.Second); err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				start = time.Now()
			}
			_, err = tcpReply(conn, 5*time.Second)
			if !closedByServer(err) {
				t.Errorf("after %d queries: read %v, want the server to close the idle connection", queries, err)
			}
			if waited := time.Since(start); waited < 200*time.Millisecond {
				t.Errorf("after %d queries: closed after %v, before the idle timeout", queries, waited)
			}
			_ = conn.Close()
		}
	})
	t.Run("queries per connection", func(t *testing.T) {
		h := startHarness(t, harnessOptions{configure: func(c *dnsserver.Config) { c.MaxTCPQueries = 3 }})
		conn, err := net.Dial("tcp", h.tcp)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range 4 { // pipelined: all written before any reply is read
			tcpQuery(t, conn, uint16(100+i))
		}
		for i := range 3 {
			m, err := tcpReply(conn, 3*time.Second)
			if err != nil || m.Id != uint16(100+i) || m.Rcode != dns.RcodeSuccess {
				t.Fatalf("reply %d: %v %v", i, m, err)
			}
		}
		if _, err := tcpReply(conn, 3*time.Second); !closedByServer(err) {
			t.Errorf("fourth query: %v, want the connection closed", err)
		}
	})
	t.Run("connections", func(t *testing.T) {
		h := startHarness(t, harnessOptions{configure: func(c *dnsserver.Config) { c.MaxTCPConnections = 2 }})
		var open []net.Conn
		defer func() {
			for _, c := range open {
				_ = c.Close()
			}
		}()
		for i := range 2 {
			conn, err := net.Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, conn)
			tcpQuery(t, conn, uint16(i))
			if _, err := tcpReply(conn, 3*time.Second); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
		extra, err := net.Dial("tcp", h.tcp)
		if err != nil {
			t.Fatal(err)
		}
		tcpQuery(t, extra, 7)
		if _, err := tcpReply(extra, 3*time.Second); !closedByServer(err) {
			t.Errorf("third connection: %v, want it closed at once", err)
		}
		_ = extra.Close()
		if got := counterValue(t, h.reg, "clusterdns_frontend_tcp_connections_rejected_total", nil); got != 1 {
			t.Errorf("rejected connections %v, want 1", got)
		}
		if got := counterValue(t, h.reg, "clusterdns_frontend_tcp_connections", nil); got != 2 {
			t.Errorf("open connections %v, want 2", got)
		}
		// Closing one frees its slot.
		_ = open[0].Close()
		open = open[1:]
		deadline := time.Now().Add(5 * time.Second)
		for {
			conn, err := net.Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			tcpQuery(t, conn, 8)
			_, err = tcpReply(conn, 3*time.Second)
			if err == nil {
				open = append(open, conn)
				break
			}
			_ = conn.Close()
			if time.Now().After(deadline) {
				t.Fatalf("no slot freed after a connection closed: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
