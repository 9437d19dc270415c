package dnsserver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/forward"
	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// fakeRecords is an in-process RecordService with canned answers, call
// counts and a Watch stream the test drives.
type fakeRecords struct {
	clusterdnsv1.UnimplementedRecordServiceServer
	watch chan *clusterdnsv1.WatchResponse

	mu       sync.Mutex
	serverID string
	revision uint64
	answers  map[string]answerFunc // by lower-case name and qtype, see answerKey
	calls    map[string]int
	requests []*clusterdnsv1.LookupRequest
	// block, when set for a name, is called inside Lookup before answering
	// (outside the lock); it returns the revision to answer at.
	block map[string]func() uint64
}

type answerFunc func(name string, rev uint64) *clusterdnsv1.LookupResponse

func answerKey(name string, qtype uint16) string {
	return strings.ToLower(dns.Fqdn(name)) + "/" + dns.Type(qtype).String()
}

func newFakeRecords() *fakeRecords {
	return &fakeRecords{
		watch:    make(chan *clusterdnsv1.WatchResponse, 16),
		serverID: "s1",
		revision: 10,
		answers:  make(map[string]answerFunc),
		calls:    make(map[string]int),
		block:    make(map[string]func() uint64),
	}
}

func (f *fakeRecords) set(name string, qtype uint16, a answerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[answerKey(name, qtype)] = a
}

func (f *fakeRecords) callCount(name string, qtype uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[answerKey(name, qtype)]
}

func (f *fakeRecords) lastRequest() *clusterdnsv1.LookupRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return nil
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeRecords) Lookup(ctx context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	key := answerKey(req.GetName(), uint16(req.GetQtype()))
	f.mu.Lock()
	f.calls[key]++
	f.requests = append(f.requests, req)
	a := f.answers[key]
	block := f.block[key]
	rev, id := f.revision, f.serverID
	f.mu.Unlock()
	if block != nil {
		rev = block()
	}
	if a == nil {
		a = nameError
	}
	resp := a(req.GetName(), rev)
	if resp == nil {
		// A nil answer means: take longer than any lookup deadline.
		<-ctx.Done()
		return nil, ctx.Err()
	}
	resp.Revision, resp.ServerId = rev, id
	return resp, nil
}

func (f *fakeRecords) Watch(_ *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	f.mu.Lock()
	first := &clusterdnsv1.WatchResponse{Revision: f.revision, ServerId: f.serverID, Resync: true}
	f.mu.Unlock()
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		select {
		case m := <-f.watch:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// invalidate bumps the revision and announces keys on the Watch stream.
func (f *fakeRecords) invalidate(keys ...string) uint64 {
	f.mu.Lock()
	f.revision++
	m := &clusterdnsv1.WatchResponse{Revision: f.revision, ServerId: f.serverID, Keys: keys}
	f.mu.Unlock()
	f.watch <- m
	return m.Revision
}

// resync announces a restarted record service.
func (f *fakeRecords) resync(serverID string) {
	f.mu.Lock()
	f.serverID = serverID
	f.revision = 1
	m := &clusterdnsv1.WatchResponse{Revision: f.revision, ServerId: f.serverID, Resync: true}
	f.mu.Unlock()
	f.watch <- m
}

// Canned answers.

func rec(name string, data func(*clusterdnsv1.ResourceRecord)) *clusterdnsv1.ResourceRecord {
	r := &clusterdnsv1.ResourceRecord{Name: dns.Fqdn(name), Ttl: 30}
	data(r)
	return r
}

func aData(ip string) func(*clusterdnsv1.ResourceRecord) {
	return func(r *clusterdnsv1.ResourceRecord) {
		r.Data = &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: ip}}
	}
}

func soaRecord() *clusterdnsv1.ResourceRecord {
	return rec("cluster.local.", func(r *clusterdnsv1.ResourceRecord) {
		r.Data = &clusterdnsv1.ResourceRecord_Soa{Soa: &clusterdnsv1.SOARecord{
			Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1,
			Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5,
		}}
	})
}

func aAnswer(keys []string, ips ...string) answerFunc {
	return func(name string, _ uint64) *clusterdnsv1.LookupResponse {
		resp := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Keys: keys}
		for _, ip := range ips {
			resp.Answer = append(resp.Answer, rec(name, aData(ip)))
		}
		return resp
	}
}

// cnameAnswer is an ExternalName service's answer: the CNAME alone, its
// target outside the cluster zone.
func cnameAnswer(target string, keys ...string) answerFunc {
	return func(name string, _ uint64) *clusterdnsv1.LookupResponse {
		return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30, Keys: keys,
			Answer: []*clusterdnsv1.ResourceRecord{rec(name, func(r *clusterdnsv1.ResourceRecord) {
				r.Data = &clusterdnsv1.ResourceRecord_Cname{Cname: &clusterdnsv1.CNAMERecord{Target: target}}
			})}}
	}
}

