package grpcresolver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// DefaultRecordService is the record service address used without
// WithRecordService: the one `make run` listens on.
const DefaultRecordService = "127.0.0.1:9090"

// Option configures a Builder.
type Option func(*config)

type config struct {
	recordService string
	creds         credentials.TransportCredentials
	clientName    string
	logger        *slog.Logger
	minBackoff    time.Duration
	maxBackoff    time.Duration
	dialOptions   []grpc.DialOption
}

// WithRecordService sets the record service to ask: HOST:PORT, a
// comma-separated list of replicas (HOST:PORT,HOST:PORT), or a gRPC target
// URI such as dns:///clusterdns-recordsvc.kube-system.svc:9090.
func WithRecordService(target string) Option {
	return func(c *config) { c.recordService = strings.TrimSpace(target) }
}

// WithTransportCredentials sets the credentials of the connection to the
// record service, normally mutual TLS. Without them the connection is
// plaintext, which NewBuilder allows only to a loopback record service.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) { c.creds = creds }
}

// WithClientName sets the name the record service logs for this client's
// streams.
func WithClientName(name string) Option {
	return func(c *config) { c.clientName = name }
}

// WithLogger sets the logger of stream failures and reconnections; the
// default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithBackoff sets the delays between attempts to re-open a broken stream:
// min after the first failure, growing to max after repeated ones. The
// defaults are 500ms and 20s.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = minDelay, maxDelay }
}

// WithDialOptions adds options to the connection to the record service,
// such as a custom dialer or per-RPC credentials.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = append(c.dialOptions, opts...) }
}

func newConfig(opts []Option) (*config, error) {
	c := &config{recordService: DefaultRecordService, minBackoff: 500 * time.Millisecond, maxBackoff: 20 * time.Second}
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.minBackoff <= 0 || c.maxBackoff < c.minBackoff {
		return nil, fmt.Errorf("grpcresolver: backoff %s to %s: want 0 < min <= max", c.minBackoff, c.maxBackoff)
	}
	hosts, err := recordServiceHosts(c.recordService)
	if err != nil {
		return nil, fmt.Errorf("grpcresolver: record service %q: %w", c.recordService, err)
	}
	if c.creds == nil {
		for _, h := range hosts {
			if !isLoopback(h) {
				return nil, fmt.Errorf("grpcresolver: record service %q is not on loopback: transport credentials are required (WithTransportCredentials)", c.recordService)
			}
		}
	}
	return c, nil
}

// recordServiceHosts validates a record service target and returns the
// hosts it names.
func recordServiceHosts(target string) ([]string, error) {
	if target == "" {
		return nil, errors.New("empty")
	}
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		if u.Scheme == Scheme {
			return nil, errors.New("the record service cannot itself be resolved by the clusterdns scheme")
		}
		endpoint := strings.TrimPrefix(u.Path, "/")
		if endpoint == "" {
			return nil, errors.New("want SCHEME:///NAME:PORT, such as dns:///clusterdns-recordsvc.kube-system.svc:9090")
		}
		host, err := hostOf(endpoint)
		if err != nil {
			return nil, err
		}
		return []string{host}, nil
	}
	var hosts []string
	seen := make(map[string]bool)
	for part := range strings.SplitSeq(target, ",") {
		addr := strings.TrimSpace(part)
		host, err := hostOf(addr)
		if err != nil {
			return nil, err
		}
		if seen[addr] {
			return nil, fmt.Errorf("replica %q listed twice", addr)
		}
		seen[addr] = true
		hosts = append(hosts, host)
	}
	return hosts, nil
}

// hostOf checks HOST:PORT with a non-empty host and a port from 1 to 65535.
func hostOf(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q: %w", addr, err)
	}
	if host == "" {
		return "", fmt.Errorf("%q: host is empty", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
