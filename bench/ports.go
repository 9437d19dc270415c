package bench

import (
	"errors"
	"fmt"
	"net"
)

// freeTCPAddr returns a loopback TCP address that was free a moment ago.
func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
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
