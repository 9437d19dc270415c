// Package recordclient is the frontend's side of the record service API: a
// gRPC client with per-call deadlines, a Watch consumer that keeps the
// invalidation stream open, and the conversion of structured records into
// miekg/dns resource records.
//
// # Replicas
//
// The target names one record service or several replicas: "HOST:PORT"
// (gRPC's DNS resolver: every address of HOST), a comma-separated list
// "HOST:PORT,HOST:PORT" (a fixed set of replicas, given to gRPC by a resolver
// private to the client), or any gRPC target such as
// "dns:///recordsvc.kube-system.svc:9090" (the headless Service). With the
// default pick_first policy the client connects to one replica at a time,
// taken from the address list in shuffled order so that frontends spread over
// the replicas, and Lookup and Watch share that one connection: the
// revisions of answers and invalidations come from the same server, so
// the cache can tell an answer older than an invalidation. When the replica becomes unreachable (a closed
// connection, or keepalive pings left unanswered behind a silent network)
// gRPC connects to the next address; the Watch stream reopens there, asking
// to resume from the last state it applied (watch.go). Its first message
// either resumes (the keys changed since: the cache keeps the rest) or is a
// resync that tells the cache to stop trusting what it holds.
//
// # Readiness
//
// Ready tells whether uncached cluster names can be answered now: the
// record service answered within ReadyWindow (probe.go).
package recordclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Config configures a Client. The zero value of every field but Target
// selects the documented default.
type Config struct {
	// Target is the record service address: "HOST:PORT", a comma-separated
	// list of replicas "HOST:PORT,HOST:PORT", or a gRPC target such as
	// "dns:///recordsvc.kube-system.svc:9090" to reach every replica behind a
	// headless Service. Required.
	Target string
	// LookupTimeout bounds each Lookup call. Default 2s.
	LookupTimeout time.Duration
	// Zone is the topology zone of every DNS client of this frontend (a
	// node-local frontend's node's zone), sent as client_zone; empty when
	// unknown (zone.go).
	Zone string
	// ClientName is sent in WatchRequest for the server's logs. Default
	// "clusterdns-frontend".
	ClientName string
	// Balancer is the gRPC load-balancing policy. Default "pick_first": Lookup
	// and Watch share one connection, hence one replica, so the revisions of
	// answers and invalidations are comparable; on
	// failure gRPC moves to the next address. "round_robin" spreads Lookups
	// over replicas; the cache then keeps their answers for their record TTL
	// only, since their revisions are not comparable with the Watch stream's.
	// pick_first shuffles the address list (shuffleAddressList).
	Balancer string
	// KeepaliveTime is how long a connection may stay silent before the
	// client pings the replica, with or without calls in flight; gRPC never
	// pings more often than every 10s. Default 15s: the record service
	// accepts pings every 10s or more, and the margin absorbs timer jitter
	// that would otherwise end the connection with too_many_pings.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long a ping may stay unanswered before the
	// connection is closed and the next replica tried. Default 5s.
	KeepaliveTimeout time.Duration
	// Metrics records the invalidation stream; nil records nothing.
	Metrics *Metrics
	// MinBackoff is the first delay before reopening a broken Watch stream
	// (and the gRPC reconnect base delay). Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the exponential reconnect delay. Default 5s.
	MaxBackoff time.Duration
	// Logger receives Watch reconnect messages. Default slog.Default().
	Logger *slog.Logger
	// DialOptions are appended to the client's own options (tests).
	DialOptions []grpc.DialOption
	// UnaryLookups makes every Lookup a unary call instead of a message on
	// the shared LookupStream (stream.go). Default false.
	UnaryLookups bool
	// AbsentBelow asks the record service for namespace directories with
	// NXDOMAIN answers (LookupResponse.absent_below), for a caller that
	// caches them.
	AbsentBelow bool
	// Credentials secure the connection (mutual TLS). Default nil:
	// plaintext.
	Credentials credentials.TransportCredentials
	// ReadyWindow is how recent the last proof that the record service
	// answers (a Watch message, a Lookup answer, a health probe) must be
	// for Ready. Default 3s.
	ReadyWindow time.Duration
	// ProbeInterval is how often Watch probes the record service's gRPC
	// health while nothing else proved it answers; each probe has this as
	// its deadline. Default 1s.
	ProbeInterval time.Duration
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
	if c.KeepaliveTime <= 0 {
		c.KeepaliveTime = 15 * time.Second
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = time.Second
	}
	if c.ReadyWindow <= 0 {
		c.ReadyWindow = 3 * c.ProbeInterval
	}
	return c
}

