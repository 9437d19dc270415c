package frontendtls

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// dialFrom opens a DNS TCP connection to addr from the source address src.
func dialFrom(t *testing.T, src, addr string) *dns.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &dns.Conn{Conn: c}
}

// query asks name over conn and returns the reply or the error.
func query(conn *dns.Conn, name string) (*dns.Msg, error) {
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	q := stack.NewQuery(name, dns.TypeA)
	if err := conn.WriteMsg(q); err != nil {
		return nil, err
	}
	r, err := conn.ReadMsg()
	if err != nil {
		return nil, err
	}
	if r.Id != q.Id {
		return nil, errors.New("reply to another query")
	}
	return r, nil
}

// TestTCPConnectionsPerClient: one client address holding its share of TCP
// connections gets any further connection closed at once, while another
// client address still connects and is answered, and the refusals are
// counted.
func TestTCPConnectionsPerClient(t *testing.T) {
	const perIP = 4
	bins := stack.Installed(t)
	rs := stack.StartRecordService(t, bins, "--source", "file:"+clusterFile(t))
	fe := stack.StartFrontend(t, bins, rs.Addr, "--max-tcp-connections-per-ip", "4",
		"--max-tcp-connections", "50", "--tcp-idle-timeout", "60s")
	rejected := func() float64 {
		return metric(t, fe, "clusterdns_frontend_tcp_connections_rejected_total", map[string]string{"reason": "per_ip"})
	}
	before := rejected()

	held := make([]*dns.Conn, 0, perIP)
	for i := range perIP {
		c := dialFrom(t, "127.0.0.1", fe.Addr)
		r, err := query(c, clusterName)
		if err != nil || !answersIP(r, clusterIP) {
			t.Fatalf("connection %d from 127.0.0.1: %v %v", i, r, err)
		}
		held = append(held, c)
	}
	tests := []struct {
		name     string
		src      string
		answered bool
	}{
		{"same client beyond its share", "127.0.0.1", false},
		{"same client again", "127.0.0.1", false},
		{"another client", "127.0.0.2", true},
		{"a third client", "127.0.0.3", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, tt.src, fe.Addr)
			r, err := query(c, clusterName)
			switch {
			case tt.answered && (err != nil || !answersIP(r, clusterIP)):
				t.Errorf("from %s: %v %v, want an answer", tt.src, r, err)
			case !tt.answered && err == nil:
				t.Errorf("from %s: answered %v, want the connection closed", tt.src, r)
			case !tt.answered:
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("from %s: the connection was left open (read timed out), want it closed at once", tt.src)
				}
			}
		})
	}
	// The connections held still work.
	for i, c := range held {
		if r, err := query(c, clusterName); err != nil || !answersIP(r, clusterIP) {
			t.Errorf("held connection %d: %v %v", i, r, err)
		}
	}
	if got := rejected() - before; got != 2 {
		t.Errorf("per_ip rejections moved by %v, want 2", got)
	}
	// A held connection closed frees a slot for its client.
	_ = held[0].Close()
	waitFor(t, waitLong, "a new connection from 127.0.0.1 after one closed", func() bool {
		r, err := query(dialFrom(t, "127.0.0.1", fe.Addr), clusterName)
		return err == nil && answersIP(r, clusterIP)
	})
}
