package kubeindex

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func ips(texts ...string) []netip.Addr {
	var out []netip.Addr
	for _, t := range texts {
		out = append(out, netip.MustParseAddr(t))
	}
	return out
}

func httpPort() []Port { return []Port{{Name: "http", Protocol: "tcp", Port: 80}} }

func svc(ns, name string, clusterIPs ...string) Service {
	return Service{Namespace: ns, Name: name, ClusterIPs: ips(clusterIPs...), Ports: httpPort()}
}

func ep(ready bool, hostname string, addrs ...string) Endpoint {
	return Endpoint{Addresses: ips(addrs...), Hostname: hostname, Ready: ready, Ports: httpPort()}
}

func slice(ns, name, service string, eps ...Endpoint) EndpointSlice {
	return EndpointSlice{Namespace: ns, Name: name, Service: service, Endpoints: eps}
}

// TestIndexChanges applies a sequence of writes and checks, after each, the
// keys announced and that the revision moved by one exactly when something
// DNS-visible changed.
func TestIndexChanges(t *testing.T) {
	steps := []struct {
		name  string
		write func(ix *Index)
		want  []string // nil: no change announced
	}{
		{"namespace added", func(ix *Index) { ix.SetNamespace("default") }, []string{"ns/default"}},
		{"namespace again", func(ix *Index) { ix.SetNamespace("Default") }, nil},
		{"service added", func(ix *Index) { ix.SetService(svc("default", "web", "10.96.0.5")) },
			[]string{"ip/10.96.0.5", "svc/default/web", "svcs/default"}},
		{"same service again", func(ix *Index) { ix.SetService(svc("default", "web", "10.96.0.5")) }, nil},
		{"service port changed", func(ix *Index) {
			s := svc("default", "web", "10.96.0.5")
			s.Ports = []Port{{Name: "http", Protocol: "tcp", Port: 8080}}
			ix.SetService(s)
		}, []string{"svc/default/web"}},
		{"service becomes dual-stack", func(ix *Index) {
			s := svc("default", "web", "10.96.0.5", "fd00:10:96::5")
			s.Ports = []Port{{Name: "http", Protocol: "tcp", Port: 8080}}
			ix.SetService(s)
		}, []string{"ip/fd00:10:96::5", "svc/default/web"}},
		{"cluster IP replaced", func(ix *Index) {
			s := svc("default", "web", "10.96.0.6", "fd00:10:96::5")
			s.Ports = []Port{{Name: "http", Protocol: "tcp", Port: 8080}}
			ix.SetService(s)
		}, []string{"ip/10.96.0.5", "ip/10.96.0.6", "svc/default/web"}},
		{"slice added", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-1", "web", ep(true, "", "10.244.0.1"), ep(true, "", "10.244.0.2")))
		}, []string{"ip/10.244.0.1", "ip/10.244.0.2", "svc/default/web"}},
		{"slice reordered", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-1", "web", ep(true, "", "10.244.0.2"), ep(true, "", "10.244.0.1")))
		}, nil},
		{"endpoint not ready", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-1", "web", ep(true, "", "10.244.0.2"), ep(false, "", "10.244.0.1")))
		}, []string{"ip/10.244.0.1", "svc/default/web"}},
		{"second slice duplicates a ready address", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-2", "web", ep(true, "", "10.244.0.2")))
		}, nil},
		{"second slice makes the not-ready address ready", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-2", "web", ep(true, "", "10.244.0.2"), ep(true, "", "10.244.0.1")))
		}, []string{"ip/10.244.0.1", "svc/default/web"}},
		{"first slice deleted: second still covers both", func(ix *Index) { ix.DeleteEndpointSlice("default", "web-1") }, nil},
		{"unknown slice deleted", func(ix *Index) { ix.DeleteEndpointSlice("default", "nope") }, nil},
		{"slice without service is ignored", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "orphan", "", ep(true, "", "10.244.9.9")))
		}, nil},
		{"slice moves to another service", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-2", "api", ep(true, "", "10.244.0.2"), ep(true, "", "10.244.0.1")))
		}, []string{"ip/10.244.0.1", "ip/10.244.0.2", "svc/default/api", "svc/default/web"}},
		{"slice back", func(ix *Index) {
			ix.SetEndpointSlice(slice("default", "web-2", "web", ep(true, "", "10.244.0.2"), ep(true, "", "10.244.0.1")))
		}, []string{"ip/10.244.0.1", "ip/10.244.0.2", "svc/default/api", "svc/default/web"}},
		{"service deleted", func(ix *Index) { ix.DeleteService("default", "web") },
			[]string{"ip/10.244.0.1", "ip/10.244.0.2", "ip/10.96.0.6", "ip/fd00:10:96::5", "svc/default/web", "svcs/default"}},
		{"service deleted again", func(ix *Index) { ix.DeleteService("default", "web") }, nil},
		{"headless service added", func(ix *Index) {
			ix.SetService(Service{Namespace: "default", Name: "web", Headless: true, Ports: httpPort()})
		}, []string{"ip/10.244.0.1", "ip/10.244.0.2", "svc/default/web", "svcs/default"}},
		{"pod running", func(ix *Index) {
			ix.SetPod(Pod{Namespace: "default", Name: "p1", IPs: ips("10.244.1.1", "fd00:10:244::1")})
		}, []string{"pod/10.244.1.1", "pod/fd00:10:244::1"}},
		{"second pod with same IP in same namespace", func(ix *Index) {
			ix.SetPod(Pod{Namespace: "default", Name: "p2", IPs: ips("10.244.1.1")})
		}, nil},
		{"first pod gone", func(ix *Index) { ix.DeletePod("default", "p1") }, []string{"pod/fd00:10:244::1"}},
		{"second pod stops running", func(ix *Index) { ix.SetPod(Pod{Namespace: "default", Name: "p2"}) },
			[]string{"pod/10.244.1.1"}},
		{"pod that never ran deleted", func(ix *Index) { ix.DeletePod("default", "p2") }, nil},
		{"namespace deleted", func(ix *Index) { ix.DeleteNamespace("default") }, []string{"ns/default"}},
	}

	ix := New(Config{StartRevision: 100})
	sub := ix.Subscribe(t.Context())
	defer sub.Close()
	for _, step := range steps {
		before := ix.Revision()
		step.write(ix)
		got := drain(sub)
		switch {
		case step.want == nil:
			if len(got) != 0 || ix.Revision() != before {
				t.Fatalf("%s: want no change, got %v (revision %d -> %d)", step.name, got, before, ix.Revision())
			}
		case len(got) != 1:
			t.Fatalf("%s: want one change %v, got %v", step.name, step.want, got)
		case got[0].Revision != before+1 || ix.Revision() != before+1:
			t.Fatalf("%s: want revision %d, got change at %d, index at %d", step.name, before+1, got[0].Revision, ix.Revision())
		case !slices.Equal(got[0].Keys, step.want):
			t.Fatalf("%s: keys\n got %v\nwant %v", step.name, got[0].Keys, step.want)
		}
	}
}

