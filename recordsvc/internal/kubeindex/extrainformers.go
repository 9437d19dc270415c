package kubeindex

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// The optional informers (Nodes for client zones, ServiceImports for the
// clusterset) list and watch through metadata or dynamic clients rather
// than streamingListWatch: their objects are few and small.

// lister and watcher are a metadata or dynamic client's List and Watch.
type (
	lister  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error)
	watcher func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)
)

// addInformer adds an informer of kind over list and watch, whose calls
// report to the health, storing what transform keeps; set and del are its
// handler's writes. Call it before Run.
func (in *Informers) addInformer(kind string, example runtime.Object, list lister, watchFn watcher,
	transform cache.TransformFunc, set func(obj any), del func(namespace, name string)) error {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := list(ctx, o)
			in.observe(err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := watchFn(ctx, o)
			in.observe(err)
			return w, err
		},
	}
	informer := cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{ObjectDescription: kind})
	if err := informer.SetTransform(transform); err != nil {
		return fmt.Errorf("%s informer: set transform: %w", kind, err)
	}
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: changed(func(_, obj any) { set(obj) }),
		DeleteFunc: func(obj any) {
			if ns, name, ok := in.deletedKey(kind, obj); ok {
				del(ns, name)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("%s informer: add event handler: %w", kind, err)
	}
	in.informers = append(in.informers, informer)
	in.synced = append(in.synced, reg.HasSynced)
	return nil
}

// observe reports the outcome of one list or watch call to the health.
func (in *Informers) observe(err error) {
	if err != nil {
		in.health.failed(time.Now())
		return
	}
	in.health.succeeded()
}
