package kubeindex

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestStreamListKeepsUnchanged lists pods a, b and c at resourceVersion 42
// (encodePodList) against a store holding slim pods, and checks which items
// are the stored objects: only those under the same key at the same
// resourceVersion.
func TestStreamListKeepsUnchanged(t *testing.T) {
	storedPod := func(ns, name, rv string) *podObject {
		return &podObject{objectMeta: objectMeta{Namespace: ns, Name: name, ResourceVersion: rv}}
	}
	tests := []struct {
		name   string
		stored []*podObject
		// kept names the listed pods that must be the stored objects.
		kept    []string
		noStore bool
	}{
		{name: "no store", noStore: true},
		{name: "empty store"},
		{name: "all unchanged", stored: []*podObject{storedPod("ns", "a", "42"), storedPod("ns", "b", "42"), storedPod("ns", "c", "42")},
			kept: []string{"a", "b", "c"}},
		{name: "one changed", stored: []*podObject{storedPod("ns", "a", "42"), storedPod("ns", "b", "41")}, kept: []string{"a"}},
		{name: "other namespace", stored: []*podObject{storedPod("other", "a", "42")}},
	}
	body := encodePodList(t, "42", "", "a", "b", "c")
	core := protobufCore(t, servePodList(body))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := cache.NewStore(cache.MetaNamespaceKeyFunc)
			byName := map[string]*podObject{}
			for _, p := range tt.stored {
				if err := store.Add(p); err != nil {
					t.Fatal(err)
				}
				byName[p.Namespace+"/"+p.Name] = p
			}
			var stored *storedObjects
			if !tt.noStore {
				stored = &storedObjects{}
				stored.set(store)
			}
			r := resource[*corev1.PodList]{rest: core.RESTClient(), name: "pods", newItem: func() protoObject { return &corev1.Pod{} },
				transform: transformPod, stored: stored}
			got, err := r.streamList(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Items) != 3 {
				t.Fatalf("%d items, want 3", len(got.Items))
			}
			var kept []string
			for _, item := range got.Items {
				pod := item.(*podObject)
				if pod == byName["ns/"+pod.Name] {
					kept = append(kept, pod.Name)
					continue
				}
				if len(pod.Pod.IPs) != 1 || pod.ResourceVersion != "42" {
					t.Errorf("decoded pod %s: %+v, want its IP at resourceVersion 42", pod.Name, pod)
				}
			}
			if len(kept) != len(tt.kept) {
				t.Fatalf("stored objects kept for %v, want %v", kept, tt.kept)
			}
			for i := range kept {
				if kept[i] != tt.kept[i] {
					t.Fatalf("stored objects kept for %v, want %v", kept, tt.kept)
				}
			}
		})
	}
}

func TestEncodedMeta(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", ResourceVersion: "123",
		UID: "u", Generation: 7, Labels: map[string]string{"app": "web"}}}
	pod.Spec.NodeName = "node-1"
	encoded, err := pod.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	namespace, _ := (&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", ResourceVersion: "9"}}).Marshal()
	tests := []struct {
		name      string
		item      []byte
		ns, n, rv string
		ok        bool
	}{
		{name: "pod", item: encoded, ns: "ns", n: "web-0", rv: "123", ok: true},
		{name: "cluster-scoped", item: namespace, n: "kube-system", rv: "9", ok: true},
		{name: "truncated", item: encoded[:len(encoded)/3]},
		{name: "empty"},
		{name: "bad wire type", item: []byte{0x0f}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, n, rv, ok := encodedMeta(tt.item)
			if ok != tt.ok || string(ns) != tt.ns || string(n) != tt.n || string(rv) != tt.rv {
				t.Errorf("got %q %q %q %v, want %q %q %q %v", ns, n, rv, ok, tt.ns, tt.n, tt.rv, tt.ok)
			}
		})
	}
}

func TestReusingTransform(t *testing.T) {
	stored := &podObject{objectMeta: objectMeta{Namespace: "ns", Name: "a", ResourceVersion: "5"}}
	apiPod := func(ns, name, rv string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv}}
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}}
		return p
	}
	tests := []struct {
		name       string
		obj        any
		wantStored bool
	}{
		{name: "same resourceVersion", obj: apiPod("ns", "a", "5"), wantStored: true},
		{name: "slim at the same resourceVersion", obj: &podObject{objectMeta: objectMeta{Namespace: "ns", Name: "a", ResourceVersion: "5"}}, wantStored: true},
		{name: "newer resourceVersion", obj: apiPod("ns", "a", "6")},
		{name: "other pod", obj: apiPod("ns", "b", "5")},
		{name: "other namespace", obj: apiPod("other", "a", "5")},
	}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	if err := store.Add(stored); err != nil {
		t.Fatal(err)
	}
	s := &storedObjects{}
	s.set(store)
	transform := s.reusing(transformPod)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := transform(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if isStored := got == any(stored); isStored != tt.wantStored {
				t.Fatalf("got the stored object: %v, want %v", isStored, tt.wantStored)
			}
			if _, ok := got.(*podObject); !ok {
				t.Fatalf("transformed to %T, want *podObject", got)
			}
		})
	}
}
