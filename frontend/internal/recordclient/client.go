// Package recordclient is the frontend's side of the record service API: a
// gRPC client with per-call deadlines, a Watch consumer that keeps the
// invalidation stream open, and the conversion of structured records into
// miekg/dns resource records.
package recordclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Config configures a Client. The zero value of every field but Target
// selects the documented default.
type Config struct {
	// Target is the record service address: "HOST:PORT", or a gRPC target
	// such as "dns:///recordsvc.kube-system.svc:9090" to reach every replica
	// behind a headless Service. Required.
	Target string
	// LookupTimeout bounds each Lookup call. Default 2s.
	LookupTimeout time.Duration
	// ClientName is sent in WatchRequest for the server's logs. Default
	// "clusterdns-frontend".
	ClientName string
	// Balancer is the gRPC load-balancing policy. Default "pick_first": Lookup
	// and Watch share one connection, hence one replica, so the revisions of
	// answers and invalidations are comparable (DESIGN.md section 4); on
	// failure gRPC moves to the next address. "round_robin" spreads Lookups
	// over replicas; the cache then keeps their answers for their record TTL
	// only, since their revisions are not comparable with the Watch stream's.
	Balancer string
	// MinBackoff is the first delay before reopening a broken Watch stream
	// (and the gRPC reconnect base delay). Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the exponential reconnect delay. Default 5s.
	MaxBackoff time.Duration
	// Logger receives Watch reconnect messages. Default slog.Default().
	Logger *slog.Logger
	// DialOptions are appended to the client's own options (tests).
	DialOptions []grpc.DialOption
}

func (c Config) withDefaults() Config {
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = 2 * time.Second
	}
	if c.ClientName == "" {
		c.ClientName = "clusterdns-frontend"
	}
	if c.Balancer == "" {
		c.Balancer = "pick_first"
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Client talks to the record service. It is safe for concurrent use.
type Client struct {
	cfg  Config
	conn *grpc.ClientConn
	rpc  clusterdnsv1.RecordServiceClient

	// watchUp is true while a Watch stream has delivered its first message
	// and has not failed since.
	watchUp atomic.Bool
	// lookupOK is true when the last Lookup returned an answer (any result
	// but NOT_READY) without an RPC error.
	lookupOK atomic.Bool
}

// New creates a client. The connection is made lazily by gRPC; New fails
// only on a bad configuration.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if strings.TrimSpace(cfg.Target) == "" {
		return nil, errors.New("record service target is empty")
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, cfg.Balancer)),
		// gRPC's default reconnect backoff grows to 120s; a DNS server must
		// find its record service again within seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  cfg.MinBackoff,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   cfg.MaxBackoff,
			},
			MinConnectTimeout: cfg.LookupTimeout,
		}),
	}
	opts = append(opts, cfg.DialOptions...)
	conn, err := grpc.NewClient(cfg.Target, opts...)
	if err != nil {
		return nil, fmt.Errorf("record service client for %q: %w", cfg.Target, err)
	}
	return &Client{cfg: cfg, conn: conn, rpc: clusterdnsv1.NewRecordServiceClient(conn)}, nil
}

// Close closes the connection; Lookup and Watch fail afterwards.
func (c *Client) Close() error {
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close record service connection: %w", err)
	}
	return nil
}

// Lookup asks the record service one question, bounded by the configured
// LookupTimeout (or ctx's own deadline, whichever comes first). clientIP is
// the DNS client's address in text form, empty when unknown.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16, clientIP string, transport clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LookupTimeout)
	defer cancel()
	resp, err := c.rpc.Lookup(ctx, &clusterdnsv1.LookupRequest{
		Name:      name,
		Qtype:     uint32(qtype),
		ClientIp:  clientIP,
		Transport: transport,
	})
	if err != nil {
		c.lookupOK.Store(false)
		return nil, fmt.Errorf("lookup %s type %d: %w", name, qtype, err)
	}
	c.lookupOK.Store(resp.GetResult() != clusterdnsv1.Result_RESULT_NOT_READY)
	return resp, nil
}

// Ready reports whether the record service is usable: the Watch stream is
// connected, or the last Lookup got an answer (not NOT_READY) without error.
// Frontends use it for their readiness endpoint.
func (c *Client) Ready() bool {
	return c.watchUp.Load() || c.lookupOK.Load()
}

// WatchConnected reports whether a Watch stream is currently open and has
// delivered its first (resync) message.
func (c *Client) WatchConnected() bool { return c.watchUp.Load() }
