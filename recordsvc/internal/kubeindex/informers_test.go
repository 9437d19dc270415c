package kubeindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runInformers runs informers for client feeding ix until the test ends and
// waits for them to sync.
func runInformers(t *testing.T, client kubernetes.Interface, ix *Index, cfg InformerConfig) *Informers {
	t.Helper()
	in, err := NewInformers(client, ix, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ix.SyncedChan():
	case <-time.After(60 * time.Second):
		t.Fatalf("not synced within 60s")
	}
	return in
}

func apiNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func apiService(ns, name string, clusterIPs ...string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ns,
			Name:        name,
			Labels:      map[string]string{"app": name},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply},
			},
		},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  clusterIPs[0],
			ClusterIPs: clusterIPs,
			Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
}

func apiSlice(ns, name, service string, addrs ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      name,
			Labels:    map[string]string{discoveryv1.LabelServiceName: service},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(80))}},
	}
	for _, a := range addrs {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}})
	}
	return s
}

func apiPod(ns, name string, phase corev1.PodPhase, ips ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// waitChange returns the next change, failing the test after a deadline.
func waitChange(t *testing.T, sub *Subscription) Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("no change within 60s: %v", err)
	}
	return c
}

// TestInformers runs the real informers against a fake clientset: initial
// sync, then updates, no-op updates and deletes, each checked through the
// changes the Index announces.
func TestInformers(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset(
		apiNamespace("default"),
		apiService("default", "web", "10.96.0.5"),
		apiSlice("default", "web-abc", "web", "10.244.0.1", "10.244.0.2"),
		apiPod("default", "web-0", corev1.PodRunning, "10.244.0.1"),
		apiPod("default", "job-0", corev1.PodSucceeded, "10.244.0.9"),
	)
	ix := New(Config{StartRevision: 1})
	runInformers(t, client, ix, InformerConfig{WatchPods: true})
	if !ix.NamespaceExists("default") {
		t.Errorf("namespace missing after sync")
	}
	if s, ok := ix.Service("default", "web"); !ok || !slices.Equal(s.ClusterIPs, ips("10.96.0.5")) {
		t.Errorf("service after sync: %+v %v", s, ok)
	}
	if got := len(ix.Endpoints("default", "web")); got != 2 {
		t.Errorf("endpoints after sync: %d, want 2", got)
	}
	if got := ix.PodNamespacesByIP(netip.MustParseAddr("10.244.0.1")); !slices.Equal(got, []string{"default"}) {
		t.Errorf("running pod: %v", got)
	}
	if got := ix.PodNamespacesByIP(netip.MustParseAddr("10.244.0.9")); got != nil {
		t.Errorf("finished pod counted: %v", got)
	}
	var podSelector string
	for _, a := range client.Actions() {
		if l, ok := a.(clienttesting.ListAction); ok && a.GetResource().Resource == "pods" {
			podSelector = l.GetListRestrictions().Fields.String()
		}
	}
	if want := fields.ParseSelectorOrDie(podFieldSelector).String(); podSelector != want {
		t.Errorf("pod list field selector %q, want %q", podSelector, want)
	}

	sub := ix.Subscribe(ctx)
	defer sub.Close()
	services := client.CoreV1().Services("default")
	slicesClient := client.DiscoveryV1().EndpointSlices("default")

	steps := []struct {
		name  string
		apply func() error
		want  []string
	}{
		{"service created", func() error {
			_, err := services.Create(ctx, apiService("default", "api", "10.96.0.6", "fd00::6"), metav1.CreateOptions{})
			return err
		}, []string{"ip/10.96.0.6", "ip/fd00::6", "svc/default/api", "svcs/default"}},
		{"label-only update then a visible one", func() error {
			s := apiService("default", "api", "10.96.0.6", "fd00::6")
			s.Labels["tier"] = "backend"
			if _, err := services.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
				return err
			}
			_, err := client.CoreV1().Namespaces().Create(ctx, apiNamespace("demo"), metav1.CreateOptions{})
			return err
		}, []string{"ns/demo"}},
		{"endpoint becomes not ready", func() error {
			s := apiSlice("default", "web-abc", "web", "10.244.0.1", "10.244.0.2")
			s.Endpoints[1].Conditions.Ready = ptr(false)
			_, err := slicesClient.Update(ctx, s, metav1.UpdateOptions{})
			return err
		}, []string{"ip/10.244.0.2", "svc/default/web"}},
		{"slice deleted", func() error {
			return slicesClient.Delete(ctx, "web-abc", metav1.DeleteOptions{})
		}, []string{"ip/10.244.0.1", "ip/10.244.0.2", "svc/default/web"}},
		{"pod stops", func() error {
			_, err := client.CoreV1().Pods("default").UpdateStatus(ctx,
				apiPod("default", "web-0", corev1.PodSucceeded, "10.244.0.1"), metav1.UpdateOptions{})
			return err
		}, []string{"pod/10.244.0.1"}},
		{"service deleted", func() error {
			return services.Delete(ctx, "api", metav1.DeleteOptions{})
		}, []string{"ip/10.96.0.6", "ip/fd00::6", "svc/default/api", "svcs/default"}},
		{"namespace deleted", func() error {
			return client.CoreV1().Namespaces().Delete(ctx, "demo", metav1.DeleteOptions{})
		}, []string{"ns/demo"}},
	}
	for _, step := range steps {
		before := ix.Revision()
		if err := step.apply(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		c := waitChange(t, sub)
		if c.Revision != before+1 || !slices.Equal(c.Keys, step.want) {
			t.Fatalf("%s: got change %d %v, want %d %v", step.name, c.Revision, c.Keys, before+1, step.want)
		}
	}
}

