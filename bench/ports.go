package bench

import (
	"errors"
	"fmt"
	"net"
	"slices"
)

// FreeTCPAddr returns a loopback TCP address that was free a moment ago and
// is none of taken: the kernel may hand out a closed listener's port again
// at once, and one process must not get one port for two listeners.
func FreeTCPAddr(taken ...string) (string, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("free port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !slices.Contains(taken, addr) {
			return addr, nil
		}
	}
	return "", fmt.Errorf("free port: none apart from %v", taken)
}

// freeDNSAddr returns a loopback port that was free for both UDP and TCP.
func freeDNSAddr() (string, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("free port: %w", err)
		}
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			pc.Close()
			return addr, nil
		}
	}
	return "", errors.New("free port: no loopback port free for both UDP and TCP")
}

// splitPort returns the port of a HOST:PORT address.
func splitPort(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
