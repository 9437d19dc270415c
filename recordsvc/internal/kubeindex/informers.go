package kubeindex

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// InformerConfig configures the watches of the Kubernetes API.
type InformerConfig struct {
	// WatchPods adds a Pod informer, needed by `pods verified`. Finished pods
	// (Succeeded, Failed) are filtered out by the API server. Default false:
	// pods are not watched, which keeps memory independent of the pod count.
	WatchPods bool
	// Listing (optional) is called as each list of the API server starts,
	// the initial ones and those of a relist; it returns the function to
	// call when that list is spent: once its informer's handler has
	// received every listed object (listhold.go). The record service
	// collects garbage harder meanwhile.
	Listing func() (done func())
}

// podFieldSelector drops finished pods server-side: they hold no IP that
// DNS should vouch for.
const podFieldSelector = "status.phase!=Succeeded,status.phase!=Failed"

// Informers feeds an Index from client-go informers (resync disabled) on
// Services, discovery/v1 EndpointSlices, Namespaces and, optionally, Pods.
// Their event handlers only record changes into the Index.
//
// On a relist (after the API server restarts or a watch expires) client-go
// reconciles the new list against its store: handlers receive deletes only
// for objects that are really gone and updates (skipped when the
// resourceVersion did not move) for the rest, so a relist never empties the
// Index and never produces a window of false NXDOMAIN; unchanged objects
// announce nothing. While the API server is unreachable the reflectors
// retry with backoff and the Index, still synced, keeps serving its last
// state (TestInformersRelistUnchanged).
//
// EndpointSlice changes are dated by the slice's
// endpoints.kubernetes.io/last-change-trigger-time annotation when the
// update moved it, other changes by their observation (see
// Change.ChangeTime).
type Informers struct {
	ix     *Index
	logger *slog.Logger
	// informers are started by Run; each lists through streamingListWatch.
	informers []cache.SharedIndexInformer
	// synced report that each handler has processed its initial list.
	synced []cache.InformerSynced
	// health learns the outcome of every list and watch call and of the
	// watch errors the reflectors report.
	health SourceHealth
}

// Health reports whether the informers' lists and watches succeed.
func (in *Informers) Health() *SourceHealth { return &in.health }

// NewInformers prepares the informers; Run starts them.
func NewInformers(client kubernetes.Interface, ix *Index, cfg InformerConfig, logger *slog.Logger) (*Informers, error) {
	in := &Informers{ix: ix, logger: logger}
	core, discovery := client.CoreV1(), client.DiscoveryV1()
	type watched struct {
		kind      string
		example   runtime.Object
		lw        cache.ListerWatcher
		transform cache.TransformFunc
		handler   cache.ResourceEventHandler
		stored    *storedObjects
		hold      *listHold
	}
	stored := [4]*storedObjects{{}, {}, {}, {}}
	holds := [4]*listHold{{take: cfg.Listing}, {take: cfg.Listing}, {take: cfg.Listing}, {take: cfg.Listing}}
	list := []watched{
		{"Service", &corev1.Service{}, streamingListWatch(client, resource[*corev1.ServiceList]{
			rest: core.RESTClient(), name: "services", newItem: func() protoObject { return &corev1.Service{} },
			list: core.Services("").List, watch: core.Services("").Watch, transform: transformService, health: &in.health,
			stored: stored[0], hold: holds[0],
		}), transformService, in.serviceHandler(), stored[0], holds[0]},
		{"EndpointSlice", &discoveryv1.EndpointSlice{}, streamingListWatch(client, resource[*discoveryv1.EndpointSliceList]{
			rest: discovery.RESTClient(), name: "endpointslices", newItem: func() protoObject { return &discoveryv1.EndpointSlice{} },
			list: discovery.EndpointSlices("").List, watch: discovery.EndpointSlices("").Watch, transform: transformEndpointSlice, health: &in.health,
			stored: stored[1], hold: holds[1],
		}), transformEndpointSlice, in.sliceHandler(), stored[1], holds[1]},
		{"Namespace", &corev1.Namespace{}, streamingListWatch(client, resource[*corev1.NamespaceList]{
			rest: core.RESTClient(), name: "namespaces", newItem: func() protoObject { return &corev1.Namespace{} },
			list: core.Namespaces().List, watch: core.Namespaces().Watch, transform: transformNamespace, health: &in.health,
			stored: stored[2], hold: holds[2],
		}), transformNamespace, in.namespaceHandler(), stored[2], holds[2]},
	}
	if cfg.WatchPods {
		list = append(list, watched{"Pod", &corev1.Pod{}, streamingListWatch(client, resource[*corev1.PodList]{
			rest: core.RESTClient(), name: "pods", newItem: func() protoObject { return &corev1.Pod{} },
			list: core.Pods("").List, watch: core.Pods("").Watch, transform: transformPod, health: &in.health,
			tweak:  func(o *metav1.ListOptions) { o.FieldSelector = podFieldSelector },
			stored: stored[3], hold: holds[3],
		}), transformPod, in.podHandler(), stored[3], holds[3]})
	}
	for _, w := range list {
		informer := cache.NewSharedIndexInformerWithOptions(w.lw, w.example, cache.SharedIndexInformerOptions{ObjectDescription: w.kind})
		w.stored.set(informer.GetStore())
		if err := informer.SetTransform(w.stored.reusing(w.transform)); err != nil {
			return nil, fmt.Errorf("%s informer: set transform: %w", w.kind, err)
		}
		// A watch that breaks (or a list that fails) is retried by the
		// reflector; until a retry succeeds the informer is failing.
		kind := w.kind
		if err := informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			in.health.failed(time.Now())
			cache.DefaultWatchErrorHandler(ctx, r, err)
			in.logger.Debug("kubernetes watch failed", "kind", kind, "err", err)
		}); err != nil {
			return nil, fmt.Errorf("%s informer: set watch error handler: %w", w.kind, err)
		}
		reg, err := informer.AddEventHandler(counting{w.handler, w.hold})
		if err != nil {
			return nil, fmt.Errorf("%s informer: add event handler: %w", w.kind, err)
		}
		in.informers = append(in.informers, informer)
		in.synced = append(in.synced, reg.HasSynced)
	}
	return in, nil
}

