package grpcresolver

import (
	"slices"
	"strings"
	"testing"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

func TestAddresses(t *testing.T) {
	// Two EndpointSlices of one Service: the "grpc" Service port 50051
	// targets port 8080 in one and 9090 in the other.
	twoSlices := []*clusterdnsv1.Endpoint{
		ep("10.1.0.1", "a", port("grpc", 8080), port("metrics", 9100)),
		ep("10.1.0.2", "b", port("grpc", 9090), port("metrics", 9100)),
	}
	exists := func(s *clusterdnsv1.Service, eps ...*clusterdnsv1.Endpoint) *clusterdnsv1.ServiceState {
		return &clusterdnsv1.ServiceState{Exists: true, Service: s, Endpoints: eps}
	}
	echo := svc("demo", "echo", port("grpc", 50051), port("metrics", 9100))
	notReady := ep("10.1.0.3", "a", port("grpc", 8080))
	notReady.Ready = false
	terminating := ep("10.1.0.4", "a", port("grpc", 8080))
	terminating.Ready, terminating.Terminating = false, true
	// An inconsistent endpoint (ready and terminating) is left out too.
	readyTerminating := ep("10.1.0.5", "a", port("grpc", 8080))
	readyTerminating.Terminating = true
	dualStack := ep("10.1.0.6", "c", port("grpc", 8080))
	dualStack.Addresses = append(dualStack.Addresses, "fd00::6")
	udp := ep("10.1.0.7", "a", &clusterdnsv1.Port{Name: "grpc", Port: 53, Protocol: clusterdnsv1.Protocol_PROTOCOL_UDP})
	external := svc("demo", "ext")
	external.Type, external.ExternalName = clusterdnsv1.ServiceType_SERVICE_TYPE_EXTERNAL_NAME, "example.com"

	tests := []struct {
		name    string
		target  target
		state   *clusterdnsv1.ServiceState
		want    []string
		wantErr string
	}{
		{name: "port by name, target ports per slice", target: target{portName: "grpc"}, state: exists(echo, twoSlices...),
			want: []string{"10.1.0.1:8080", "10.1.0.2:9090"}},
		{name: "port by number mapped through the Service port name", target: target{portNumber: 50051}, state: exists(echo, twoSlices...),
			want: []string{"10.1.0.1:8080", "10.1.0.2:9090"}},
		{name: "port number the Service lacks is used as is", target: target{portNumber: 7000}, state: exists(echo, twoSlices...),
			want: []string{"10.1.0.1:7000", "10.1.0.2:7000"}},
		{name: "unnamed single port", target: target{portNumber: 80}, state: exists(svc("demo", "web", port("", 80)), ep("10.1.0.1", "a", port("", 8080))),
			want: []string{"10.1.0.1:8080"}},
		{name: "not ready and terminating left out", target: target{portName: "grpc"},
			state: exists(echo, twoSlices[0], notReady, terminating, readyTerminating), want: []string{"10.1.0.1:8080"}},
		{name: "endpoint without the port left out", target: target{portName: "metrics"},
			state: exists(echo, twoSlices[0], ep("10.1.0.8", "a", port("grpc", 8080))), want: []string{"10.1.0.1:9100"}},
		{name: "udp port does not count", target: target{portName: "grpc"}, state: exists(echo, udp), want: nil},
		{name: "dual stack", target: target{portName: "grpc"}, state: exists(echo, dualStack), want: []string{"10.1.0.6:8080", "[fd00::6]:8080"}},
		{name: "no endpoints", target: target{portName: "grpc"}, state: exists(echo), want: nil},
		{name: "no such port name", target: target{portName: "http"}, state: exists(echo, twoSlices...), wantErr: `no port named "http"`},
		{name: "does not exist", target: target{portName: "grpc"}, state: &clusterdnsv1.ServiceState{}, wantErr: "does not exist"},
		{name: "external name", target: target{portName: "grpc"}, state: exists(external), wantErr: "ExternalName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.target.namespace, tt.target.name = "demo", "echo"
			got, err := addresses(tt.target, tt.state)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("addresses: %v, %v; want error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if addrs := addrsOf(toState(got)); !slices.Equal(addrs, tt.want) {
				t.Fatalf("addresses = %q, want %q", addrs, tt.want)
			}
		})
	}
}

// TestStateAttributes checks that zone and node travel on every address and
// endpoint, and that a dual-stack endpoint is one resolver.Endpoint.
func TestStateAttributes(t *testing.T) {
	dual := ep("10.1.0.6", "zone-c", port("grpc", 8080))
	dual.Addresses = append(dual.Addresses, "fd00::6")
	noZone := ep("10.1.0.7", "", port("grpc", 8080))
	noZone.NodeName = ""
	st := &clusterdnsv1.ServiceState{Exists: true, Service: svc("demo", "echo", port("grpc", 80)),
		Endpoints: []*clusterdnsv1.Endpoint{ep("10.1.0.1", "zone-a", port("grpc", 8080)), dual, noZone}}
	got, err := addresses(target{namespace: "demo", name: "echo", portName: "grpc"}, st)
	if err != nil {
		t.Fatal(err)
	}
	s := toState(got)
	if len(s.Addresses) != 4 || len(s.Endpoints) != 3 {
		t.Fatalf("state has %d addresses and %d endpoints, want 4 and 3: %+v", len(s.Addresses), len(s.Endpoints), s)
	}
	wantZones := []string{"zone-a", "zone-c", "zone-c", ""}
	wantNodes := []string{"node-zone-a", "node-zone-c", "node-zone-c", ""}
	for i, a := range s.Addresses {
		if z, n := ZoneFromAddress(a), NodeFromAddress(a); z != wantZones[i] || n != wantNodes[i] {
			t.Errorf("address %s: zone %q node %q, want %q and %q", a.Addr, z, n, wantZones[i], wantNodes[i])
		}
	}
	if z := ZoneFromEndpoint(s.Endpoints[1]); z != "zone-c" || len(s.Endpoints[1].Addresses) != 2 {
		t.Errorf("dual-stack endpoint: zone %q, %d addresses; want zone-c and 2", z, len(s.Endpoints[1].Addresses))
	}
}
