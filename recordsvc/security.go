package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
)

// Admission defaults, sized for deploy/'s 512Mi limit and a cluster of
// hundreds of frontends (each one connection carrying a LookupStream and a
// Watch, plus a few concurrent unary Lookups):
//   - connections: 1024 in total leaves room for a thousand frontends; 8
//     per address covers a frontend's reconnects overlapping its old
//     connection and a node's hostNetwork clients, while one pod cannot
//     hold more than a sliver of the total;
//   - 64 concurrent calls per connection: a frontend needs 2 streams and its
//     unary Lookups (further calls wait at the client, they do not fail);
//   - streaming calls: 16 per client is 8 times what a frontend uses;
//     2048 in total is two per frontend for a thousand frontends. A Watch
//     stream cost ~135 KB before its subscriber buffer was made lazy (2,000
//     streams took the RSS from 75 to 342 MB), so 2048 bound the streams'
//     share below 300 MB even then.
const (
	defaultMaxConnections          = 1024
	defaultMaxConnectionsPerIP     = 8
	defaultMaxStreamsPerConnection = 64
	defaultMaxStreams              = 2048
	defaultMaxStreamsPerClient     = 16
)

// checkSecurity checks the TLS, policy and limit flags together.
func checkSecurity(cfg config) error {
	t := cfg.TLS
	set := 0
	for _, f := range []string{t.Cert, t.Key, t.CA} {
		if f != "" {
			set++
		}
	}
	switch {
	case set != 0 && t.Cert == "":
		return errors.New("--tls-cert: needed with --tls-key and --tls-client-ca")
	case set != 0 && t.Key == "":
		return errors.New("--tls-key: needed with --tls-cert")
	case set != 0 && t.CA == "":
		return errors.New("--tls-client-ca: needed with --tls-cert (clients are authenticated by their certificate)")
	}
	if set == 0 {
		loopback, err := isLoopback(cfg.Listen)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		if !loopback {
			return fmt.Errorf("--listen: %s is not a loopback address and --tls-cert is not set: the record API would be "+
				"open to the network without authentication (set --tls-cert, --tls-key and --tls-client-ca, or listen on 127.0.0.1)", cfg.Listen)
		}
		if cfg.AuthzPolicy != "" {
			return errors.New("--authz-policy: needs --tls-cert (without TLS every caller is a local frontend)")
		}
	}
	l := cfg.Limits
	for _, c := range []struct {
		flag     string
		v        int
		min, max int
	}{
		{"--max-connections", l.MaxConnections, 0, math.MaxInt32},
		{"--max-connections-per-ip", l.MaxConnectionsPerIP, 0, math.MaxInt32},
		{"--max-streams-per-connection", l.MaxStreamsPerConnection, 1, math.MaxInt32},
		{"--max-streams", l.MaxStreams, 0, math.MaxInt32},
		{"--max-streams-per-client", l.MaxStreamsPerClient, 0, math.MaxInt32},
	} {
		if c.v < c.min || c.v > c.max {
			return fmt.Errorf("%s: must be >= %d and <= %d, got %d", c.flag, c.min, c.max, c.v)
		}
	}
	return nil
}

// isLoopback reports whether the host of addr (HOST:PORT) is a loopback
// address or localhost. An empty host listens on every address.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("want HOST:PORT, got %q", addr)
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil // a host name other than localhost may resolve anywhere
	}
	return ip.IsLoopback(), nil
}
