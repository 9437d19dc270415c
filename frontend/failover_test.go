package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// Names the replicas answer.
const (
	kubernetesName = "kubernetes.default.svc.cluster.local."
	shortName      = "short.default.svc.cluster.local." // record TTL 1s
	neverName      = "never.default.svc.cluster.local." // never asked before the outage
)

// replicaService is one record-service replica with its own server id:
//
//	kubernetes.default.svc.cluster.local. 30 A 10.96.0.1
//	short.default.svc.cluster.local.       1 A shortIP
//	other names                              NAME_ERROR (NO_DATA for other types)
//
// Its Watch stream opens with a resync and then sends what the test puts in
// watch.
type replicaService struct {
	clusterdnsv1.UnimplementedRecordServiceServer
	id      string
	shortIP string
	watch   chan *clusterdnsv1.WatchResponse
	addr    string
	stop    func()

	mu      sync.Mutex
	lookups map[string]int // A questions, by lower-case name
}

// startReplica serves a replica on addr ("127.0.0.1:0" for any port) until
// stop or the end of the test.
func startReplica(t *testing.T, id, shortIP, addr string) *replicaService {
	t.Helper()
	r := &replicaService{id: id, shortIP: shortIP, watch: make(chan *clusterdnsv1.WatchResponse, 4), lookups: make(map[string]int)}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	r.addr = ln.Addr().String()
	gs := grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(gs, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			gs.Stop()
			<-done
		})
	}
	t.Cleanup(r.stop)
	return r
}

func (r *replicaService) Lookup(_ context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	name := strings.ToLower(req.GetName())
	if req.GetQtype() == uint32(dns.TypeA) {
		r.mu.Lock()
		r.lookups[name]++
		r.mu.Unlock()
	}
	resp := &clusterdnsv1.LookupResponse{Revision: 3, ServerId: r.id}
	a := func(ip string, ttl uint32, key string) {
		resp.Result, resp.Ttl, resp.Keys = clusterdnsv1.Result_RESULT_SUCCESS, ttl, []string{key}
		resp.Answer = []*clusterdnsv1.ResourceRecord{{Name: req.GetName(), Ttl: ttl,
			Data: &clusterdnsv1.ResourceRecord_A{A: &clusterdnsv1.ARecord{Address: ip}}}}
	}
	switch {
	case name == kubernetesName && req.GetQtype() == uint32(dns.TypeA):
		a("10.96.0.1", 30, "svc/default/kubernetes")
		return resp, nil
	case name == shortName && req.GetQtype() == uint32(dns.TypeA):
		a(r.shortIP, 1, "svc/default/short")
		return resp, nil
	case name == kubernetesName || name == shortName:
		resp.Result = clusterdnsv1.Result_RESULT_NO_DATA
	default:
		resp.Result = clusterdnsv1.Result_RESULT_NAME_ERROR
	}
	resp.Ttl = 5
	resp.Keys = []string{"ns/default"}
	resp.Authority = []*clusterdnsv1.ResourceRecord{{Name: "cluster.local.", Ttl: 5, Data: &clusterdnsv1.ResourceRecord_Soa{
		Soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1,
			Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}}}}
	return resp, nil
}

