package grpcresolver

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// replicasScheme names the private resolver of a connection to a fixed
// list of record service replicas; it is never registered globally.
const replicasScheme = "clusterdns-recordsvc"

// Builder builds the resolvers of clusterdns targets. It holds one gRPC
// connection to the record service while any of its resolvers is open,
// shared by all their streams, and closes it when the last one closes.
type Builder struct {
	cfg *config

	mu    sync.Mutex
	conn  *grpc.ClientConn
	users int
}

var _ resolver.Builder = (*Builder)(nil)

// NewBuilder returns a Builder for the clusterdns scheme. It fails on a bad
// option: a malformed record service address, or plaintext to a record
// service that is not on loopback. It does not connect yet.
func NewBuilder(opts ...Option) (*Builder, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Builder{cfg: cfg}, nil
}

// Register makes a Builder of opts resolve the clusterdns scheme for every
// ClientConn of the process (grpc-go's resolver registry is global). Call it
// once, at start, before any ClientConn is created; a program that wants no
// global state passes a Builder to grpc.WithResolvers instead.
func Register(opts ...Option) error {
	b, err := NewBuilder(opts...)
	if err != nil {
		return err
	}
	resolver.Register(b)
	return nil
}

// Scheme returns "clusterdns".
func (b *Builder) Scheme() string { return Scheme }

// Build starts following the Service of target for cc. A malformed target
// fails at once; everything else (an unreachable record service, a
// Service that does not exist) is reported to cc as it happens.
func (b *Builder) Build(rt resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	t, err := parseTarget(rt)
	if err != nil {
		return nil, err
	}
	conn, err := b.acquire()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &serviceResolver{
		target:  t,
		cc:      cc,
		client:  clusterdnsv1.NewDiscoveryServiceClient(conn),
		cfg:     b.cfg,
		logger:  b.cfg.logger.With("target", t.String()),
		cancel:  cancel,
		done:    make(chan struct{}),
		release: b.release,
	}
	go r.run(ctx)
	return r, nil
}

// acquire returns the shared connection, creating it for the first user.
func (b *Builder) acquire() (*grpc.ClientConn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		conn, err := b.dial()
		if err != nil {
			return nil, err
		}
		b.conn = conn
	}
	b.users++
	return b.conn, nil
}

// release drops one user of the shared connection and closes it after the
// last, so that a process whose ClientConns are all closed (or idle) keeps
// no connection to the record service.
func (b *Builder) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users--
	if b.users == 0 && b.conn != nil {
		b.conn.Close() // nothing to do about a close error
		b.conn = nil
	}
}

// dial creates the (lazy) connection to the record service.
func (b *Builder) dial() (*grpc.ClientConn, error) {
	creds := b.cfg.creds
	if creds == nil {
		creds = insecure.NewCredentials() // newConfig allowed it: loopback only
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// One replica carries every stream; a shuffled list spreads many
		// clients over the replicas.
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"pick_first":{"shuffleAddressList":true}}]}`),
		// A replica that went silent (no FIN, no RST) is noticed within
		// seconds; the record service accepts pings every 10s or slower.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: b.cfg.minBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: b.cfg.maxBackoff},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	target := b.cfg.recordService
	if !strings.Contains(target, "://") {
		// A private resolver holds the fixed list of replicas.
		r := manual.NewBuilderWithScheme(replicasScheme)
		var st resolver.State
		for part := range strings.SplitSeq(target, ",") {
			st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: strings.TrimSpace(part)}}})
		}
		r.InitialState(st)
		target = replicasScheme + ":///recordsvc"
		opts = append(opts, grpc.WithResolvers(r))
		// Without a server name in the credentials, TLS verifies the name
		// of the first replica, as it would for a single HOST:PORT. With
		// one (mtls.ClientConfig always sets it), that name is the
		// authority: grpc.NewClient refuses a WithAuthority that differs
		// from it.
		if creds.Info().ServerName == "" {
			first, _, _ := strings.Cut(b.cfg.recordService, ",")
			opts = append(opts, grpc.WithAuthority(strings.TrimSpace(first)))
		}
	}
	opts = append(opts, b.cfg.dialOptions...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcresolver: record service %q: %w", b.cfg.recordService, err)
	}
	return conn, nil
}
