package kubecluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
)

// stopGrace is how long a process gets to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// addrInUse reports whether the log says a port was taken by someone else
// between our probe and the process's bind.
func addrInUse(p *childproc.Process) bool {
	data, err := os.ReadFile(p.LogPath)
	return err == nil && bytes.Contains(data, []byte("address already in use"))
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
// All listeners are held open together so the ports differ.
func freePorts(n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// loopback returns "127.0.0.1:port".
func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// errPortTaken marks a start attempt that lost its port to another process.
var errPortTaken = errors.New("port taken by another process")
