package kubeindex

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkRelistMemory lists 20,000 Pods (with the labels, annotations and
// managed fields the API server sends) into an informer store that already
// holds every one of them at the same resourceVersion, as a relist after an
// API-server restart does, with and without the stored objects kept. It
// reports what one list allocates (alloc-B/pod: garbage the collector must
// absorb) and what its result holds beyond the store (retained-B/pod: alive
// beside the store until the reflector's Replace):
// `go test -run '^$' -bench RelistMemory ./recordsvc/internal/kubeindex`.
func BenchmarkRelistMemory(b *testing.B) {
	const pods = 20000
	body := benchPodList(b, pods)
	core := protobufCore(b, servePodList(body))
	for _, keep := range []bool{false, true} {
		b.Run(fmt.Sprint("keep-stored=", keep), func(b *testing.B) {
			store := cache.NewStore(cache.MetaNamespaceKeyFunc)
			r := resource[*corev1.PodList]{rest: core.RESTClient(), name: "pods", newItem: func() protoObject { return &corev1.Pod{} },
				transform: transformPod}
			first, err := r.streamList(b.Context(), metav1.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for _, item := range first.Items {
				if err := store.Add(item); err != nil {
					b.Fatal(err)
				}
			}
			first = nil
			if keep {
				r.stored = &storedObjects{}
				r.stored.set(store)
			}
			var ms runtime.MemStats
			for b.Loop() {
				before := heapInUse()
				runtime.ReadMemStats(&ms)
				allocated := ms.TotalAlloc
				list, err := r.streamList(b.Context(), metav1.ListOptions{})
				if err != nil {
					b.Fatal(err)
				}
				runtime.ReadMemStats(&ms)
				allocated = ms.TotalAlloc - allocated
				retained := heapInUse() - before
				if len(list.Items) != pods {
					b.Fatalf("%d pods listed, want %d", len(list.Items), pods)
				}
				b.ReportMetric(float64(allocated)/pods, "alloc-B/pod")
				b.ReportMetric(float64(retained)/pods, "retained-B/pod")
				runtime.KeepAlive(list)
			}
			runtime.KeepAlive(store)
		})
	}
}

// benchPodList encodes n running Pods as the API server lists them in
// protobuf, each with labels, annotations and managed fields of a typical
// Deployment's pod.
func benchPodList(b *testing.B, n int) []byte {
	b.Helper()
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1000000"}}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	managed := []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
		APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}},"f:spec":{` +
			strings.Repeat(`"f:containers":{},`, 20) + `"f:dnsPolicy":{}}}`)}}}
	for i := range n {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprint("ns-", i%100), Name: fmt.Sprintf("web-%d-7d9f8c6b5-x2k4q", i),
			ResourceVersion: fmt.Sprint(1000 + i), UID: "3f1c2a4e-8b7d-4c6e-9a1b-2d3e4f5a6b7c",
			Labels:        map[string]string{"app": "web", "pod-template-hash": "7d9f8c6b5"},
			Annotations:   map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-12-01T10:00:00Z"},
			ManagedFields: managed}}
		pod.Spec.NodeName = fmt.Sprint("node-", i%500)
		pod.Spec.Containers = []corev1.Container{{Name: "web", Image: "registry.example/web:1.2.3",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}
		pod.Status.Phase = corev1.PodRunning
		ip := fmt.Sprintf("10.%d.%d.%d", 64+i/65536, i/256%256, i%256)
		pod.Status.PodIP = ip
		pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		list.Items = append(list.Items, pod)
	}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(list, &buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