func (r *replicaService) Watch(_ *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	if err := stream.Send(&clusterdnsv1.WatchResponse{Revision: 3, ServerId: r.id, Resync: true}); err != nil {
		return err
	}
	for {
		select {
		case m := <-r.watch:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (r *replicaService) lookupCount(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[name]
}

// followed returns the server id the frontend's Watch stream follows, from
// /metrics ("" when none).
func (fe *frontend) followed(t *testing.T) string {
	t.Helper()
	for sample, v := range fe.scrape(t) {
		if id, ok := strings.CutPrefix(sample, `clusterdns_frontend_recordsvc_watch_server{server_id="`); ok && v == 1 {
			return strings.TrimSuffix(id, `"}`)
		}
	}
	return ""
}

// waitFollowed waits until the Watch stream follows want ("" for none).
func (fe *frontend) waitFollowed(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := fe.followed(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch stream follows %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunReplicaFailover runs the frontend against two record-service
// replicas: Lookup and Watch go to one; killing it moves both to the other
// without a false NXDOMAIN, and the cache stops serving what the first
// replica said; with every replica down cached names are answered stale
// (TTL 30, counted) when serve-stale is on and SERVFAIL when off, uncached
// names get SERVFAIL; a returning replica brings fresh answers back. An
// invalidation carrying change_time moves the programming latency
// histogram.
func TestRunReplicaFailover(t *testing.T) {
	tests := []struct {
		serveStale string
		stale      bool
	}{
		{"1h", true},
		{"0s", false},
	}
	for _, tt := range tests {
		t.Run("serve-stale "+tt.serveStale, func(t *testing.T) {
			checkGoroutines(t)
			a := startReplica(t, "replica-a", "10.96.0.20", "127.0.0.1:0")
			b := startReplica(t, "replica-b", "10.96.0.20", "127.0.0.1:0")
			byID := map[string]*replicaService{a.id: a, b.id: b}
			fe := startFrontend(t, "--recordsvc", a.addr+","+b.addr, "--serve-stale", tt.serveStale,
				"--lookup-timeout", "500ms", "--lameduck", "0s", "--upstream", startDNS(t, upstreamAnswers))
			deadline := time.Now().Add(20 * time.Second)
			for fe.followed(t) == "" {
				if time.Now().After(deadline) {
					t.Fatal("watch stream never opened")
				}
				time.Sleep(20 * time.Millisecond)
			}
			pinned := byID[fe.followed(t)]
			other := a
			if pinned == a {
				other = b
			}
			if status, _ := fe.get(t, "/ready"); status != http.StatusOK {
				t.Fatalf("/ready %d with the watch stream open", status)
			}

			// Programming latency of an invalidation that began 1.5s ago.
			pinned.watch <- &clusterdnsv1.WatchResponse{Revision: 4, ServerId: pinned.id, Keys: []string{"svc/default/x"},
				ChangeTime: timestamppb.New(time.Now().Add(-1500 * time.Millisecond))}
			for {
				// The collectors are read one after the other: wait for both.
				m := fe.scrape(t)
				if m["clusterdns_frontend_programming_latency_seconds_count"] == 1 &&
					m[`clusterdns_frontend_watch_messages_applied_total{kind="invalidation"}`] == 1 {
					if sum := m["clusterdns_frontend_programming_latency_seconds_sum"]; sum < 1.5 {
						t.Errorf("programming latency sum %v, want at least 1.5", sum)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("programming latency histogram or invalidations counter did not move to 1: %v, %v",
						m["clusterdns_frontend_programming_latency_seconds_count"],
						m[`clusterdns_frontend_watch_messages_applied_total{kind="invalidation"}`])
				}
				time.Sleep(20 * time.Millisecond)
			}

			// Lookups go to the replica the Watch stream follows.
			for _, name := range []string{kubernetesName, shortName} {
				if r := fe.ask(t, "udp", name, dns.TypeA); r.Rcode != dns.RcodeSuccess {
					t.Fatalf("%s: %v", name, r)
				}
			}
			if pinned.lookupCount(kubernetesName) != 1 || other.lookupCount(kubernetesName) != 0 {
				t.Fatalf("lookups: followed replica %d, other %d; want 1 and 0",
					pinned.lookupCount(kubernetesName), other.lookupCount(kubernetesName))
			}

			// Kill the followed replica; ask all along the failover.
			pinned.stop()
			deadline = time.Now().Add(20 * time.Second)
			for fe.followed(t) != other.id {
				if time.Now().After(deadline) {
					t.Fatalf("watch stream never moved to %s", other.id)
				}
				for _, name := range []string{kubernetesName, shortName} {
					for _, network := range []string{"udp", "tcp"} {
						r := fe.ask(t, network, name, dns.TypeA)
						if r.Rcode == dns.RcodeNameError {
							t.Fatalf("%s %s: NXDOMAIN during the failover", network, name)
						}
						if name == kubernetesName && r.Rcode != dns.RcodeSuccess {
							t.Errorf("%s %s: %s during the failover, want the cached answer", network, name, dns.RcodeToString[r.Rcode])
						}
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			// After the resync, nothing the dead replica said is trusted:
			// the name cached from it (and within its TTL) was asked again,
			// of the new replica (maybe already inside the loop above).
			if r := fe.ask(t, "udp", kubernetesName, dns.TypeA); r.Rcode != dns.RcodeSuccess {
				t.Fatalf("after failover: %v", r)
			}
			if other.lookupCount(kubernetesName) == 0 {
				t.Errorf("%s still answered from the cache after the resync to %s; want a new Lookup", kubernetesName, other.id)
			}
			if r := fe.ask(t, "udp", shortName, dns.TypeA); r.Rcode != dns.RcodeSuccess {
				t.Fatalf("%s after failover: %v", shortName, r)
			}

			// Every replica down.
			other.stop()
			fe.waitFollowed(t, "")
			time.Sleep(1100 * time.Millisecond) // shortName's record TTL runs out
			staleBefore := fe.scrape(t)[`clusterdns_frontend_stale_answers_total{source="cluster"}`]
			for _, network := range []string{"udp", "tcp"} {
				r := fe.ask(t, network, shortName, dns.TypeA)
				switch {
				case tt.stale && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30):
					t.Errorf("%s %s with every replica down: %v, want the stale answer with TTL 30", network, shortName, r)
				case !tt.stale && r.Rcode != dns.RcodeServerFailure:
					t.Errorf("%s %s with every replica down and serve-stale off: %s, want SERVFAIL", network, shortName, dns.RcodeToString[r.Rcode])
				}
				if r := fe.ask(t, network, kubernetesName, dns.TypeA); r.Rcode != dns.RcodeSuccess {
					t.Errorf("%s %s (cached, within its TTL): %s", network, kubernetesName, dns.RcodeToString[r.Rcode])
				}
				if r := fe.ask(t, network, neverName, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
					t.Errorf("%s %s (never cached): %s, want SERVFAIL", network, neverName, dns.RcodeToString[r.Rcode])
				}
			}
			wantStale := 0.0
			if tt.stale {
				wantStale = 2
			}
			if got := fe.scrape(t)[`clusterdns_frontend_stale_answers_total{source="cluster"}`] - staleBefore; got != wantStale {
				t.Errorf("stale answers counter moved by %v, want %v", got, wantStale)
			}
			// Cached and stale answers go on, but uncached cluster names
			// cannot be answered: not ready, stale or not.
			if status, _ := fe.get(t, "/ready"); status != http.StatusServiceUnavailable {
				t.Errorf("/ready %d with every replica down, want 503", status)
			}

			// A replica comes back (a new process, new data).
			back := startReplica(t, "replica-c", "10.96.0.21", pinned.addr)
			fe.waitFollowed(t, back.id)
			deadline = time.Now().Add(20 * time.Second)
			for {
				r := fe.ask(t, "udp", shortName, dns.TypeA)
				if r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "10.96.0.21" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no fresh answer from the returning replica: %v", r)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if r := fe.ask(t, "udp", neverName, dns.TypeA); r.Rcode != dns.RcodeNameError {
				t.Errorf("%s after recovery: %s, want NXDOMAIN", neverName, dns.RcodeToString[r.Rcode])
			}
			if status, _ := fe.get(t, "/ready"); status != http.StatusOK {
				t.Errorf("/ready %d after a replica returned", status)
			}
		})
	}
}
