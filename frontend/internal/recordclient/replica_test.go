package recordclient_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clusterdns/clusterdns/frontend/internal/recordclient"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

func TestReplicaList(t *testing.T) {
	tests := []struct {
		target  string
		want    []string
		isList  bool
		wantErr string
	}{
		{"127.0.0.1:9090", nil, false, ""},
		{"dns:///recordsvc.kube-system.svc:9090", nil, false, ""},
		{"dns:///a:1,b:2", nil, false, ""}, // a URI is left to gRPC
		{"10.0.0.1:9090,10.0.0.2:9090", []string{"10.0.0.1:9090", "10.0.0.2:9090"}, true, ""},
		{" a.example:1 , [fd00::1]:2,b:3", []string{"a.example:1", "[fd00::1]:2", "b:3"}, true, ""},
		{"10.0.0.1:9090,", nil, false, `replica ""`},
		{"10.0.0.1:9090,10.0.0.2", nil, false, `replica "10.0.0.2"`},
		{"10.0.0.1:9090,:9090", nil, false, "host is empty"},
		{"10.0.0.1:9090,10.0.0.2:0", nil, false, "port"},
		{"10.0.0.1:9090,10.0.0.2:http", nil, false, "port"},
		{"10.0.0.1:9090,10.0.0.1:9090", nil, false, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, isList, err := recordclient.ReplicaList(tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || isList != tt.isList || !slices.Equal(got, tt.want) {
				t.Errorf("= %q, %v, %v; want %q, %v", got, isList, err, tt.want, tt.isList)
			}
		})
	}
	if _, err := recordclient.New(recordclient.Config{Target: "10.0.0.1:9090,nope"}); err == nil {
		t.Error("New accepted a bad replica list")
	}
}

// replica is a record service replica: Watch opens with a resync from its
// server id and then sends what the test puts in msgs; Lookup answers with
// its server id and counts the calls.
type replica struct {
	clusterdnsv1.UnimplementedRecordServiceServer
	id   string
	msgs chan *clusterdnsv1.WatchResponse

	mu      sync.Mutex
	lookups int
	gs      *grpc.Server
	addr    string
}

func startReplica(t *testing.T, id, addr string) *replica {
	t.Helper()
	r := &replica{id: id, msgs: make(chan *clusterdnsv1.WatchResponse, 4)}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	r.addr = ln.Addr().String()
	r.gs = grpc.NewServer()
	clusterdnsv1.RegisterRecordServiceServer(r.gs, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.gs.Serve(ln)
	}()
	t.Cleanup(func() {
		r.gs.Stop()
		<-done
	})
	return r
}

func (r *replica) Lookup(context.Context, *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	r.mu.Lock()
	r.lookups++
	r.mu.Unlock()
	return &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR, Revision: 7, ServerId: r.id}, nil
}

