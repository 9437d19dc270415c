//go:build !linux

package main

import "net"

// readyListener passes connections through: reading a socket when ready
// (readyconn_linux.go) is done on Linux only.
type readyListener struct{ net.Listener }