func TestInformersWithoutPods(t *testing.T) {
	client := fake.NewClientset(apiNamespace("default"), apiPod("default", "web-0", corev1.PodRunning, "10.244.0.1"))
	ix := New(Config{})
	in, err := NewInformers(client, ix, InformerConfig{}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	select {
	case <-ix.SyncedChan():
	case <-time.After(60 * time.Second):
		t.Fatalf("not synced within 60s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := ix.PodNamespacesByIP(netip.MustParseAddr("10.244.0.1")); got != nil {
		t.Errorf("pods indexed without WatchPods: %v", got)
	}
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "pods" {
			t.Errorf("pods requested without WatchPods: %v", a)
		}
	}
}

func TestInformersRunEndsBeforeSync(t *testing.T) {
	ix := New(Config{})
	in, err := NewInformers(fake.NewClientset(), ix, InformerConfig{}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := in.Run(ctx); err == nil {
		t.Fatalf("Run with a done context returned nil")
	}
	if ix.Synced() {
		t.Fatalf("index marked synced")
	}
}

func TestDeletedKey(t *testing.T) {
	in := &Informers{logger: discardLogger()}
	tests := []struct {
		name       string
		obj        any
		ns, object string
		ok         bool
	}{
		{"slim object", &serviceObject{objectMeta: objectMeta{Namespace: "a", Name: "b"}}, "a", "b", true},
		{"tombstone", cache.DeletedFinalStateUnknown{Key: "a/b"}, "a", "b", true},
		{"cluster-scoped tombstone", cache.DeletedFinalStateUnknown{Key: "ns1"}, "", "ns1", true},
		{"bad tombstone", cache.DeletedFinalStateUnknown{Key: "a/b/c"}, "", "", false},
		{"not an object", 42, "", "", false},
	}
	for _, tt := range tests {
		ns, name, ok := in.deletedKey("Service", tt.obj)
		if ns != tt.ns || name != tt.object || ok != tt.ok {
			t.Errorf("%s: got %q %q %v", tt.name, ns, name, ok)
		}
	}
}

// gatedWatch forwards a tracker watch until dropped is set (events are then
// lost, as during a disconnection), and can end with an "expired" error,
// which makes the reflector relist.
type gatedWatch struct {
	inner   watch.Interface
	out     chan watch.Event
	drop    chan struct{}
	expire  chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newGatedWatch(inner watch.Interface, drop, expire chan struct{}) *gatedWatch {
	g := &gatedWatch{inner: inner, out: make(chan watch.Event), drop: drop, expire: expire, stopped: make(chan struct{})}
	go g.run()
	return g
}

func (g *gatedWatch) run() {
	defer close(g.out)
	for {
		select {
		case <-g.stopped:
			return
		case <-g.expire:
			gone := &metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired,
				Message: "too old resource version"}
			select {
			case g.out <- watch.Event{Type: watch.Error, Object: gone}:
			case <-g.stopped:
			}
			<-g.stopped
			return
		case ev, ok := <-g.inner.ResultChan():
			if !ok {
				return
			}
			select {
			case <-g.drop:
				continue
			default:
			}
			select {
			case g.out <- ev:
			case <-g.stopped:
				return
			}
		}
	}
}

func (g *gatedWatch) Stop() {
	g.once.Do(func() {
		close(g.stopped)
		g.inner.Stop()
	})
}

func (g *gatedWatch) ResultChan() <-chan watch.Event { return g.out }

// TestInformersRelist makes the Service watch miss events and then expire,
// as when the API server restarts: the relist must announce exactly what
// changed meanwhile and never touch the services that did not change (no
// window in which they would answer NXDOMAIN).
func TestInformersRelist(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset(
		apiNamespace("default"),
		apiService("default", "stable", "10.96.0.1"),
		apiService("default", "changed", "10.96.0.2"),
		apiService("default", "gone", "10.96.0.3"),
	)
	drop, expire := make(chan struct{}), make(chan struct{})
	var watches atomic.Int32
	client.PrependWatchReactor("services", func(action clienttesting.Action) (bool, watch.Interface, error) {
		opts := action.(clienttesting.WatchActionImpl).ListOptions
		inner, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		if watches.Add(1) == 1 {
			return true, newGatedWatch(inner, drop, expire), nil
		}
		return true, inner, nil
	})
	ix := New(Config{StartRevision: 1})
	runInformers(t, client, ix, InformerConfig{})
	sub := ix.Subscribe(ctx)
	defer sub.Close()

	// Changes made while the watch is deaf reach the index only via the relist.
	close(drop)
	services := client.CoreV1().Services("default")
	if err := services.Delete(ctx, "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := services.Update(ctx, apiService("default", "changed", "10.96.0.22"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	close(expire)

	want := map[string]bool{"svc/default/gone": true, "svc/default/changed": true}
	for len(want) > 0 {
		c := waitChange(t, sub)
		for _, k := range c.Keys {
			if k == "svc/default/stable" || k == "ip/10.96.0.1" {
				t.Fatalf("relist touched an unchanged service: %v", c.Keys)
			}
			delete(want, k)
		}
	}
	if _, ok := ix.Service("default", "gone"); ok {
		t.Errorf("deleted service still indexed")
	}
	if s, _ := ix.Service("default", "changed"); !slices.Equal(s.ClusterIPs, ips("10.96.0.22")) {
		t.Errorf("changed service: %+v", s)
	}
	lists := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "services" {
			lists++
		}
	}
	if lists < 2 {
		t.Errorf("%d lists of services: the watch expiry did not cause a relist", lists)
	}
	// The informer watches again after the relist.
	if _, err := services.Create(ctx, apiService("default", "after", "10.96.0.4"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		c := waitChange(t, sub)
		if slices.Contains(c.Keys, "svc/default/stable") {
			t.Fatalf("relist touched an unchanged service: %v", c.Keys)
		}
		if slices.Contains(c.Keys, "svc/default/after") {
			break
		}
	}
}

// TestInformersRelistUnchanged makes every watch expire while the API
// server is down (lists fail), as when it restarts: while the informers
// retry, the Index keeps serving its last state and stays synced; once the
// lists succeed again the relist of unchanged objects announces nothing (the
// next change is the first one after the relist, one revision on).
func TestInformersRelistUnchanged(t *testing.T) {
	ctx := t.Context()
	// The fake clientset keeps the resourceVersions it is given; a relist
	// reuses a stored object only at the same one.
	seed := []runtime.Object{
		apiNamespace("default"),
		apiService("default", "web", "10.96.0.5"),
		apiSlice("default", "web-abc", "web", "10.244.0.1", "10.244.0.2"),
		apiPod("default", "web-0", corev1.PodRunning, "10.244.0.1"),
	}
	for _, obj := range seed {
		obj.(metav1.Object).SetResourceVersion("7")
	}
	client := fake.NewClientset(seed...)
	resources := []string{"services", "endpointslices", "namespaces", "pods"}
	expire := make(chan struct{})
	var down atomic.Bool
	var mu sync.Mutex
	watches := map[string]int{}
	failedLists := map[string]int{}
	lists := map[string]int{}
	for _, res := range resources {
		client.PrependWatchReactor(res, func(action clienttesting.Action) (bool, watch.Interface, error) {
			opts := action.(clienttesting.WatchActionImpl).ListOptions
			inner, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
			if err != nil {
				return false, nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			watches[res]++
			if watches[res] == 1 {
				return true, newGatedWatch(inner, make(chan struct{}), expire), nil
			}
			return true, inner, nil
		})
		client.PrependReactor("list", res, func(clienttesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			if down.Load() {
				failedLists[res]++
				return true, nil, errors.New("connection refused")
			}
			lists[res]++
			return false, nil, nil
		})
	}
	ix := New(Config{StartRevision: 1})
	in := runInformers(t, client, ix, InformerConfig{WatchPods: true})
	sub := ix.Subscribe(ctx)
	defer sub.Close()
	rev := ix.Revision()

	serving := func(when string) {
		t.Helper()
		_, hasService := ix.Service("default", "web")
		if !ix.Synced() || !ix.NamespaceExists("default") || !hasService || len(ix.Endpoints("default", "web")) != 2 ||
			!slices.Equal(ix.PodNamespacesByIP(netip.MustParseAddr("10.244.0.1")), []string{"default"}) {
			t.Fatalf("%s: the index lost state", when)
		}
	}
	// waitFor polls the reactor counters until cond holds for every
	// resource.
	waitFor := func(what string, cond func(res string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			ok := true
			for _, res := range resources {
				ok = ok && cond(res)
			}
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s (lists %v, failed %v)", what, lists, failedLists)
			}
			serving(what)
			time.Sleep(20 * time.Millisecond)
		}
	}

	// stored returns what each informer's store holds, by key.
	stored := func() map[string]any {
		objs := map[string]any{}
		for _, informer := range in.informers {
			for _, obj := range informer.GetStore().List() {
				key, err := cache.MetaNamespaceKeyFunc(obj)
				if err != nil {
					t.Fatal(err)
				}
				objs[fmt.Sprintf("%T %s", obj, key)] = obj
			}
		}
		return objs
	}
	before := stored()

	down.Store(true)
	close(expire)
	waitFor("relists failing while the API server is down", func(res string) bool { return failedLists[res] > 0 })
	serving("API server down")
	down.Store(false)
	waitFor("relists after the API server is back", func(res string) bool { return lists[res] >= 2 })
	serving("after the relist")
	// The relist kept the stored objects, so the handlers skipped them
	// (changed).
	after := stored()
	if len(after) != len(before) {
		t.Fatalf("%d objects stored after the relist, want %d", len(after), len(before))
	}
	for key, obj := range before {
		if after[key] != obj {
			t.Errorf("%s: the relist stored a new object for an unchanged one", key)
		}
	}

	if _, err := client.CoreV1().Namespaces().Create(ctx, apiNamespace("sentinel"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if c := waitChange(t, sub); c.Revision != rev+1 || !slices.Equal(c.Keys, []string{"ns/sentinel"}) {
		t.Fatalf("first change after the relist: %d %v, want %d [ns/sentinel]", c.Revision, c.Keys, rev+1)
	}
}

// TestInformersTriggerTime checks that EndpointSlice changes are dated by
// the trigger-time annotation when an update moves it, and by observation
// otherwise.
func TestInformersTriggerTime(t *testing.T) {
	ctx := t.Context()
	client := fake.NewClientset(apiNamespace("default"), apiService("default", "web", "10.96.0.5"))
	ix := New(Config{StartRevision: 1})
	runInformers(t, client, ix, InformerConfig{})
	sub := ix.Subscribe(ctx)
	defer sub.Close()
	sliceClient := client.DiscoveryV1().EndpointSlices("default")
	t1 := time.Now().Add(-3 * time.Second).UTC().Truncate(time.Millisecond)
	t2 := t1.Add(time.Second)
	annotated := func(trigger time.Time, addrs ...string) *discoveryv1.EndpointSlice {
		s := apiSlice("default", "web-abc", "web", addrs...)
		if !trigger.IsZero() {
			s.Annotations = map[string]string{triggerTimeAnnotation: trigger.Format(time.RFC3339Nano)}
		}
		return s
	}
	steps := []struct {
		name  string
		apply func() error
		// want is the expected ChangeTime; zero means the observation time.
		want time.Time
	}{
		{"created", func() error {
			_, err := sliceClient.Create(ctx, annotated(t1, "10.244.0.1"), metav1.CreateOptions{})
			return err
		}, t1},
		{"updated with a new trigger time", func() error {
			_, err := sliceClient.Update(ctx, annotated(t2, "10.244.0.1", "10.244.0.2"), metav1.UpdateOptions{})
			return err
		}, t2},
		{"updated, trigger time kept", func() error {
			_, err := sliceClient.Update(ctx, annotated(t2, "10.244.0.2"), metav1.UpdateOptions{})
			return err
		}, time.Time{}},
		{"annotation dropped", func() error {
			_, err := sliceClient.Update(ctx, annotated(time.Time{}, "10.244.0.3"), metav1.UpdateOptions{})
			return err
		}, time.Time{}},
	}
	for _, st := range steps {
		start := time.Now()
		if err := st.apply(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		c := waitChange(t, sub)
		switch {
		case !st.want.IsZero() && !c.ChangeTime.Equal(st.want):
			t.Errorf("%s: ChangeTime %v, want %v", st.name, c.ChangeTime, st.want)
		case st.want.IsZero() && (c.ChangeTime.Before(start) || c.ChangeTime.After(time.Now())):
			t.Errorf("%s: ChangeTime %v, want the observation time (after %v)", st.name, c.ChangeTime, start)
		}
	}
}

// TestChanged checks that an update handler wrapped by changed skips an
// update of an object to itself and passes every other update on.
func TestChanged(t *testing.T) {
	a, b := &serviceObject{}, &serviceObject{}
	tests := []struct {
		name     string
		old, obj any
		want     bool
	}{
		{name: "same object", old: a, obj: a, want: false},
		{name: "other object", old: a, obj: b, want: true},
		{name: "equal content, other object", old: &podObject{}, obj: &podObject{}, want: true},
		{name: "no old object", old: nil, obj: a, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			changed(func(_, _ any) { called = true })(tt.old, tt.obj)
			if called != tt.want {
				t.Fatalf("handler called %v, want %v", called, tt.want)
			}
		})
	}
}
