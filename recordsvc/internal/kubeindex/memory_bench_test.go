package kubeindex

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkIndexMemory reports the heap an Index holds per endpoint for
// 1,000 Services of 100 endpoints each, converted from API objects as the
// informers' transforms do (node, zone and target set, as the endpoint
// controller writes them), so that what the slim objects cost is measured
// rather than guessed: `go test -run '^$' -bench IndexMemory ./recordsvc/internal/kubeindex`.
func BenchmarkIndexMemory(b *testing.B) {
	const services, perService = 1000, 100
	for b.Loop() {
		before := heapInUse()
		ix := New(Config{})
		for s := range services {
			ns, name := fmt.Sprintf("ns-%d", s%50), fmt.Sprintf("svc-%d", s)
			ix.SetService(ServiceFromAPI(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", s/250, s%250+1),
					Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}))
			ix.SetEndpointSlice(EndpointSliceFromAPI(benchSlice(ns, name, s, perService)))
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/(services*perService), "heap-B/endpoint")
		runtime.KeepAlive(ix)
	}
}

// BenchmarkStoredMemory is BenchmarkIndexMemory through the informers'
// path: each Service and EndpointSlice goes through its informer's
// transform, the slim object is kept as the informer's store keeps it, and
// the Index is fed from it as the event handlers do. heap-B/endpoint is
// what the record service holds per endpoint after a sync, stores and Index
// together: `go test -run '^$' -bench StoredMemory ./recordsvc/internal/kubeindex`.
func BenchmarkStoredMemory(b *testing.B) {
	const services, perService = 1000, 100
	for b.Loop() {
		before := heapInUse()
		ix := New(Config{})
		stored := make([]any, 0, 2*services)
		for s := range services {
			ns, name := fmt.Sprintf("ns-%d", s%50), fmt.Sprintf("svc-%d", s)
			svc, err := transformService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
				Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", s/250, s%250+1),
					Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
			if err != nil {
				b.Fatal(err)
			}
			slice, err := transformEndpointSlice(benchSlice(ns, name, s, perService))
			if err != nil {
				b.Fatal(err)
			}
			stored = append(stored, svc, slice)
			ix.setStoredService(&svc.(*serviceObject).Service)
			ix.setStoredSliceAt(&slice.(*sliceObject).Slice, time.Time{})
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/(services*perService), "heap-B/endpoint")
		runtime.KeepAlive(ix)
		runtime.KeepAlive(stored)
	}
}

func benchSlice(ns, service string, s, n int) *discoveryv1.EndpointSlice {
	port, proto, name := int32(8080), corev1.ProtocolTCP, "http"
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: service + "-x", Labels: map[string]string{serviceLabel: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	for i := range n {
		ready := true
		node := fmt.Sprintf("node-%d", (s*n+i)%500)
		zone := fmt.Sprintf("zone-%d", i%3)
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", 100+s/250, s%250, i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready},
			NodeName:   &node, Zone: &zone,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d-abcde", service, i)},
		})
	}
	return sl
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
