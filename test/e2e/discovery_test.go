package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// TestDiscoveryAPI is issue #12's typed discovery against a real API
// server: GetService carries what the Service and its EndpointSlices say
// (type, appProtocol, every endpoint's conditions, node, zone and target),
// ListServices pages through a namespace, and WatchServices pushes the new
// state of a followed Service at each change (scale-up, an endpoint
// terminating, deletion) and nothing for Services it does not follow.
func TestDiscoveryAPI(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	cc, err := grpc.NewClient(rs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := clusterdnsv1.NewDiscoveryServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns = "disc"
	createNamespace(t, c, ns)
	port := tcpPort("grpc", 50051)
	h2c := "kubernetes.io/h2c"
	port.AppProtocol = &h2c
	lb := clusterIPService(ns, "echo", "10.96.40.10", port)
	lb.Spec.Type = corev1.ServiceTypeLoadBalancer
	createService(t, c, lb)
	createService(t, c, clusterIPService(ns, "bystander", "10.96.40.11", tcpPort("http", 80)))
	createSlice(t, c, zoned(endpointSlice(ns, "echo-1", "echo", "grpc", 50051,
		endpoint("10.244.40.1", true, ""), endpoint("10.244.40.2", true, ""))))

	ref := &clusterdnsv1.ServiceRef{Namespace: ns, Name: "echo"}
	var got *clusterdnsv1.GetServiceResponse
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, err = client.GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: ref})
		if err == nil && len(got.GetState().GetEndpoints()) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetService never showed 2 endpoints: %v %v", got, err)
		}
	}
	svc := got.GetState().GetService()
	if svc.GetType() != clusterdnsv1.ServiceType_SERVICE_TYPE_LOAD_BALANCER || svc.GetClusterIps()[0] != "10.96.40.10" ||
		svc.GetPorts()[0].GetAppProtocol() != h2c {
		t.Fatalf("service %v", svc)
	}
	ep := got.GetState().GetEndpoints()[1]
	if ep.GetAddresses()[0] != "10.244.40.2" || !ep.GetReady() || !ep.GetServing() || ep.GetTerminating() ||
		ep.GetNodeName() != "node-b" || ep.GetZone() != "zone-b" || ep.GetTargetRef().GetKind() != "Pod" ||
		ep.GetTargetRef().GetName() != "echo-10-244-40-2" || ep.GetPorts()[0].GetPort() != 50051 {
		t.Fatalf("endpoint %v", ep)
	}
	if _, err := client.GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: &clusterdnsv1.ServiceRef{Namespace: ns, Name: "nope"}}); status.Code(err) != codes.NotFound {
		t.Fatalf("missing Service: %v", err)
	}
	list, err := client.ListServices(ctx, &clusterdnsv1.ListServicesRequest{Namespace: ns, PageSize: 1})
	if err != nil || len(list.GetServices()) != 1 || list.GetServices()[0].GetName() != "bystander" || list.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", list, err)
	}
	list, err = client.ListServices(ctx, &clusterdnsv1.ListServicesRequest{Namespace: ns, PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetServices()) != 1 || list.GetServices()[0].GetName() != "echo" || list.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", list, err)
	}

	stream, err := client.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{Refs: []*clusterdnsv1.ServiceRef{ref}, ClientName: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) *clusterdnsv1.ServiceState {
		t.Helper()
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(msg.GetStates()) != 1 || msg.GetStates()[0].GetRef().GetName() != "echo" {
			t.Fatalf("%s: %v", what, msg)
		}
		return msg.GetStates()[0]
	}
	if st := next("first message"); len(st.GetEndpoints()) != 2 {
		t.Fatalf("first message: %v", st)
	}
	// The bystander's change is not sent: the next message is echo's.
	createSlice(t, c, endpointSlice(ns, "bystander-1", "bystander", "http", 80, endpoint("10.244.40.9", true, "")))
	updateSlice(t, c, ns, "echo-1", func(s *discoveryv1.EndpointSlice) {
		s.Endpoints = append(s.Endpoints, zoned(endpointSlice(ns, "x", "x", "x", 1, endpoint("10.244.40.3", true, ""))).Endpoints...)
	})
	if st := next("scale-up"); len(st.GetEndpoints()) != 3 {
		t.Fatalf("scale-up: %v", st)
	}
	updateSlice(t, c, ns, "echo-1", func(s *discoveryv1.EndpointSlice) {
		f, tr := false, true
		s.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: &f, Serving: &tr, Terminating: &tr}
	})
	if ep := next("terminating").GetEndpoints()[0]; ep.GetReady() || !ep.GetServing() || !ep.GetTerminating() {
		t.Fatalf("terminating: %v", ep)
	}
	deleteService(t, c, ns, "echo")
	if st := next("deleted"); st.GetExists() {
		t.Fatalf("deleted: %v", st)
	}
}

// zoned places each endpoint of s on a node and zone named after its
// address's last octet parity, with a Pod as target.
func zoned(s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		addr := e.Addresses[0]
		node, zone := "node-a", "zone-a"
		if (addr[len(addr)-1]-'0')%2 == 0 {
			node, zone = "node-b", "zone-b"
		}
		e.NodeName, e.Zone = &node, &zone
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: s.Namespace, Name: "echo-" + strings.ReplaceAll(addr, ".", "-")}
	}
	return s
}
