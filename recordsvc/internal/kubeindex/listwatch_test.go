package kubeindex

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// encodePodList encodes a PodList as the API server does in protobuf.
func encodePodList(t *testing.T, rv, cont string, names ...string) []byte {
	t.Helper()
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: rv, Continue: cont}}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	for i, name := range names {
		pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv,
			Labels: map[string]string{"big": strings.Repeat("x", 1000*i)}}}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0." + string(rune('1'+i))}}
		list.Items = append(list.Items, pod)
	}
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(list, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStreamList(t *testing.T) {
	page1 := encodePodList(t, "42", "next", "a", "b")
	page2 := encodePodList(t, "42", "", "c")
	tests := []struct {
		name string
		// pages answers a list request by its continue parameter.
		pages    map[string][]byte
		wantRV   string
		want     []string
		wantErr  string
		wantReqs int
	}{
		{name: "one response", pages: map[string][]byte{"": encodePodList(t, "7", "", "a", "b", "c")}, wantRV: "7", want: []string{"a", "b", "c"}, wantReqs: 1},
		{name: "empty list", pages: map[string][]byte{"": encodePodList(t, "7", "")}, wantRV: "7", want: nil, wantReqs: 1},
		{name: "pages followed", pages: map[string][]byte{"": page1, "next": page2}, wantRV: "42", want: []string{"a", "b", "c"}, wantReqs: 2},
		{name: "truncated", pages: map[string][]byte{"": page1[:len(page1)-5]}, wantErr: "truncated"},
		{name: "json", pages: map[string][]byte{"": []byte(`{"kind":"PodList","items":[]}`)}, wantErr: "protobuf"},
		{name: "garbage after magic", pages: map[string][]byte{"": []byte("k8s\x00\xff\xff\xff")}, wantErr: "list pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := 0
			core := protobufCore(t, func(w http.ResponseWriter, r *http.Request) {
				reqs++
				if r.URL.Path != "/api/v1/pods" {
					http.NotFound(w, r)
					return
				}
				body, ok := tt.pages[r.URL.Query().Get("continue")]
				if !ok {
					http.Error(w, "unknown continue", http.StatusGone)
					return
				}
				w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
				_, _ = w.Write(body)
			})
			r := resource[*corev1.PodList]{rest: core.RESTClient(), name: "pods", newItem: func() protoObject { return &corev1.Pod{} },
				list: core.Pods("").List, watch: core.Pods("").Watch, transform: transformPod}
			got, err := r.streamList(t.Context(), metav1.ListOptions{ResourceVersion: "0", Limit: 500})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, item := range got.Items {
				pod, ok := item.(*podObject)
				if !ok {
					t.Fatalf("item %T, want *podObject", item)
				}
				if len(pod.Pod.IPs) != 1 || pod.GetLabels() != nil {
					t.Errorf("pod %s not slim or lost its IP: %+v", pod.Name, pod)
				}
				names = append(names, pod.Name)
			}
			if !slices.Equal(names, tt.want) || got.ResourceVersion != tt.wantRV || reqs != tt.wantReqs {
				t.Errorf("got %v at %q in %d requests, want %v at %q in %d", names, got.ResourceVersion, reqs, tt.want, tt.wantRV, tt.wantReqs)
			}
		})
	}
}

// protobufCore serves handler on a local HTTP server for the test's
// duration and returns a core/v1 client that talks protobuf to it.
func protobufCore(tb testing.TB, handler http.HandlerFunc) corev1client.CoreV1Interface {
	tb.Helper()
	srv := httptest.NewServer(handler)
	tb.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{
		ContentType: "application/vnd.kubernetes.protobuf"}})
	if err != nil {
		tb.Fatal(err)
	}
	return client.CoreV1()
}

// servePodList answers every request with body, an encoded PodList.
func servePodList(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		_, _ = w.Write(body)
	}
}
