package dnsserver

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestLimitListener: connections beyond the per-address bound are closed at
// once while another address still gets in, up to the overall bound;
// closing a connection frees its slots.
func TestLimitListener(t *testing.T) {
	tests := []struct {
		name         string
		max, perIP   int
		dials        []string // source address of each connection, in order
		wantAccepted int
		wantRejected map[string]int
	}{
		{"per address", 10, 2, []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.2"}, 4,
			map[string]int{rejectPerIP: 1}},
		{"overall before per address", 3, 2, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, 3,
			map[string]int{rejectMaxConnections: 1}},
		{"both", 3, 1, []string{"127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}, 3,
			map[string]int{rejectPerIP: 1, rejectMaxConnections: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu       sync.Mutex
				open     int
				rejected = map[string]int{}
				accepted []net.Conn
			)
			ln := newLimitListener(inner, tt.max, tt.perIP,
				func(d int) { mu.Lock(); open += d; mu.Unlock() },
				func(reason string) { mu.Lock(); rejected[reason]++; mu.Unlock() })
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					accepted = append(accepted, c)
					mu.Unlock()
				}
			}()
			t.Cleanup(func() {
				_ = ln.Close()
				<-done
				for _, c := range accepted {
					_ = c.Close()
				}
			})
			settled := func() int {
				mu.Lock()
				defer mu.Unlock()
				n := len(accepted)
				for _, r := range rejected {
					n += r
				}
				return n
			}
			for i, src := range tt.dials {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
				c, err := d.Dial("tcp", inner.Addr().String())
				if err != nil {
					t.Fatalf("dial from %s: %v", src, err)
				}
				t.Cleanup(func() { _ = c.Close() })
				// Wait until the listener decided on this one, so that the
				// order of decisions is the order of the dials.
				deadline := time.Now().Add(10 * time.Second)
				for settled() < i+1 {
					if time.Now().After(deadline) {
						t.Fatalf("connection %d from %s neither accepted nor rejected", i, src)
					}
					time.Sleep(time.Millisecond)
				}
			}
			mu.Lock()
			if len(accepted) != tt.wantAccepted || open != tt.wantAccepted {
				t.Errorf("accepted %d, open %d; want %d", len(accepted), open, tt.wantAccepted)
			}
			for _, reason := range []string{rejectPerIP, rejectMaxConnections} {
				if rejected[reason] != tt.wantRejected[reason] {
					t.Errorf("rejected %s: %d, want %d", reason, rejected[reason], tt.wantRejected[reason])
				}
			}
			first := accepted[0]
			mu.Unlock()
			// Closing a connection gives its slots back: the same address
			// gets in again.
			_ = first.Close()
			src := first.RemoteAddr().(*net.TCPAddr).IP
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatalf("dial again: %v", err)
			}
			t.Cleanup(func() { _ = c.Close() })
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := len(accepted)
				mu.Unlock()
				if n == tt.wantAccepted+1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no slot freed by closing a connection of %s", src)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
