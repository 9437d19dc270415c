package forward

import (
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// upstream is one resolver address with its health. One value exists per address, shared by every set
// (default upstreams, stub domains) that lists it, so all of them see the same health.
type upstream struct {
	addr  string       // canonical form (ParseUpstream), the metrics label
	fails atomic.Int32 // consecutive failed attempts
	down  atomic.Bool

	proto      string       // protoUDP, protoTCP or protoTLS
	hostPort   string       // "ip:port"
	udpAddr    *net.UDPAddr // hostPort, for protoUDP
	serverName string       // for protoTLS
	// idle holds open TCP or TLS connections between queries (stream.go), udp idle UDP sockets (udp.go).
	idle chan *streamConn
	udp  chan *udpConn
}

// newUpstream returns the upstream of a canonical address.
func newUpstream(addr string) *upstream {
	u := &upstream{addr: addr}
	u.proto, u.hostPort, u.serverName = endpoint(addr)
	u.idle = make(chan *streamConn, maxIdleConns)
	if u.proto == protoUDP {
		u.udp = make(chan *udpConn, maxUDPIdle)
		// The address is an IP and a port (ParseUpstream), so this resolves nothing; an error leaves
		// udpAddr nil and dialUDP reports it.
		u.udpAddr, _ = net.ResolveUDPAddr("udp", u.hostPort)
	}
	return u
}

// succeeded records a matching reply: the upstream is alive.
func (u *upstream) succeeded(log *slog.Logger, m *Metrics) {
	if u.fails.Load() != 0 {
		u.fails.Store(0)
	}
	if u.down.CompareAndSwap(true, false) {
		log.Info("upstream is up again", "upstream", u.addr)
		m.health(u.addr, true)
	}
}

// failed records a timeout or network error and marks the upstream down after maxFails in a row.
func (u *upstream) failed(log *slog.Logger, m *Metrics, maxFails int, err error) {
	if int(u.fails.Add(1)) >= maxFails && u.down.CompareAndSwap(false, true) {
		log.Warn("upstream marked down", "upstream", u.addr, "fails", maxFails, "err", err)
		m.health(u.addr, false)
	}
}

// pool is an ordered set of upstreams serving the same names.
type pool struct {
	upstreams []*upstream
	next      atomic.Uint64 // round-robin position
}

// routes is an immutable routing table; a reload of the stub domains or an Update builds a new one.
type routes struct {
	policy   string
	timeout  time.Duration
	defaults *pool
	stubs    map[string]*pool // lower-case fully qualified zone -> pool
	all      []*upstream      // every distinct upstream, for health checking
}

// poolFor returns the stub domain pool whose zone is the longest suffix of name, else the default pool.
func (r *routes) poolFor(name string) *pool {
	if len(r.stubs) == 0 {
		return r.defaults
	}
	name = strings.ToLower(dns.Fqdn(name))
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if p, ok := r.stubs[name[off:]]; ok {
			return p
		}
	}
	if p, ok := r.stubs["."]; ok {
		return p
	}
	return r.defaults
}

// buildRoutes makes a routing table, reusing the upstream values of known (so health survives a reload) and
// returning the new set of known upstreams by address.
func buildRoutes(defaults []string, stubs map[string][]string, known map[string]*upstream) (*routes, map[string]*upstream) {
	next := make(map[string]*upstream)
	r := &routes{stubs: make(map[string]*pool, len(stubs))}
	get := func(addr string) *upstream {
		if u, ok := next[addr]; ok {
			return u
		}
		u, ok := known[addr]
		if !ok {
			u = newUpstream(addr)
		}
		next[addr] = u
		r.all = append(r.all, u)
		return u
	}
	makePool := func(addrs []string) *pool {
		p := &pool{}
		for _, a := range addrs {
			p.upstreams = append(p.upstreams, get(a))
		}
		return p
	}
	r.defaults = makePool(defaults)
	for _, zone := range slices.Sorted(maps.Keys(stubs)) {
		r.stubs[zone] = makePool(stubs[zone])
	}
	return r, next
}