// Run starts the informers, waits until every handler has processed the
// initial lists, marks the Index synced and then keeps the informers running
// until ctx is done. It returns an error when ctx ends before the sync.
func (in *Informers) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, informer := range in.informers {
		wg.Go(func() { informer.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), in.synced...) {
		return fmt.Errorf("kubernetes informers did not sync: %w", context.Cause(ctx))
	}
	in.ix.MarkSynced()
	in.logger.Info("kubernetes informers synced", "revision", in.ix.Revision())
	<-ctx.Done()
	return nil
}

// changed wraps an update handler so that it skips an update whose new
// object is the very one the informer delivered before. A relist hands the
// reflector the stored object for every object that has not changed
// (relist.go), and client-go reports each as an update of itself: the Index
// already holds it, and applying it again cost a relist most of its memory
// (the handlers rebuilt and compared each service's state).
func changed(update func(oldObj, obj any)) func(oldObj, obj any) {
	return func(oldObj, obj any) {
		if oldObj == obj {
			return
		}
		update(oldObj, obj)
	}
}

func (in *Informers) serviceHandler() cache.ResourceEventHandler {
	set := func(obj any) {
		if o, ok := obj.(*serviceObject); ok {
			in.ix.setStoredService(&o.Service)
			return
		}
		in.unexpected("Service", obj)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: changed(func(_, obj any) { set(obj) }),
		DeleteFunc: func(obj any) {
			if ns, name, ok := in.deletedKey("Service", obj); ok {
				in.ix.DeleteService(ns, name)
			}
		},
	}
}

// sliceHandler dates each EndpointSlice change by the slice's trigger-time
// annotation when the update moved it: an update that leaves the annotation
// as it was (an edit by another writer, a relist) is not the change the
// annotation records, and is dated when observed.
func (in *Informers) sliceHandler() cache.ResourceEventHandler {
	set := func(oldObj, obj any) {
		o, ok := obj.(*sliceObject)
		if !ok {
			in.unexpected("EndpointSlice", obj)
			return
		}
		triggered := triggerTime(o.trigger)
		if old, ok := oldObj.(*sliceObject); ok && triggerTime(old.trigger).Equal(triggered) {
			triggered = time.Time{}
		}
		in.ix.setStoredSliceAt(&o.Slice, triggered)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { set(nil, obj) },
		UpdateFunc: changed(set),
		DeleteFunc: func(obj any) {
			if ns, name, ok := in.deletedKey("EndpointSlice", obj); ok {
				in.ix.DeleteEndpointSlice(ns, name)
			}
		},
	}
}

func (in *Informers) namespaceHandler() cache.ResourceEventHandler {
	set := func(obj any) {
		if o, ok := obj.(*namespaceObject); ok {
			in.ix.SetNamespace(o.Name)
			return
		}
		in.unexpected("Namespace", obj)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: changed(func(_, obj any) { set(obj) }),
		DeleteFunc: func(obj any) {
			if _, name, ok := in.deletedKey("Namespace", obj); ok {
				in.ix.DeleteNamespace(name)
			}
		},
	}
}

func (in *Informers) podHandler() cache.ResourceEventHandler {
	set := func(obj any) {
		if o, ok := obj.(*podObject); ok {
			in.ix.SetPod(o.Pod)
			return
		}
		in.unexpected("Pod", obj)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: changed(func(_, obj any) { set(obj) }),
		DeleteFunc: func(obj any) {
			if ns, name, ok := in.deletedKey("Pod", obj); ok {
				in.ix.DeletePod(ns, name)
			}
		},
	}
}

// deletedKey names a deleted object, which may be a tombstone when the
// informer missed the delete itself.
func (in *Informers) deletedKey(kind string, obj any) (namespace, name string, ok bool) {
	if t, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
		ns, n, err := cache.SplitMetaNamespaceKey(t.Key)
		if err != nil {
			in.logger.Error("cannot name deleted object", "kind", kind, "key", t.Key, "err", err)
			return "", "", false
		}
		return ns, n, true
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		in.unexpected(kind, obj)
		return "", "", false
	}
	return m.GetNamespace(), m.GetName(), true
}

func (in *Informers) unexpected(kind string, obj any) {
	in.logger.Error("informer delivered an unexpected object", "kind", kind, "type", fmt.Sprintf("%T", obj))
}
