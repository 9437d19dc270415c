package main

import (
	"bytes"
	"strings"
	"testing"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// fields splits each line of out into its whitespace-separated cells.
func fields(out string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// hasRow tells whether one line of out has exactly the cells want.
func hasRow(out string, want ...string) bool {
	for _, r := range fields(out) {
		if strings.Join(r, " ") == strings.Join(want, " ") {
			return true
		}
	}
	return false
}

func TestWriteServiceState(t *testing.T) {
	t.Parallel()
	tcp := clusterdnsv1.Protocol_PROTOCOL_TCP
	state := &clusterdnsv1.ServiceState{
		Ref:    &clusterdnsv1.ServiceRef{Namespace: "shop", Name: "cart"},
		Exists: true,
		Service: &clusterdnsv1.Service{Namespace: "shop", Name: "cart", Type: clusterdnsv1.ServiceType_SERVICE_TYPE_LOAD_BALANCER,
			ClusterIps: []string{"10.96.1.2", "fd00::2"},
			Ports:      []*clusterdnsv1.Port{{Name: "grpc", Protocol: tcp, Port: 50051, AppProtocol: "kubernetes.io/h2c"}, {Protocol: clusterdnsv1.Protocol_PROTOCOL_UDP, Port: 53}}},
		Endpoints: []*clusterdnsv1.Endpoint{
			{Addresses: []string{"10.244.0.5"}, Ready: true, Serving: true, Hostname: "cart-0", NodeName: "node-a", Zone: "zone-a",
				TargetRef: &clusterdnsv1.TargetRef{Kind: "Pod", Namespace: "shop", Name: "cart-0"},
				Ports:     []*clusterdnsv1.Port{{Name: "grpc", Protocol: tcp, Port: 8080}}},
			{Addresses: []string{"10.244.0.6"}, Serving: true, Terminating: true},
		},
	}
	var b bytes.Buffer
	if err := writeServiceState(&b, state, 42, "srv"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, row := range [][]string{
		{"Service:", "shop/cart"},
		{"Type:", "LoadBalancer"},
		{"Cluster", "IPs:", "10.96.1.2,", "fd00::2"},
		{"Revision:", "42", "(server", "srv)"},
		{"NAME", "PROTOCOL", "PORT", "APP", "PROTOCOL"},
		{"grpc", "TCP", "50051", "kubernetes.io/h2c"},
		{"<none>", "UDP", "53", "-"},
		{"Endpoints:", "2", "(1", "ready)"},
		{"ADDRESSES", "READY", "SERVING", "TERMINATING", "HOSTNAME", "NODE", "ZONE", "TARGET", "PORTS"},
		{"10.244.0.5", "true", "true", "false", "cart-0", "node-a", "zone-a", "Pod/shop/cart-0", "grpc:8080/TCP"},
		{"10.244.0.6", "false", "true", "true", "-", "-", "-", "-", "-"},
	} {
		if !hasRow(out, row...) {
			t.Errorf("no row %q in:\n%s", row, out)
		}
	}

	b.Reset()
	gone := &clusterdnsv1.ServiceState{Ref: &clusterdnsv1.ServiceRef{Namespace: "shop", Name: "old"}}
	if err := writeServiceState(&b, gone, 43, "srv"); err != nil {
		t.Fatal(err)
	}
	if !hasRow(b.String(), "Exists:", "no") || strings.Contains(b.String(), "Endpoints") {
		t.Errorf("a deleted Service:\n%s", b.String())
	}
}

func TestWriteServiceList(t *testing.T) {
	t.Parallel()
	tcp := clusterdnsv1.Protocol_PROTOCOL_TCP
	var b bytes.Buffer
	err := writeServiceList(&b, []*clusterdnsv1.Service{
		{Namespace: "default", Name: "kubernetes", Type: clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP, ClusterIps: []string{"10.96.0.1"},
			Ports: []*clusterdnsv1.Port{{Name: "https", Protocol: tcp, Port: 443}}},
		{Namespace: "demo", Name: "db", Type: clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP, Headless: true,
			Ports: []*clusterdnsv1.Port{{Protocol: tcp, Port: 5432}}},
		{Namespace: "demo", Name: "ext", Type: clusterdnsv1.ServiceType_SERVICE_TYPE_EXTERNAL_NAME, ExternalName: "example.com"},
		{Namespace: "demo", Name: "np", Type: clusterdnsv1.ServiceType_SERVICE_TYPE_NODE_PORT, ClusterIps: []string{"10.96.0.7", "fd00::7"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{
		{"NAMESPACE", "NAME", "TYPE", "CLUSTER-IPS", "PORTS"},
		{"default", "kubernetes", "ClusterIP", "10.96.0.1", "https:443/TCP"},
		{"demo", "db", "ClusterIP", "None", "5432/TCP"},
		{"demo", "ext", "ExternalName", "->", "example.com", "-"},
		{"demo", "np", "NodePort", "10.96.0.7,fd00::7", "-"},
	} {
		if !hasRow(b.String(), row...) {
			t.Errorf("no row %q in:\n%s", row, b.String())
		}
	}
}

func TestParseServiceRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		ns, name string
	}{
		{"default/kubernetes", "default", "kubernetes"},
		{"kube-system/kube-dns", "kube-system", "kube-dns"},
		{"default", "", ""},
		{"/x", "", ""},
		{"x/", "", ""},
		{"a/b/c", "", ""},
		{"A/b", "", ""},
		{"a/1b", "", ""},
	} {
		ref, err := parseServiceRef(tc.in)
		if tc.ns == "" {
			if exitCode(err) != exitUsage {
				t.Errorf("%q: %v %v, want a usage error", tc.in, ref, err)
			}
			continue
		}
		if err != nil || ref.GetNamespace() != tc.ns || ref.GetName() != tc.name {
			t.Errorf("%q: %v %v", tc.in, ref, err)
		}
	}
}

func TestWatchChangeLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg  *clusterdnsv1.WatchResponse
		want string
	}{
		{&clusterdnsv1.WatchResponse{Revision: 5, ServerId: "s", Resync: true, StateDigest: []byte{0xab, 0x01}},
			"revision 5  server s  resync  digest ab01  keys(0)"},
		{&clusterdnsv1.WatchResponse{Revision: 6, ServerId: "s", Keys: []string{"svc/a/b", "ns/a"}},
			"revision 6  server s  keys(2) svc/a/b ns/a"},
		{&clusterdnsv1.WatchResponse{Revision: 9, ServerId: "t", Resumed: true, Keys: []string{"svc/a/b"}},
			"revision 9  server t  resumed  keys(1) svc/a/b"},
	} {
		if got := watchChangeLine(tc.msg); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}
