package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ErrOverloaded is returned by Forward when Config.MaxConcurrent upstream queries are already in flight.
// The DNS handler answers REFUSED; the refusal is already counted in Metrics.
var ErrOverloaded = errors.New("forward: too many concurrent upstream queries")

// Forwarder sends queries to upstream resolvers. Its methods are safe for concurrent use.
type Forwarder struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	routes atomic.Pointer[routes]

	mu sync.Mutex // serialises routing table rebuilds and guards the fields below
	// defaults are the default upstreams; flagStubs the stub domains of Config.StubDomains or the last
	// Update; fileStubs those of Config.StubDomainsFile; all in ParseUpstream's form.
	defaults             []string
	flagStubs, fileStubs map[string][]string
	policy               string
	timeout              time.Duration
	known                map[string]*upstream // upstreams of the current table, by address

	// sessions resumes TLS sessions with DNS-over-TLS upstreams.
	sessions tls.ClientSessionCache

	stubFile stubFileState // touched only by New and the reload loop

	inflight  atomic.Int64
	buffers   sync.Pool // *[]byte of maxUDPReply bytes
	probeName string
}

// New validates cfg, applies its defaults, reads the upstreams (Config.Upstreams, else Config.ResolvConf)
// and the stub domains (Config.StubDomains and Config.StubDomainsFile). A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Forwarder, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch cfg.Policy {
	case PolicyRandom, PolicyRoundRobin, PolicySequential:
	default:
		return nil, fmt.Errorf("forward policy %q: want %s, %s or %s", cfg.Policy, PolicyRandom, PolicyRoundRobin, PolicySequential)
	}
	f := &Forwarder{
		cfg:       cfg,
		log:       logger.With("component", "forward"),
		metrics:   cfg.Metrics,
		policy:    cfg.Policy,
		timeout:   cfg.Timeout,
		known:     make(map[string]*upstream),
		sessions:  tls.NewLRUClientSessionCache(0),
		probeName: newProbeName(),
		buffers: sync.Pool{New: func() any {
			b := make([]byte, maxUDPReply)
			return &b
		}},
	}
	var err error
	f.defaults, err = defaultUpstreams(cfg)
	if err != nil {
		return nil, err
	}
	if f.flagStubs, err = normaliseStubs(cfg.StubDomains); err != nil {
		return nil, err
	}
	var fileStubs map[string][]string
	if cfg.StubDomainsFile != "" {
		data, err := os.ReadFile(cfg.StubDomainsFile)
		if err != nil {
			return nil, fmt.Errorf("read stub domains file: %w", err)
		}
		fileStubs, err = parseStubDomainsFile(cfg.StubDomainsFile, data)
		if err != nil {
			return nil, fmt.Errorf("stub domains file: %w", err)
		}
		f.stubFile.data = data
	}
	f.install(fileStubs)
	return f, nil
}

// defaultUpstreams returns Config.Upstreams normalised, else the nameservers of Config.ResolvConf.
func defaultUpstreams(cfg Config) ([]string, error) {
	var ups []string
	for _, u := range cfg.Upstreams {
		a, err := ParseUpstream(u)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ups, a) {
			ups = append(ups, a)
		}
	}
	if len(ups) > 0 {
		return ups, nil
	}
	file, err := os.Open(cfg.ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("no upstreams configured: %w", err)
	}
	defer file.Close()
	ups, err = ParseResolvConf(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.ResolvConf, err)
	}
	return ups, nil
}

// normaliseStubs returns stubs with lower-case fully qualified zones and upstreams in ParseUpstream's form.
func normaliseStubs(stubs map[string][]string) (map[string][]string, error) {
	out := make(map[string][]string, len(stubs))
	for zone, ups := range stubs {
		z, err := parseZone(zone)
		if err != nil {
			return nil, fmt.Errorf("stub domain %q: %w", zone, err)
		}
		if len(ups) == 0 {
			return nil, fmt.Errorf("stub domain %s: no upstreams", z)
		}
		for _, u := range ups {
			a, err := ParseUpstream(u)
			if err != nil {
				return nil, fmt.Errorf("stub domain %s: %w", z, err)
			}
			if !slices.Contains(out[z], a) {
				out[z] = append(out[z], a)
			}
		}
	}
	return out, nil
}

// Update is what of the forwarding configuration can change while serving.
type Update struct {
	// Upstreams replace Config.Upstreams; empty: the nameservers of Config.ResolvConf, read again.
	Upstreams []string
	// StubDomains replace Config.StubDomains; Config.StubDomainsFile still applies over them.
	StubDomains map[string][]string
	// Policy and Timeout replace Config.Policy and Config.Timeout; empty and 0 select the defaults.
	Policy  string
	Timeout time.Duration
}

