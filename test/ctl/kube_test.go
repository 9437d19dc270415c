package ctl

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// apiTimeout bounds one write to the API server.
const apiTimeout = 30 * time.Second

// TestKubernetes runs clusterdnsctl against a record service that watches a
// real kube-apiserver: lookup answers the cluster's own kubernetes Service,
// and both watches print the change a client-go write makes, as it
// happens.
func TestKubernetes(t *testing.T) {
	t.Parallel()
	bins := stack.InstalledCtl(t)
	c := kubecluster.Start(t)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	at := []string{"--recordsvc", rs.Addr}

	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	k8s, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The record service may still be syncing (NOT_READY, exit 3): retry a
	// bounded number of times.
	var r result
	for range 60 {
		if r = ctl(t, bins, append(at, "lookup", "kubernetes.default.svc.cluster.local")...); r.code != 3 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r.code != 0 || !hasRow(r.stdout, "kubernetes.default.svc.cluster.local.", "30", "IN", "A", k8s.Spec.ClusterIP) {
		t.Fatalf("lookup of the kubernetes Service (%s): %v", k8s.Spec.ClusterIP, r)
	}
	if r := ctl(t, bins, append(at, "lookup", "nothing.default.svc.cluster.local")...); r.code != 1 {
		t.Fatalf("lookup of an unknown name: %v", r)
	}

	const ns, name = "ctl", "echo"
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	services := startWatch(t, bins, append(at, "watch", ns+"/"+name, "default/kubernetes", "-o", "json")...)
	changes := startWatch(t, bins, append(at, "watch", "changes")...)

	// First the full states: the Service does not exist yet.
	first := parseWatch(t, services.waitLine(t, "the first message", func(string) bool { return true }))
	if len(first.GetStates()) != 2 || stateOf(first, name).GetExists() {
		t.Fatalf("first message: %v", first)
	}
	changes.waitLine(t, "the resync marker", func(l string) bool { return strings.Contains(l, "  resync") })

	create(t, c, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.77.7", Ports: []corev1.ServicePort{{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 50051}}},
	})
	services.waitLine(t, "the new Service", func(l string) bool {
		st := stateOf(parseWatch(t, l), name)
		return st.GetExists() && len(st.GetService().GetClusterIps()) == 1 && st.GetService().GetClusterIps()[0] == "10.96.77.7"
	})
	changes.waitLine(t, "the new Service's key", func(l string) bool { return strings.Contains(l, " svc/"+ns+"/"+name) })

	ready, port, portName, proto := true, int32(50051), "grpc", corev1.ProtocolTCP
	node := "node-a"
	create(t, c, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.7.1"}, NodeName: &node,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Protocol: &proto, Port: &port}},
	})
	line := services.waitLine(t, "the new endpoint", func(l string) bool {
		eps := stateOf(parseWatch(t, l), name).GetEndpoints()
		return len(eps) == 1 && eps[0].GetAddresses()[0] == "10.244.7.1" && eps[0].GetReady() && eps[0].GetNodeName() == node
	})
	if m := parseWatch(t, line); len(m.GetStates()) != 1 {
		t.Errorf("a change of %s/%s also sent the state of the other Service: %v", ns, name, m)
	}
	r = ctl(t, bins, append(at, "get", "service", ns+"/"+name)...)
	if r.code != 0 || !hasRow(r.stdout, "10.244.7.1", "true", "true", "false", "-", node, "-", "-", "grpc:50051/TCP") {
		t.Fatalf("get service after the endpoint: %v", r)
	}

	// The record service going away ends both watches with exit code 3.
	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*watcher{services, changes} {
		if code := w.exitCode(t); code != 3 {
			t.Errorf("watch after the record service stopped: exit %d, stderr:\n%s", code, w.errors())
		}
	}
}

// parseWatch reads one line of watch -o json.
func parseWatch(t *testing.T, line string) *clusterdnsv1.WatchServicesResponse {
	t.Helper()
	var m clusterdnsv1.WatchServicesResponse
	if err := protojson.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("watch line %q: %v", line, err)
	}
	return &m
}

// stateOf is the state of Service name in m, nil when m has none.
func stateOf(m *clusterdnsv1.WatchServicesResponse, name string) *clusterdnsv1.ServiceState {
	for _, st := range m.GetStates() {
		if st.GetRef().GetName() == name {
			return st
		}
	}
	return nil
}

// create writes obj (a Namespace, Service or EndpointSlice) through
// client-go.
func create(t *testing.T, c *kubecluster.Cluster, obj any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = c.Client.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Service:
		_, err = c.Client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *discoveryv1.EndpointSlice:
		_, err = c.Client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("create %T: not supported", obj)
	}
	if err != nil {
		t.Fatalf("create %T: %v", obj, err)
	}
}