// Flow-control windows of the connection to the record service (see New).
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
)

// Client talks to the record service. It is safe for concurrent use.
type Client struct {
	cfg  Config
	conn *grpc.ClientConn
	rpc  clusterdnsv1.RecordServiceClient

	// watchUp is true while a Watch stream has delivered its first message
	// and has not failed since.
	watchUp atomic.Bool
	// lastUp is when the record service last proved it answers (a Watch
	// message, a Lookup answer other than NOT_READY, a health probe), in
	// Unix nanoseconds; 0 before the first time.
	lastUp atomic.Int64
	// lastDown is when a Lookup or a probe last failed for want of the
	// record service (unreachable, too slow, not synced), in Unix
	// nanoseconds.
	lastDown atomic.Int64
	// serverID is the server_id of the open Watch stream ("" when none).
	serverID atomic.Pointer[string]
	// tls is true when the connection uses TLS (Config.Credentials).
	tls bool
	// streams carries Lookups over a LookupStream (stream.go).
	streams streams
	// timers and dones hold the stopped timers and empty result channels
	// of finished streamed lookups, questions the streamQuestions no one
	// holds anymore, so that a cache miss allocates none of them.
	timers, dones, questions sync.Pool
	// streamCodec decodes the lookup stream's answers (decode.go).
	streamCodec grpc.CallOption
}