// Update validates u and applies it to the queries that start from now on. Upstreams that stay keep
// their health and their open connections. On an error nothing changes.
func (f *Forwarder) Update(u Update) error {
	c := Config{Upstreams: u.Upstreams, ResolvConf: f.cfg.ResolvConf, Policy: u.Policy, Timeout: u.Timeout}.withDefaults()
	switch c.Policy {
	case PolicyRandom, PolicyRoundRobin, PolicySequential:
	default:
		return fmt.Errorf("forward policy %q: want %s, %s or %s", c.Policy, PolicyRandom, PolicyRoundRobin, PolicySequential)
	}
	defaults, err := defaultUpstreams(c)
	if err != nil {
		return err
	}
	stubs, err := normaliseStubs(u.StubDomains)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.defaults, f.flagStubs, f.policy, f.timeout = defaults, stubs, c.Policy, c.Timeout
	f.installLocked()
	return nil
}

// install records fileStubs, the content of the stub domains file, and rebuilds the routing table.
func (f *Forwarder) install(fileStubs map[string][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fileStubs = fileStubs
	f.installLocked()
}

// installLocked builds and publishes the routing table from the default upstreams, the flag stub domains
// and the file's (which override flag stub domains of the same zone). f.mu is held.
func (f *Forwarder) installLocked() {
	stubs := maps.Clone(f.flagStubs)
	for zone, ups := range f.fileStubs {
		if _, ok := stubs[zone]; ok {
			f.log.Warn("stub domains file overrides a --stub-domain zone", "zone", zone, "file", f.cfg.StubDomainsFile)
		}
		stubs[zone] = ups
	}
	r, known := buildRoutes(f.defaults, stubs, f.known)
	r.policy, r.timeout = f.policy, f.timeout
	for addr, u := range f.known {
		if _, ok := known[addr]; !ok {
			f.metrics.forget(addr)
			u.closeIdle()
		}
	}
	for addr, u := range known {
		if _, ok := f.known[addr]; !ok {
			f.metrics.health(addr, !u.down.Load())
		}
	}
	f.known = known
	f.routes.Store(r)
}

// Upstreams returns the default upstreams, in ParseUpstream's form, in configured order.
func (f *Forwarder) Upstreams() []string {
	var out []string
	for _, u := range f.routes.Load().defaults.upstreams {
		out = append(out, u.addr)
	}
	return out
}

// StubDomains returns the stub domains in effect (flags merged with the file), zone -> upstreams.
func (f *Forwarder) StubDomains() map[string][]string {
	out := make(map[string][]string)
	for zone, p := range f.routes.Load().stubs {
		for _, u := range p.upstreams {
			out[zone] = append(out[zone], u.addr)
		}
	}
	return out
}

// Run checks the health of failing upstreams and reloads Config.StubDomainsFile until ctx ends, then
// returns nil. Call it once per Forwarder; Forward works without it, but then no upstream marked down
// comes back up and the stub domains file is read only by New.
func (f *Forwarder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { f.healthLoop(ctx) })
	if f.cfg.StubDomainsFile != "" {
		wg.Go(func() { f.reloadLoop(ctx) })
	}
	wg.Wait()
	return nil
}

// Forward resolves req (exactly one question) through the upstreams that serve its name: the stub domain
// with the longest matching zone, else the default upstreams. Healthy upstreams are tried in policy order
// (all of them when none is healthy), at most Config.MaxAttempts, each attempt bounded by Config.Timeout and
// all of them by ctx.
//
// Each attempt sends req, packed once, with a new random ID (over UDP from a socket that serves a few
// queries only, see udp.go), keeping the client's EDNS0 OPT record (UDP size and DO bit) without its
// options, or adding one advertising 1232 bytes; a truncated reply is retried over TCP to the same
// upstream, on a kept connection when there is one. EDNS options are hop by hop (RFC 6891 section 6.1.1: an
// OPT record is never forwarded): a client's COOKIE is for this server (RFC 7873), and its CLIENT-SUBNET
// would have the upstream tailor an answer to one client's network that the cache then serves to all
// (RFC 7871); the upstream answers for this server instead. A SERVFAIL or REFUSED reply makes the query move on to the next upstream; when no
// upstream does better, the last such reply is returned (it is the upstreams' real answer). A truncated
// reply whose TCP retry failed is returned the same way, as a last resort. When no upstream answers, Forward
// returns an error and never a made-up answer.
//
// The returned message carries req's ID and question (with the client's case). When req had no OPT record
// the OPT of the reply is removed. The reply may exceed the client's buffer: fitting it (and setting TC) is
// the DNS handler's job.
func (f *Forwarder) Forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	if len(req.Question) != 1 {
		return nil, fmt.Errorf("forward: want exactly one question, got %d", len(req.Question))
	}
	if f.inflight.Add(1) > int64(f.cfg.MaxConcurrent) {
		f.inflight.Add(-1)
		f.metrics.refused()
		return nil, ErrOverloaded
	}
	defer f.inflight.Add(-1)

	query, err := newUpstreamQuery(req)
	if err != nil {
		return nil, fmt.Errorf("forward %s: %w", req.Question[0].Name, err)
	}
	name := req.Question[0].Name
	var (
		lastErr  error
		fallback *dns.Msg
	)
	r := f.routes.Load()
	order := f.order(r, r.poolFor(name))
	for i, u := range order {
		if ctx.Err() != nil {
			break
		}
		reply, err := f.attempt(ctx, u, query, r.timeout)
		if err != nil {
			lastErr = err
			if reply != nil { // truncated reply whose TCP retry failed
				fallback = reply
			}
			continue
		}
		if (reply.Rcode == dns.RcodeServerFailure || reply.Rcode == dns.RcodeRefused) && i < len(order)-1 {
			if reply.Rcode == dns.RcodeServerFailure {
				f.metrics.failure(u.addr, reasonServfail)
			} else {
				f.metrics.failure(u.addr, reasonRefused)
			}
			fallback = reply
			continue
		}
		return finish(req, reply), nil
	}
	if fallback != nil {
		return finish(req, fallback), nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("forward %s: %w", name, err)
	}
	return nil, fmt.Errorf("forward %s: no upstream answered (%d tried): %w", name, len(order), lastErr)
}

