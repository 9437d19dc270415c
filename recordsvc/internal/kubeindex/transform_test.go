package kubeindex

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceFromAPI(t *testing.T) {
	tests := []struct {
		name string
		spec corev1.ServiceSpec
		want Service
	}{
		{
			name: "cluster IP",
			spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
				Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443}}},
			want: Service{Type: "ClusterIP", ClusterIPs: ips("10.96.0.1"), Ports: []Port{{Name: "https", Protocol: "tcp", Port: 443}}},
		},
		{
			name: "dual-stack, IPv6 first",
			spec: corev1.ServiceSpec{ClusterIP: "fd00::a", ClusterIPs: []string{"fd00::a", "10.96.0.10"}},
			want: Service{Type: "ClusterIP", ClusterIPs: ips("fd00::a", "10.96.0.10")},
		},
		{
			name: "clusterIPs unset (old objects)",
			spec: corev1.ServiceSpec{ClusterIP: "10.96.0.2"},
			want: Service{Type: "ClusterIP", ClusterIPs: ips("10.96.0.2")},
		},
		{
			name: "headless",
			spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"},
				Ports: []corev1.ServicePort{{Port: 5432}}},
			want: Service{Type: "ClusterIP", Headless: true, Ports: []Port{{Protocol: "tcp", Port: 5432}}},
		},
		{
			name: "ExternalName",
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
			want: Service{Type: "ExternalName", ExternalName: "db.example.com"},
		},
		{
			name: "LoadBalancer with appProtocol",
			spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.4", ClusterIPs: []string{"10.96.0.4"},
				Ports: []corev1.ServicePort{{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 50051, AppProtocol: ptr("kubernetes.io/h2c")}}},
			want: Service{Type: "LoadBalancer", ClusterIPs: ips("10.96.0.4"),
				Ports: []Port{{Name: "grpc", Protocol: "tcp", Port: 50051, AppProtocol: "kubernetes.io/h2c"}}},
		},
		{
			name: "bad and mapped addresses",
			spec: corev1.ServiceSpec{ClusterIP: "bogus", ClusterIPs: []string{"bogus", "::ffff:10.96.0.3"},
				Ports: []corev1.ServicePort{{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53}}},
			want: Service{Type: "ClusterIP", ClusterIPs: ips("10.96.0.3"), Ports: []Port{{Name: "dns", Protocol: "udp", Port: 53}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc"}, Spec: tt.spec}
			tt.want.Namespace, tt.want.Name = "ns", "svc"
			if got := ServiceFromAPI(in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEndpointSliceFromAPI(t *testing.T) {
	ports := []discoveryv1.EndpointPort{
		{Name: ptr("http"), Port: ptr(int32(8080))},
		{Name: ptr("all"), Protocol: ptr(corev1.ProtocolUDP)}, // no number: all ports, no SRV
	}
	wantPorts := []Port{{Name: "http", Protocol: "tcp", Port: 8080}}
	tests := []struct {
		name        string
		addressType discoveryv1.AddressType
		endpoints   []discoveryv1.Endpoint
		want        []Endpoint
	}{
		{
			name:        "readiness: nil is ready",
			addressType: discoveryv1.AddressTypeIPv4,
			endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.1"}},
				{Addresses: []string{"10.244.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
				{Addresses: []string{"10.244.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}, Hostname: ptr("db-0")},
			},
			want: []Endpoint{
				{Addresses: ips("10.244.0.1"), Ready: true, Serving: true, Ports: wantPorts},
				{Addresses: ips("10.244.0.2"), Ready: false, Ports: wantPorts},
				{Addresses: ips("10.244.0.3"), Ready: true, Serving: true, Hostname: "db-0", Ports: wantPorts},
			},
		},
		{
			name:        "IPv6, bad address skipped, duplicate folded",
			addressType: discoveryv1.AddressTypeIPv6,
			endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"fd00:10:244::1", "fd00:10:244::1"}},
				{Addresses: []string{"not-an-ip"}},
			},
			want: []Endpoint{{Addresses: ips("fd00:10:244::1"), Ready: true, Serving: true, Ports: wantPorts}},
		},
		{
			name:        "terminating but serving, with topology and target",
			addressType: discoveryv1.AddressTypeIPv4,
			endpoints: []discoveryv1.Endpoint{{
				Addresses:  []string{"10.244.0.4"},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)},
				NodeName:   ptr("node-a"), Zone: ptr("zone-1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "web-5d8f"},
			}},
			want: []Endpoint{Endpoint{Addresses: ips("10.244.0.4"), Serving: true, Terminating: true, Ports: wantPorts}.
				WithDetail(EndpointDetail{NodeName: "node-a", Zone: "zone-1", TargetRef: TargetRef{Kind: "Pod", Namespace: "ns", Name: "web-5d8f"}})},
		},
		{
			name:        "FQDN slices contribute nothing",
			addressType: discoveryv1.AddressTypeFQDN,
			endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"example.com"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-x",
					Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
				AddressType: tt.addressType,
				Endpoints:   tt.endpoints,
				Ports:       ports,
			}
			want := EndpointSlice{Namespace: "ns", Name: "web-x", Service: "web", Endpoints: tt.want}
			if got := EndpointSliceFromAPI(in); !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPodFromAPI(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"running dual-stack", apiPod("ns", "p", corev1.PodRunning, "10.244.0.1", "fd00::1"), []string{"10.244.0.1", "fd00::1"}},
		{"running, podIP only", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.2"}}, []string{"10.244.0.2"}},
		{"pending", apiPod("ns", "p", corev1.PodPending, "10.244.0.3"), nil},
		{"failed", apiPod("ns", "p", corev1.PodFailed, "10.244.0.4"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Pod{Namespace: "ns", Name: "p", IPs: ips(tt.want...)}
			if got := PodFromAPI(tt.pod); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestTransformsSlim checks what the informer stores keep of each object:
// only name, namespace and resourceVersion of the metadata (plus, on
// EndpointSlices, the trigger-time annotation alone), and that the
// transforms are idempotent.
func TestTransformsSlim(t *testing.T) {
	const trigger = "2025-01-02T03:04:05.678Z"
	full := metav1.ObjectMeta{
		Namespace: "ns", Name: "x", ResourceVersion: "42", UID: "u",
		Labels:        map[string]string{"a": "b", discoveryv1.LabelServiceName: "web"},
		Annotations:   map[string]string{"big": "annotation", triggerTimeAnnotation: trigger},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}},
	}
	noTrigger := *full.DeepCopy()
	delete(noTrigger.Annotations, triggerTimeAnnotation)
	slimWant := objectMeta{Namespace: "ns", Name: "x", ResourceVersion: "42"}
	sliceWant := slimWant
	sliceWant.trigger = trigger
	tests := []struct {
		name      string
		transform func(any) (any, error)
		in        any
		want      objectMeta
	}{
		{"service", transformService, &corev1.Service{ObjectMeta: full}, slimWant},
		{"endpointslice", transformEndpointSlice, &discoveryv1.EndpointSlice{ObjectMeta: full}, sliceWant},
		{"endpointslice without trigger time", transformEndpointSlice, &discoveryv1.EndpointSlice{ObjectMeta: noTrigger},
			slimWant},
		{"namespace", transformNamespace, &corev1.Namespace{ObjectMeta: full}, slimWant},
		{"pod", transformPod, &corev1.Pod{ObjectMeta: full}, slimWant},
	}
	type metaObject interface{ slimMeta() objectMeta }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.transform(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := out.(metaObject)
			if !ok {
				t.Fatalf("transform returned %T", out)
			}
			if got := m.slimMeta(); got != tt.want {
				t.Fatalf("metadata kept: %+v", got)
			}
			if a := out.(metav1.Object).GetAnnotations(); tt.want.trigger != "" && a[triggerTimeAnnotation] != trigger {
				t.Fatalf("annotations: %v", a)
			}
			again, err := tt.transform(out)
			if err != nil || again != out {
				t.Fatalf("transform not idempotent: %v %v", again, err)
			}
			if _, err := tt.transform("something else"); err == nil {
				t.Fatalf("unexpected type accepted")
			}
		})
	}
}

func TestTriggerTime(t *testing.T) {
	tests := []struct {
		value string
		want  time.Time
	}{
		{"2025-01-02T03:04:05Z", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2025-01-02T03:04:05.123456789Z", time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"2025-01-02T04:04:05+01:00", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		if got := triggerTime(tt.value); !got.Equal(tt.want) {
			t.Errorf("triggerTime(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}

}