// New creates a client. The connection is made lazily by gRPC; New fails
// only on a bad configuration.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if strings.TrimSpace(cfg.Target) == "" {
		return nil, errors.New("record service target is empty")
	}
	target := cfg.Target
	var resolvers []grpc.DialOption
	replicas, isList, err := ReplicaList(cfg.Target)
	if err != nil {
		return nil, err
	}
	if isList {
		// A resolver of this client only, holding the fixed list; no
		// global registration.
		r := manual.NewBuilderWithScheme(replicaScheme)
		var state resolver.State
		for _, addr := range replicas {
			state.Endpoints = append(state.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}})
		}
		r.InitialState(state)
		target = replicaScheme + ":///replicas"
		resolvers = append(resolvers, grpc.WithResolvers(r))
	}
	lb := fmt.Sprintf(`{%q:{}}`, cfg.Balancer)
	if cfg.Balancer == "pick_first" {
		lb = `{"pick_first":{"shuffleAddressList":true}}`
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(rawCredentials{creds}),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[` + lb + `]}`),
		// Find a replica that went silent (no RST, no FIN) within seconds.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                cfg.KeepaliveTime,
			Timeout:             cfg.KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
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
	opts = append(opts,
		// A fixed flow-control window turns off gRPC's bandwidth-delay
		// estimator, which otherwise pings the server after nearly every
		// answer when lookups come one at a time (small messages never let
		// its estimate reach the limit that stops the pings): two more
		// writes, two more reads and two more wakeups per miss. The windows
		// are larger than the defaults (64 KiB) so that a burst of
		// invalidations or lookups never waits for a window update.
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	)
	opts = append(opts, resolvers...)
	opts = append(opts, cfg.DialOptions...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("record service client for %q: %w", cfg.Target, err)
	}
	c := &Client{cfg: cfg, conn: conn, rpc: clusterdnsv1.NewRecordServiceClient(conn),
		tls: cfg.Credentials != nil && cfg.Credentials.Info().SecurityProtocol == "tls"}
	c.streams.ctx, c.streams.cancel = context.WithCancel(context.Background())
	c.timers.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	c.dones.New = func() any { return make(chan lookupResult, 1) }
	c.questions.New = func() any { return new(streamQuestion) }
	c.streamCodec = lookupStreamCodec()
	return c, nil
}

// Close closes the connection; Lookup and Watch fail afterwards.
func (c *Client) Close() error {
	c.streams.cancel()
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close record service connection: %w", err)
	}
	return nil
}

// Lookup asks the record service one question, bounded by the configured
// LookupTimeout (or ctx's own deadline, whichever comes first). clientIP is
// the DNS client's address in text form, empty when unknown.
func (c *Client) Lookup(ctx context.Context, name string, qtype uint16, clientIP string, transport clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	// A deadline rather than a context with a timeout: the streamed
	// lookup, on every cache miss, waits on a pooled timer; only the unary
	// call needs a context of its own.
	deadline := time.Now().Add(c.cfg.LookupTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// The question and the stream message that carries it, pooled
	// (streamQuestion).
	q := c.questions.Get().(*streamQuestion)
	q.refs.Store(1)
	defer q.release(&c.questions)
	req := &q.req
	req.Name, req.Qtype, req.ClientIp, req.Transport, req.ClientZone = name, uint32(qtype), clientIP, transport, c.cfg.Zone
	req.AcceptAbsentBelow = c.cfg.AbsentBelow
	var (
		resp *clusterdnsv1.LookupResponse
		err  = errStreamBroken
	)
	if !c.cfg.UnaryLookups {
		resp, err = c.lookupStreamed(ctx, q, deadline)
	}
	if errors.Is(err, errStreamBroken) {
		uctx, cancel := context.WithDeadline(ctx, deadline)
		resp, err = c.rpc.Lookup(uctx, req)
		cancel()
	}
	if err != nil {
		if unavailable(err) {
			c.markDown()
		}
		return nil, fmt.Errorf("lookup %s type %d: %w", name, qtype, err)
	}
	c.markZoneDependent(resp)
	if resp.GetResult() == clusterdnsv1.Result_RESULT_NOT_READY {
		c.markDown()
	} else {
		c.markUp()
	}
	return resp, nil
}

// unavailable tells whether a Lookup error says the record service cannot
// answer now, rather than that this question was bad, its asker left, or
// the frontend itself shed it (errors without a gRPC status, such as a
// backed-up lookup stream's, say nothing of the record service).
func unavailable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// markUp records that the record service answered now.
func (c *Client) markUp() { c.lastUp.Store(time.Now().UnixNano()) }

// markDown records that the record service failed to answer now.
func (c *Client) markDown() { c.lastDown.Store(time.Now().UnixNano()) }

// LastUp is when the record service last proved it answers; the zero time
// when it never did.
func (c *Client) LastUp() time.Time {
	if up := c.lastUp.Load(); up != 0 {
		return time.Unix(0, up)
	}
	return time.Time{}
}

// Ready reports whether the frontend can answer uncached cluster names now:
// the record service proved it answers (a Watch message, a Lookup answer
// other than NOT_READY, a health probe) within ReadyWindow, and nothing
// failed since. A Watch stream that looks open is not enough: behind a
// stopped process or a silent network it stays open until keepalive gives
// up, which takes far longer than a readiness check may lag. Frontends use
// it for their readiness endpoint.
func (c *Client) Ready() bool {
	up := c.lastUp.Load()
	return up != 0 && up >= c.lastDown.Load() && time.Since(time.Unix(0, up)) < c.cfg.ReadyWindow
}

// WatchConnected reports whether a Watch stream is currently open and has
// delivered its first (resync) message.
func (c *Client) WatchConnected() bool { return c.watchUp.Load() }

// ServerID is the server_id of the replica the open Watch stream follows, ""
// when no stream is open.
func (c *Client) ServerID() string {
	if p := c.serverID.Load(); p != nil {
		return *p
	}
	return ""
}

// replicaScheme is the scheme of the client's private resolver for a list
// of replicas.
const replicaScheme = "clusterdns-replicas"

// ReplicaList splits a target of the form "HOST:PORT,HOST:PORT" into its
// addresses. isList is false for a target that is not a list (a single
// HOST:PORT, a gRPC target URI); err names a bad element of a list.
func ReplicaList(target string) (addrs []string, isList bool, err error) {
	if strings.Contains(target, "://") || !strings.Contains(target, ",") {
		return nil, false, nil
	}
	seen := make(map[string]bool)
	for part := range strings.SplitSeq(target, ",") {
		addr := strings.TrimSpace(part)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, false, fmt.Errorf("replica %q: %w", addr, err)
		}
		if host == "" {
			return nil, false, fmt.Errorf("replica %q: host is empty", addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, false, fmt.Errorf("replica %q: port %q is not a number from 1 to 65535", addr, port)
		}
		if seen[addr] {
			return nil, false, fmt.Errorf("replica %q listed twice", addr)
		}
		seen[addr] = true
		addrs = append(addrs, addr)
	}
	return addrs, true, nil
}