// attempt runs one query against u, with a new random ID: over TCP or TLS for such upstreams, else UDP,
// then TCP when the UDP reply is truncated. It updates u's health and the metrics. On a failed TCP retry
// it returns the truncated UDP reply along with the error.
func (f *Forwarder) attempt(ctx context.Context, u *upstream, query *outQuery, timeout time.Duration) (*dns.Msg, error) {
	start := time.Now()
	query.setID(newID())
	if u.proto != protoUDP {
		reply, err := f.exchangeStream(ctx, u, query, timeout)
		if err != nil {
			f.attemptFailed(ctx, u, err)
			return nil, err
		}
		u.succeeded(f.log, f.metrics)
		f.metrics.observe(u.addr, reply.Rcode, time.Since(start))
		return reply, nil
	}
	reply, err := f.exchangeUDP(ctx, u, query, timeout)
	if err != nil {
		f.attemptFailed(ctx, u, err)
		return nil, err
	}
	u.succeeded(f.log, f.metrics)
	if !reply.Truncated {
		f.metrics.observe(u.addr, reply.Rcode, time.Since(start))
		return reply, nil
	}
	truncated := reply
	query.setID(newID())
	reply, err = f.exchangeStream(ctx, u, query, timeout)
	if err != nil {
		// The upstream answered over UDP, so it stays up; only the TCP path failed.
		f.metrics.failure(u.addr, reasonTCP)
		f.log.Debug("tcp retry after truncated reply failed", "upstream", u.addr, "err", err)
		return truncated, err
	}
	f.metrics.observe(u.addr, reply.Rcode, time.Since(start))
	return reply, nil
}

// attemptFailed counts a failed attempt against u, unless it failed because ctx ended.
func (f *Forwarder) attemptFailed(ctx context.Context, u *upstream, err error) {
	if ctx.Err() != nil {
		return
	}
	if isTimeout(err) {
		f.metrics.failure(u.addr, reasonTimeout)
	} else {
		f.metrics.failure(u.addr, reasonNetwork)
	}
	f.log.Debug("upstream attempt failed", "upstream", u.addr, "err", err)
	u.failed(f.log, f.metrics, f.cfg.MaxFails, err)
}

// order returns the upstreams of p to try, in policy order: the healthy ones, or all when none is healthy.
func (f *Forwarder) order(r *routes, p *pool) []*upstream {
	list := make([]*upstream, 0, len(p.upstreams))
	for _, u := range p.upstreams {
		if !u.down.Load() {
			list = append(list, u)
		}
	}
	if len(list) == 0 {
		list = append(list, p.upstreams...)
	}
	switch r.policy {
	case PolicyRandom:
		rand.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	case PolicyRoundRobin:
		start := int((p.next.Add(1) - 1) % uint64(len(list)))
		list = slices.Concat(list[start:], list[:start])
	}
	if len(list) > f.cfg.MaxAttempts {
		list = list[:f.cfg.MaxAttempts]
	}
	return list
}

// finish gives reply the client's ID and question, and drops its OPT record when the client sent none.
func finish(req, reply *dns.Msg) *dns.Msg {
	reply.Id = req.Id
	reply.Question = slices.Clone(req.Question)
	if req.IsEdns0() == nil {
		reply.Extra = slices.DeleteFunc(reply.Extra, func(rr dns.RR) bool {
			return rr.Header().Rrtype == dns.TypeOPT
		})
	}
	return reply
}