// drain returns the changes buffered in the subscription.
func drain(sub *Subscription) []Change {
	out, _ := sub.Take(nil)
	return out
}

func TestMergeEndpoints(t *testing.T) {
	tests := []struct {
		name   string
		slices []EndpointSlice
		want   []Endpoint
	}{
		{
			name:   "one slice sorted by address",
			slices: []EndpointSlice{slice("ns", "a", "s", ep(true, "", "10.0.0.2"), ep(true, "", "10.0.0.1"))},
			want:   []Endpoint{ep(true, "", "10.0.0.1"), ep(true, "", "10.0.0.2")},
		},
		{
			name: "slices merged, duplicate removed",
			slices: []EndpointSlice{
				slice("ns", "a", "s", ep(true, "", "10.0.0.1")),
				slice("ns", "b", "s", ep(true, "", "10.0.0.1"), ep(true, "", "10.0.0.3")),
			},
			want: []Endpoint{ep(true, "", "10.0.0.1"), ep(true, "", "10.0.0.3")},
		},
		{
			name: "ready duplicate wins over not ready",
			slices: []EndpointSlice{
				slice("ns", "a", "s", ep(false, "", "10.0.0.1")),
				slice("ns", "b", "s", ep(true, "", "10.0.0.1")),
			},
			want: []Endpoint{ep(true, "", "10.0.0.1")},
		},
		{
			name:   "not ready kept when alone",
			slices: []EndpointSlice{slice("ns", "a", "s", ep(false, "db-0", "10.0.0.1"), ep(true, "db-1", "10.0.0.2"))},
			want:   []Endpoint{ep(false, "db-0", "10.0.0.1"), ep(true, "db-1", "10.0.0.2")},
		},
		{
			name:   "endpoint with several addresses keeps the new ones",
			slices: []EndpointSlice{slice("ns", "a", "s", ep(true, "", "10.0.0.1"), ep(true, "x", "10.0.0.1", "10.0.0.9"))},
			want:   []Endpoint{ep(true, "", "10.0.0.1"), ep(true, "x", "10.0.0.9")},
		},
		{
			name: "dual-stack slices",
			slices: []EndpointSlice{
				slice("ns", "v6", "s", ep(true, "web-0", "fd00::1")),
				slice("ns", "v4", "s", ep(true, "web-0", "10.0.0.1")),
			},
			want: []Endpoint{ep(true, "web-0", "10.0.0.1"), ep(true, "web-0", "fd00::1")},
		},
		{
			name:   "IPv4-mapped addresses unmapped",
			slices: []EndpointSlice{slice("ns", "a", "s", ep(true, "", "::ffff:10.0.0.1"))},
			want:   []Endpoint{ep(true, "", "10.0.0.1")},
		},
		{name: "no slices", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := New(Config{})
			for _, s := range tt.slices {
				ix.SetEndpointSlice(s)
			}
			got := ix.Endpoints("NS", "S")
			if !slices.EqualFunc(got, tt.want, endpointEqual) {
				t.Fatalf("endpoints\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReverseMaps(t *testing.T) {
	ix := New(Config{})
	ix.SetService(svc("b", "web", "10.96.0.5", "fd00::5"))
	ix.SetService(svc("a", "web", "10.96.0.5")) // the API server forbids it; the index copes
	ix.SetEndpointSlice(slice("b", "web-1", "web", ep(true, "web-0", "10.244.0.1")))
	ix.SetEndpointSlice(slice("a", "db-1", "db", ep(false, "", "10.244.0.1")))
	ix.SetPod(Pod{Namespace: "b", Name: "p1", IPs: ips("10.244.0.1")})
	ix.SetPod(Pod{Namespace: "a", Name: "p2", IPs: ips("10.244.0.1")})

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"services by cluster IP", names(ix.ServicesByClusterIP(netip.MustParseAddr("10.96.0.5"))), []string{"a/web", "b/web"}},
		{"services by IPv6 cluster IP", names(ix.ServicesByClusterIP(netip.MustParseAddr("fd00::5"))), []string{"b/web"}},
		{"services by mapped IP", names(ix.ServicesByClusterIP(netip.MustParseAddr("::ffff:10.96.0.5"))), []string{"a/web", "b/web"}},
		{"no service", names(ix.ServicesByClusterIP(netip.MustParseAddr("10.96.0.6"))), []string(nil)},
		{"endpoints by IP", refs(ix.EndpointsByIP(netip.MustParseAddr("10.244.0.1"))), []string{"a/db//false", "b/web/web-0/true"}},
		{"no endpoint", refs(ix.EndpointsByIP(netip.MustParseAddr("10.244.0.2"))), []string(nil)},
		{"pod namespaces", ix.PodNamespacesByIP(netip.MustParseAddr("10.244.0.1")), []string{"a", "b"}},
		{"no pod", ix.PodNamespacesByIP(netip.MustParseAddr("10.244.0.2")), []string(nil)},
	}
	for _, tt := range tests {
		if !equalAny(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}

	ix.DeleteService("a", "web")
	ix.DeleteEndpointSlice("a", "db-1")
	if got := names(ix.ServicesByClusterIP(netip.MustParseAddr("10.96.0.5"))); !slices.Equal(got, []string{"b/web"}) {
		t.Errorf("after delete: services by cluster IP %v", got)
	}
	if got := refs(ix.EndpointsByIP(netip.MustParseAddr("10.244.0.1"))); !slices.Equal(got, []string{"b/web/web-0/true"}) {
		t.Errorf("after delete: endpoints by IP %v", got)
	}
	if _, ok := ix.Service("B", "WEB"); !ok {
		t.Errorf("lookups must be case-insensitive")
	}

	// A second address of a dual-stack endpoint, and an endpoint whose
	// readiness changes under the same address.
	for _, ready := range []bool{true, false} {
		ix.SetEndpointSlice(slice("b", "web-1", "web", ep(ready, "web-0", "10.244.0.9", "fd00::9")))
		for _, addr := range []string{"10.244.0.9", "fd00::9"} {
			want := []string{"b/web/web-0/" + fmt.Sprint(ready)}
			if got := refs(ix.EndpointsByIP(netip.MustParseAddr(addr))); !slices.Equal(got, want) {
				t.Errorf("ready %v: endpoints by %s: %v, want %v", ready, addr, got, want)
			}
		}
	}
	if got := refs(ix.EndpointsByIP(netip.MustParseAddr("10.244.0.1"))); got != nil {
		t.Errorf("replaced address still resolves: %v", got)
	}
}

func names(svcs []Service) []string {
	var out []string
	for _, s := range svcs {
		out = append(out, s.Namespace+"/"+s.Name)
	}
	return out
}

func refs(rs []EndpointRef) []string {
	var out []string
	for _, r := range rs {
		ready := "false"
		if r.Endpoint.Ready {
			ready = "true"
		}
		out = append(out, r.Namespace+"/"+r.Service+"/"+r.Endpoint.Hostname+"/"+ready)
	}
	return out
}

func equalAny(a, b any) bool {
	as, ok1 := a.([]string)
	bs, ok2 := b.([]string)
	return ok1 && ok2 && slices.Equal(as, bs)
}

func TestReplace(t *testing.T) {
	ix := New(Config{StartRevision: 1})
	sub := ix.Subscribe(t.Context())
	defer sub.Close()
	first := Snapshot{
		Namespaces:     []string{"default", "demo"},
		Services:       []Service{svc("default", "kubernetes", "10.96.0.1"), svc("demo", "web", "10.96.0.20")},
		EndpointSlices: []EndpointSlice{slice("demo", "web-1", "web", ep(true, "", "10.244.0.1"))},
		Pods:           []Pod{{Namespace: "demo", Name: "web-0", IPs: ips("10.244.0.1")}},
	}
	second := Snapshot{
		Namespaces: []string{"default", "other"},
		Services:   []Service{svc("default", "kubernetes", "10.96.0.1"), svc("other", "api", "10.96.0.30")},
	}
	steps := []struct {
		name string
		snap Snapshot
		want []string
	}{
		{"initial", first, []string{"ip/10.244.0.1", "ip/10.96.0.1", "ip/10.96.0.20", "ns/default", "ns/demo",
			"pod/10.244.0.1", "svc/default/kubernetes", "svc/demo/web", "svcs/default", "svcs/demo"}},
		{"same again", first, nil},
		{"only the differences", second, []string{"ip/10.244.0.1", "ip/10.96.0.20", "ip/10.96.0.30", "ns/demo",
			"ns/other", "pod/10.244.0.1", "svc/demo/web", "svc/other/api", "svcs/demo", "svcs/other"}},
	}
	for _, step := range steps {
		before := ix.Revision()
		ix.Replace(step.snap)
		got := drain(sub)
		if step.want == nil {
			if len(got) != 0 {
				t.Fatalf("%s: want no change, got %v", step.name, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Revision != before+1 || !slices.Equal(got[0].Keys, step.want) {
			t.Fatalf("%s: want one change at %d with\n%v\ngot %v", step.name, before+1, step.want, got)
		}
	}
	if ix.NamespaceExists("demo") || !ix.NamespaceExists("other") {
		t.Errorf("namespaces not replaced")
	}
	if got := ix.Endpoints("demo", "web"); got != nil {
		t.Errorf("endpoints of a removed slice remain: %v", got)
	}
}

func TestSubscriptions(t *testing.T) {
	t.Run("in order", func(t *testing.T) {
		ix := New(Config{StartRevision: 10})
		sub := ix.Subscribe(t.Context())
		defer sub.Close()
		if sub.Revision() != 10 {
			t.Fatalf("start revision %d", sub.Revision())
		}
		for _, ns := range []string{"a", "b", "c"} {
			ix.SetNamespace(ns)
		}
		var got []uint64
		for _, c := range drain(sub) {
			got = append(got, c.Revision)
		}
		if !slices.Equal(got, []uint64{11, 12, 13}) {
			t.Fatalf("revisions %v", got)
		}
	})
	t.Run("overflow ends the subscriber, not the writer", func(t *testing.T) {
		ix := New(Config{SubscriberBuffer: 2})
		before := ix.Revision()
		slow := ix.Subscribe(t.Context())
		defer slow.Close()
		for _, ns := range []string{"a", "b", "c", "d"} {
			ix.SetNamespace(ns) // must not block
		}
		// The queue is dropped with the subscriber: it must resync anyway.
		if n := len(drain(slow)); n != 0 {
			t.Fatalf("%d changes still queued, want none", n)
		}
		if _, ok := slow.Take(nil); ok {
			t.Fatalf("subscription still open")
		}
		if ix.Revision() != before+4 {
			t.Fatalf("revision %d, want %d", ix.Revision(), before+4)
		}
		if !errors.Is(slow.Err(), ErrSubscriberBehind) {
			t.Fatalf("err %v", slow.Err())
		}
	})
	t.Run("context end", func(t *testing.T) {
		ix := New(Config{})
		ctx, cancel := context.WithCancel(t.Context())
		sub := ix.Subscribe(ctx)
		cancel()
		wait, stop := context.WithTimeout(t.Context(), 5*time.Second)
		defer stop()
		if c, err := sub.Next(wait); !errors.Is(err, context.Canceled) {
			t.Fatalf("subscription not ended by its context: change %v, err %v", c, err)
		}
		if !errors.Is(sub.Err(), context.Canceled) {
			t.Fatalf("err %v", sub.Err())
		}
		sub.Close() // after the end: harmless
	})
	t.Run("close", func(t *testing.T) {
		ix := New(Config{})
		sub := ix.Subscribe(t.Context())
		sub.Close()
		sub.Close()
		if _, ok := sub.Take(nil); ok || !errors.Is(sub.Err(), ErrSubscriptionClosed) {
			t.Fatalf("err %v", sub.Err())
		}
		ix.SetNamespace("a") // no subscriber left to feed
	})
}

func TestSynced(t *testing.T) {
	ix := New(Config{})
	if ix.Synced() {
		t.Fatalf("synced before MarkSynced")
	}
	select {
	case <-ix.SyncedChan():
		t.Fatalf("SyncedChan closed early")
	default:
	}
	ix.MarkSynced()
	ix.MarkSynced()
	if !ix.Synced() {
		t.Fatalf("not synced after MarkSynced")
	}
	<-ix.SyncedChan()
}

func TestStartRevisionIsUnixTime(t *testing.T) {
	before := uint64(time.Now().Unix())
	got := New(Config{}).Revision()
	if got < before || got > uint64(time.Now().Unix()) {
		t.Fatalf("start revision %d, want about %d", got, before)
	}
}

// TestChangeTime checks how changes are dated and which ones the
// programming delay histogram observes: triggered changes after the first
// sync.
func TestChangeTime(t *testing.T) {
	ix := New(Config{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(ix.ProgrammingDelay())
	sub := ix.Subscribe(t.Context())
	defer sub.Close()
	triggered := time.Now().Add(-2 * time.Second)
	steps := []struct {
		name  string
		write func()
		// want is the expected ChangeTime; zero means the observation time.
		want time.Time
		// observed is the histogram's sample count after the step.
		observed uint64
	}{
		{"before sync, triggered", func() { ix.SetEndpointSliceAt(slice("a", "s1", "web", ep(true, "", "10.0.0.1")), triggered) },
			triggered, 0},
		{"sync", ix.MarkSynced, time.Time{}, 0},
		{"observed", func() { ix.SetNamespace("a") }, time.Time{}, 0},
		{"triggered", func() { ix.SetEndpointSliceAt(slice("a", "s1", "web", ep(true, "", "10.0.0.2")), triggered) },
			triggered, 1},
		{"no visible change", func() {
			ix.SetEndpointSliceAt(slice("a", "s1", "web", ep(true, "", "10.0.0.2")), triggered)
		}, time.Time{}, 1},
		{"untriggered", func() { ix.SetEndpointSliceAt(slice("a", "s1", "web", ep(true, "", "10.0.0.3")), time.Time{}) },
			time.Time{}, 1},
		{"trigger from a clock ahead", func() {
			ix.SetEndpointSliceAt(slice("a", "s1", "web", ep(true, "", "10.0.0.4")), time.Now().Add(time.Hour))
		}, time.Time{}, 2},
		{"replace", func() { ix.Replace(Snapshot{Namespaces: []string{"b"}}) }, time.Time{}, 2},
	}
	for _, st := range steps {
		before := ix.Revision()
		start := time.Now()
		st.write()
		end := time.Now()
		if ix.Revision() != before {
			c, err := sub.Next(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !st.want.IsZero() && !c.ChangeTime.Equal(st.want):
				t.Errorf("%s: ChangeTime %v, want %v", st.name, c.ChangeTime, st.want)
			case st.want.IsZero() && (c.ChangeTime.Before(start) || c.ChangeTime.After(end)):
				t.Errorf("%s: ChangeTime %v, want within [%v, %v]", st.name, c.ChangeTime, start, end)
			}
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var count uint64
		var sum float64
		for _, f := range families {
			for _, m := range f.GetMetric() {
				count, sum = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
		if count != st.observed {
			t.Errorf("%s: %d delays observed, want %d", st.name, count, st.observed)
		}
		if st.name == "triggered" && (sum < 2 || sum > 60) {
			t.Errorf("%s: observed delay %vs, want about 2s", st.name, sum)
		}
	}
}
