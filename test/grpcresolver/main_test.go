// Package grpcresolver tests the clusterdns:/// gRPC resolver against a real
// kube-apiserver and etcd, a record service and a frontend: endpoints that
// scale up and down and terminate reach a round_robin client through the
// DiscoveryService (and, side by side, through grpc-go's dns:/// resolver
// and the frontend), many resolvers add no watch on the API server where as
// many informers add one each, and, over mutual TLS, a
// namespace-scoped identity gets an error for a Service it may not see.
//
// The backends listen on /32 addresses of 10.253.0.0/24 added to the lo
// interface (EndpointSlice validation refuses loopback addresses), so the
// tests need root; packets to those addresses never leave the machine.
//
// Run from the module root after `make test-deps`: go test ./test/grpcresolver/
package grpcresolver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// TestMain builds the frontend and record service once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}

// deadline bounds every wait of these tests: generous, for a loaded
// two-core machine.
const deadline = 60 * time.Second

// servicePort is the Service port of every test Service, named "grpc"; the
// backends listen on another port (the target port).
const servicePort = 50051

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*deadline)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls check until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s: %s", what, deadline, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loopbackAddrs adds 10.253.0.N/32 to lo for each N, after deleting any
// left by an earlier run, and deletes them when the test ends.
func loopbackAddrs(t *testing.T, ns ...int) []string {
	t.Helper()
	var ips []string
	for _, n := range ns {
		ip := fmt.Sprintf("10.253.0.%d", n)
		// A stale address from a killed run is not an error.
		exec.Command("ip", "addr", "del", ip+"/32", "dev", "lo").Run()
		if out, err := exec.Command("ip", "addr", "add", ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Fatalf("ip addr add %s/32 dev lo (the test needs root): %v: %s", ip, err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "addr", "del", ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
				t.Errorf("ip addr del %s/32 dev lo: %v: %s", ip, err, out)
			}
		})
		ips = append(ips, ip)
	}
	return ips
}

// backend is a gRPC health server on one address that counts the calls it
// answers.
type backend struct {
	ip    string
	calls atomic.Int64
}

// startBackends starts a health server on each ip, all on one port (so
// that a DNS A record and the target's port reach them), and returns the
// port. The servers stop when the test ends.
func startBackends(t *testing.T, ips []string) (int, []*backend) {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		var lis []net.Listener
		port := 0
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				break // the port is taken on this address: try another
			}
			port = l.Addr().(*net.TCPAddr).Port
			lis = append(lis, l)
		}
		if len(lis) < len(ips) {
			for _, l := range lis {
				l.Close()
			}
			continue
		}
		var out []*backend
		for i, l := range lis {
			b := &backend{ip: ips[i]}
			s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				b.calls.Add(1)
				return h(ctx, req)
			}))
			healthpb.RegisterHealthServer(s, health.NewServer())
			go s.Serve(l) // returns when stopped
			t.Cleanup(s.Stop)
			out = append(out, b)
		}
		return port, out
	}
	t.Fatalf("no port free on every one of %v", ips)
	return 0, nil
}

// createNamespace creates namespace ns.
func createNamespace(t *testing.T, ctx context.Context, c *kubecluster.Cluster, ns string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
}

// createService creates Service ns/name with the port "grpc" (appProtocol
// kubernetes.io/h2c) targeting targetPort; headless when asked.
func createService(t *testing.T, ctx context.Context, c *kubecluster.Cluster, ns, name string, headless bool, targetPort int) {
	t.Helper()
	h2c := "kubernetes.io/h2c"
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: servicePort, Protocol: corev1.ProtocolTCP,
			AppProtocol: &h2c, TargetPort: intstr.FromInt32(int32(targetPort))}}},
	}
	if headless {
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
}

// endpoint is one endpoint as the EndpointSlice controller would write it.
type endpoint struct {
	ip                          string
	ready, serving, terminating bool
}

func readyEndpoint(ip string) endpoint { return endpoint{ip: ip, ready: true, serving: true} }

// writeSlice plays the EndpointSlice controller: it creates or replaces
// the one slice of Service ns/svc, with each endpoint on a node of its own
// in one of two zones and a Pod as targetRef.
func writeSlice(t *testing.T, ctx context.Context, c *kubecluster.Cluster, ns, svc string, port int, eps []endpoint) {
	t.Helper()
	name, proto, h2c, p := svc+"-slice", corev1.ProtocolTCP, "kubernetes.io/h2c", int32(port)
	grpcName := "grpc"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &grpcName, Protocol: &proto, Port: &p, AppProtocol: &h2c}},
	}
	for _, e := range eps {
		last := e.ip[strings.LastIndex(e.ip, ".")+1:]
		n, _ := strconv.Atoi(last)
		node, zone := "node-"+last, fmt.Sprintf("zone-%c", 'a'+n%2)
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &e.ready, Serving: &e.serving, Terminating: &e.terminating},
			NodeName:   &node,
			Zone:       &zone,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: svc + "-" + last},
		})
	}
	client := c.Client.DiscoveryV1().EndpointSlices(ns)
	old, err := client.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = old.ResourceVersion
		_, err = client.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("write EndpointSlice %s/%s: %v", ns, name, err)
	}
}