func (r *replica) Watch(_ *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	if err := stream.Send(&clusterdnsv1.WatchResponse{Revision: 7, ServerId: r.id, Resync: true}); err != nil {
		return err
	}
	for {
		select {
		case m := <-r.msgs:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (r *replica) lookupCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// TestReplicaFailover: with a list of two replicas, Lookup and Watch go to
// the same one; when it dies both move to the other, whose resync reaches
// the handler; when every replica is down Lookups fail and the client is
// not ready; a returning replica is found again.
func TestReplicaFailover(t *testing.T) {
	tests := []struct {
		name   string
		target func(a, b string) string
	}{
		{"replica list", func(a, b string) string { return a + "," + b }},
		{"replica list, other order", func(a, b string) string { return b + "," + a }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reps := []*replica{startReplica(t, "replica-a", "127.0.0.1:0"), startReplica(t, "replica-b", "127.0.0.1:0")}
			byID := map[string]*replica{reps[0].id: reps[0], reps[1].id: reps[1]}
			c := newClient(t, tt.target(reps[0].addr, reps[1].addr), 500*time.Millisecond)
			rec := recorder{events: make(chan string, 16)}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = c.Watch(ctx, rec)
			}()
			t.Cleanup(func() { cancel(); <-done })

			first := waitResync(t, rec.events)
			pinned := byID[first]
			if pinned == nil {
				t.Fatalf("resync from unknown server %q", first)
			}
			if c.ServerID() != first {
				t.Errorf("ServerID() = %q, want %q", c.ServerID(), first)
			}
			other := reps[0]
			if other == pinned {
				other = reps[1]
			}
			for range 5 {
				resp, err := c.Lookup(t.Context(), "x.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				if resp.GetServerId() != first {
					t.Fatalf("Lookup answered by %s while the Watch stream follows %s", resp.GetServerId(), first)
				}
			}
			if other.lookupCount() != 0 {
				t.Errorf("%d lookups reached the replica not followed", other.lookupCount())
			}

			pinned.gs.Stop()
			expect(t, rec.events, "disconnected")
			if second := waitResync(t, rec.events); second != other.id {
				t.Fatalf("resync from %q after failover, want %q", second, other.id)
			}
			resp, err := c.Lookup(t.Context(), "x.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
			if err != nil || resp.GetServerId() != other.id {
				t.Fatalf("Lookup after failover: %v %v, want an answer of %s", resp, err, other.id)
			}

			other.gs.Stop()
			expect(t, rec.events, "disconnected")
			if _, err := c.Lookup(t.Context(), "x.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP); err == nil {
				t.Error("Lookup succeeded with every replica down")
			}
			if c.Ready() || c.WatchConnected() || c.ServerID() != "" {
				t.Errorf("Ready %v, WatchConnected %v, ServerID %q with every replica down", c.Ready(), c.WatchConnected(), c.ServerID())
			}

			back := startReplica(t, "replica-a2", pinned.addr)
			if got := waitResync(t, rec.events); got != back.id {
				t.Fatalf("resync from %q, want the returning replica %q", got, back.id)
			}
			if !c.Ready() {
				t.Error("not Ready after a replica returned")
			}
		})
	}
}

// waitResync returns the server id of the next resync event.
func waitResync(t *testing.T, events <-chan string) string {
	t.Helper()
	select {
	case ev := <-events:
		var id string
		var rev uint64
		if _, err := fmt.Sscanf(ev, "resync %s %d", &id, &rev); err != nil {
			t.Fatalf("event %q, want a resync", ev)
		}
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no resync")
		return ""
	}
}

// TestProgrammingLatency: an invalidation carrying change_time is observed
// into the programming latency histogram when applied; one without is
// counted but not observed.
func TestProgrammingLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := recordclient.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, "s1", "127.0.0.1:0")
	c, err := recordclient.New(recordclient.Config{Target: r.addr, Metrics: m, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	rec := recorder{events: make(chan string, 16)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Watch(ctx, rec)
	}()
	t.Cleanup(func() { cancel(); <-done })
	expect(t, rec.events, "resync s1 7")

	steps := []struct {
		name      string
		msg       *clusterdnsv1.WatchResponse
		event     string
		count     uint64  // histogram samples after the step
		minSum    float64 // histogram sum at least
		applied   float64 // invalidations applied after the step
		keys      float64
		serverOne float64 // recordsvc_watch_server{server_id="s1"}
	}{
		{"with change time 2s ago",
			&clusterdnsv1.WatchResponse{Revision: 8, ServerId: "s1", Keys: []string{"svc/ns/a", "ns/ns"},
				ChangeTime: timestamppb.New(time.Now().Add(-2 * time.Second))},
			"invalidate s1 8 svc/ns/a,ns/ns", 1, 2, 1, 2, 1},
		{"without change time",
			&clusterdnsv1.WatchResponse{Revision: 9, ServerId: "s1", Keys: []string{"svc/ns/b"}},
			"invalidate s1 9 svc/ns/b", 1, 2, 2, 3, 1},
		{"zero change time",
			&clusterdnsv1.WatchResponse{Revision: 10, ServerId: "s1", Keys: []string{"svc/ns/c"}, ChangeTime: &timestamppb.Timestamp{}},
			"invalidate s1 10 svc/ns/c", 1, 2, 3, 4, 1},
		{"change time in the future (clock skew)",
			&clusterdnsv1.WatchResponse{Revision: 11, ServerId: "s1", Keys: []string{"svc/ns/d"},
				ChangeTime: timestamppb.New(time.Now().Add(time.Hour))},
			"invalidate s1 11 svc/ns/d", 2, 2, 4, 5, 1},
	}
	for _, s := range steps {
		r.msgs <- s.msg
		expect(t, rec.events, s.event)
		// The metrics are recorded one after another right after the
		// handler returns: wait until all of this step's have moved.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			n, _ := histogram(t, reg)
			if n == s.count &&
				sample(t, reg, "clusterdns_frontend_watch_messages_applied_total/invalidation") == s.applied &&
				sample(t, reg, "clusterdns_frontend_watch_keys_applied_total/") == s.keys {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		count, sum := histogram(t, reg)
		if count != s.count || sum < s.minSum {
			t.Errorf("%s: histogram count %d sum %v, want count %d sum >= %v", s.name, count, sum, s.count, s.minSum)
		}
		if sum > 600 {
			t.Errorf("%s: histogram sum %v: a future change time counted as a long latency", s.name, sum)
		}
		for name, want := range map[string]float64{
			"clusterdns_frontend_watch_messages_applied_total/invalidation": s.applied,
			"clusterdns_frontend_watch_messages_applied_total/resync":       1,
			"clusterdns_frontend_watch_keys_applied_total/":                 s.keys,
			"clusterdns_frontend_recordsvc_watch_server/s1":                 s.serverOne,
		} {
			if got := sample(t, reg, name); got != want {
				t.Errorf("%s: %s = %v, want %v", s.name, name, got, want)
			}
		}
	}
	r.gs.Stop()
	expect(t, rec.events, "disconnected")
	if got := sample(t, reg, "clusterdns_frontend_recordsvc_watch_server/s1"); got != 0 {
		t.Errorf("watch server gauge %v after the stream broke, want no sample", got)
	}
}

// histogram returns the sample count and sum of the programming latency
// histogram.
func histogram(t *testing.T, reg *prometheus.Registry) (uint64, float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() == "clusterdns_frontend_programming_latency_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatal("no programming latency histogram")
	return 0, 0
}

// sample returns the value of "family/label value" (the first label's
// value; empty for a family without labels), 0 when there is no such
// sample.
func sample(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	family, value, _ := strings.Cut(name, "/")
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := m.GetLabel()
			if (len(labels) == 0 && value == "") || (len(labels) > 0 && labels[0].GetValue() == value) {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// TestReplicasSpread: clients given the same replica list do not all pick
// its first address (pick_first with shuffleAddressList). With 24 clients
// and a fair shuffle, all of them on one replica has a chance of 2^-23.
func TestReplicasSpread(t *testing.T) {
	a := startReplica(t, "replica-a", "127.0.0.1:0")
	b := startReplica(t, "replica-b", "127.0.0.1:0")
	seen := make(map[string]int)
	for range 24 {
		c := newClient(t, a.addr+","+b.addr, 2*time.Second)
		resp, err := c.Lookup(t.Context(), "x.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		seen[resp.GetServerId()]++
		_ = c.Close()
	}
	if seen[a.id] == 0 || seen[b.id] == 0 {
		t.Errorf("clients per replica %v: want both replicas used", seen)
	}
}

// TestDNSTarget: a dns:/// target goes through gRPC's DNS resolver.
func TestDNSTarget(t *testing.T) {
	r := startReplica(t, "replica-a", "127.0.0.1:0")
	c := newClient(t, "dns:///"+r.addr, 2*time.Second)
	resp, err := c.Lookup(t.Context(), "x.cluster.local.", 1, "", clusterdnsv1.Transport_TRANSPORT_UDP)
	if err != nil || resp.GetServerId() != r.id {
		t.Fatalf("Lookup through dns:///: %v %v", resp, err)
	}
}