func ptrAnswer(target string) answerFunc {
	return func(name string, _ uint64) *clusterdnsv1.LookupResponse {
		return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS, Ttl: 30,
			Answer: []*clusterdnsv1.ResourceRecord{rec(name, func(r *clusterdnsv1.ResourceRecord) {
				r.Data = &clusterdnsv1.ResourceRecord_Ptr{Ptr: &clusterdnsv1.PTRRecord{Target: target}}
			})}}
	}
}

func result(r clusterdnsv1.Result, keys ...string) answerFunc {
	return func(string, uint64) *clusterdnsv1.LookupResponse {
		resp := &clusterdnsv1.LookupResponse{Result: r, Keys: keys, Ttl: 5}
		if r == clusterdnsv1.Result_RESULT_NAME_ERROR || r == clusterdnsv1.Result_RESULT_NO_DATA {
			resp.Authority = []*clusterdnsv1.ResourceRecord{soaRecord()}
		}
		return resp
	}
}

func nameError(name string, rev uint64) *clusterdnsv1.LookupResponse {
	return result(clusterdnsv1.Result_RESULT_NAME_ERROR)(name, rev)
}

// zone fills the fake with the names the tests ask.
func zone(f *fakeRecords) {
	f.set("web.default.svc.cluster.local.", dns.TypeA, aAnswer([]string{"svc/default/web", "ns/default"}, "10.96.0.5"))
	f.set("db.default.svc.cluster.local.", dns.TypeA, aAnswer([]string{"svc/default/db", "ns/default"}, "10.96.0.6"))
	f.set("web.default.svc.cluster.local.", dns.TypeAAAA, result(clusterdnsv1.Result_RESULT_NO_DATA, "svc/default/web"))
	f.set("unknown.svc.cluster.local.", dns.TypeA, result(clusterdnsv1.Result_RESULT_NAME_ERROR, "ns/unknown"))
	f.set("notready.default.svc.cluster.local.", dns.TypeA, result(clusterdnsv1.Result_RESULT_NOT_READY))
	f.set("slow.default.svc.cluster.local.", dns.TypeA, func(string, uint64) *clusterdnsv1.LookupResponse { return nil })
	f.set("bad.default.svc.cluster.local.", dns.TypeA, func(name string, _ uint64) *clusterdnsv1.LookupResponse {
		return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_SUCCESS,
			Answer: []*clusterdnsv1.ResourceRecord{{Name: name, Ttl: 30}}}
	})
	f.set("5.0.96.10.in-addr.arpa.", dns.TypePTR, ptrAnswer("web.default.svc.cluster.local."))
	f.set("9.9.9.9.in-addr.arpa.", dns.TypePTR, result(clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE, "addr/9.9.9.9"))
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
	}
	f.set("many.default.svc.cluster.local.", dns.TypeA, aAnswer([]string{"svc/default/many"}, many...))
	f.set("three.default.svc.cluster.local.", dns.TypeA, aAnswer([]string{"svc/default/three"}, "10.2.0.1", "10.2.0.2", "10.2.0.3"))
	// ExternalName services whose targets lie outside the cluster zone
	// (see upstreamZone for what the upstreams answer about them).
	for name, target := range map[string]string{
		"ext":     "www.example.org.",
		"extnx":   "gone.example.org.",
		"exttc":   "tc.example.org.",
		"extfail": "servfail.example.org.",
		"extmany": "many.example.org.",
		"extdown": "www.down.example.",
	} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME} {
			f.set(name+".default.svc.cluster.local.", qtype, cnameAnswer(target, "svc/default/"+name))
		}
	}
	// An answer completed from the client's search path (autopath): for
	// that client only.
	f.set("ap.default.svc.cluster.local.", dns.TypeA, func(name string, rev uint64) *clusterdnsv1.LookupResponse {
		resp := aAnswer([]string{"svc/default/ap"}, "10.96.0.8")(name, rev)
		resp.AutopathNamespace = "default"
		return resp
	})
	// An ExternalName service whose target is in the zone: the record
	// service chases it itself.
	f.set("extin.default.svc.cluster.local.", dns.TypeA, func(name string, rev uint64) *clusterdnsv1.LookupResponse {
		resp := cnameAnswer("web.default.svc.cluster.local.", "svc/default/extin", "svc/default/web")(name, rev)
		resp.Answer = append(resp.Answer, rec("web.default.svc.cluster.local.", aData("10.96.0.5")))
		return resp
	})
}

// harness is a DNS server on 127.0.0.1:0 in front of a fake record service.
type harness struct {
	fake   *fakeRecords
	cache  *dnscache.Cache
	client *recordclient.Client
	fwd    *forward.Forwarder
	reg    *prometheus.Registry
	srv    *dnsserver.Server
	udp    string
	tcp    string
}

type harnessOptions struct {
	noCache       bool
	recordsTarget string // overrides the fake's address (a dead one)
	lookupTimeout time.Duration
	// cache configures the cache (MaxBytes, TTL bounds, clock).
	cache dnscache.Config
	// forward, when it names upstreams, makes a forwarder (Timeout 500ms
	// and sequential policy unless set).
	forward forward.Config
	// configure adjusts the server configuration last.
	configure func(*dnsserver.Config)
}

