//go:build !linux

package recordclient

import "net"

// newRawConn returns conn: raw system calls are used on Linux only.
func newRawConn(conn net.Conn) net.Conn { return conn }