func startHarness(t *testing.T, opts harnessOptions) *harness {
	t.Helper()
	h := &harness{fake: newFakeRecords(), reg: prometheus.NewRegistry()}
	zone(h.fake)
	target := opts.recordsTarget
	if target == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		gs := grpc.NewServer()
		clusterdnsv1.RegisterRecordServiceServer(gs, h.fake)
		go func() { _ = gs.Serve(ln) }()
		t.Cleanup(gs.Stop)
		target = ln.Addr().String()
	}
	if opts.lookupTimeout == 0 {
		opts.lookupTimeout = 300 * time.Millisecond
	}
	client, err := recordclient.New(recordclient.Config{
		Target: target, LookupTimeout: opts.lookupTimeout,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("recordclient: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	h.client = client
	if !opts.noCache {
		c, err := dnscache.New(opts.cache)
		if err != nil {
			t.Fatalf("cache: %v", err)
		}
		t.Cleanup(c.Close)
		h.cache = c
	}
	metrics, err := dnsserver.NewMetrics(h.reg, h.cache)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	cfg := dnsserver.Config{
		Listen:  "127.0.0.1:0",
		Records: client,
		Cache:   h.cache,
		Metrics: metrics,
	}
	if len(opts.forward.Upstreams) > 0 {
		fc := opts.forward
		if fc.Timeout == 0 {
			fc.Timeout = 500 * time.Millisecond
		}
		if fc.Policy == "" {
			fc.Policy = forward.PolicySequential
		}
		if fc.Metrics == nil {
			fm, err := forward.NewMetrics(h.reg)
			if err != nil {
				t.Fatalf("forward metrics: %v", err)
			}
			fc.Metrics = fm
		}
		fwd, err := forward.New(fc, nil)
		if err != nil {
			t.Fatalf("forward.New: %v", err)
		}
		h.fwd = fwd
		cfg.Forwarder = fwd
	}
	if opts.configure != nil {
		opts.configure(&cfg)
	}
	srv, err := dnsserver.New(cfg)
	if err != nil {
		t.Fatalf("dnsserver.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fwdDone := make(chan struct{})
	if h.fwd != nil {
		go func() {
			defer close(fwdDone)
			_ = h.fwd.Run(ctx)
		}()
	} else {
		close(fwdDone)
	}
	if err := srv.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	h.srv = srv
	h.udp, h.tcp = srv.UDPAddr().String(), srv.TCPAddr().String()
	watchDone := make(chan struct{})
	if h.cache != nil {
		go func() {
			defer close(watchDone)
			_ = client.Watch(ctx, h.cache)
		}()
	} else {
		close(watchDone)
	}
	t.Cleanup(func() {
		cancel()
		<-watchDone
		<-fwdDone
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	if h.cache != nil && opts.recordsTarget == "" {
		h.waitInvalidations(t, 1) // the stream's opening resync
	}
	return h
}

// waitInvalidations waits until the cache has applied n Watch messages.
func (h *harness) waitInvalidations(t *testing.T, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.cache.Stats().Invalidations < n {
		if time.Now().After(deadline) {
			t.Fatalf("cache applied %d watch messages, want %d", h.cache.Stats().Invalidations, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.cache.Wait()
}

func (h *harness) addr(network string) string {
	if network == "tcp" {
		return h.tcp
	}
	return h.udp
}

// query sends m over network ("udp" or "tcp") and returns the reply.
func (h *harness) query(t *testing.T, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: dns.MaxMsgSize}
	resp, _, err := c.Exchange(m, h.addr(network))
	if err != nil {
		t.Fatalf("%s query %v: %v", network, m.Question, err)
	}
	if resp.Id != m.Id {
		t.Fatalf("reply ID %d, want %d", resp.Id, m.Id)
	}
	return resp
}

func (h *harness) ask(t *testing.T, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	return h.query(t, network, new(dns.Msg).SetQuestion(name, qtype))
}

// raw sends wire bytes and returns the reply bytes, or nil when none came
// within wait.
func (h *harness) raw(t *testing.T, network string, msg []byte, wait time.Duration) []byte {
	t.Helper()
	conn, err := net.Dial(network, h.addr(network))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	if network == "tcp" {
		msg = append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...)
	}
	if _, err := conn.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, dns.MaxMsgSize)
	if network == "tcp" {
		if _, err := readFull(conn, buf[:2]); err != nil {
			return nil
		}
		n := int(buf[0])<<8 | int(buf[1])
		if _, err := readFull(conn, buf[:n]); err != nil {
			t.Fatalf("short TCP reply: %v", err)
		}
		return buf[:n]
	}
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func readFull(conn net.Conn, b []byte) (int, error) {
	total := 0
	for total < len(b) {
		n, err := conn.Read(b[total:])
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// counterValue sums the samples of a metric family whose labels include
// the given ones.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}
