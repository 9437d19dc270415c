package discovery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// harness is a DiscoveryService on a loopback TCP listener whose callers
// all hold one grant (the record server's authorizer is tested with the
// binary; here the grant is what the handlers see).
type harness struct {
	ix     *kubeindex.Index
	srv    *Server
	done   chan struct{}
	client clusterdnsv1.DiscoveryServiceClient
}

func newHarness(t *testing.T, g *authz.Grant, cfg kubeindex.Config) *harness {
	t.Helper()
	h := &harness{ix: kubeindex.New(cfg), done: make(chan struct{})}
	h.srv = New(h.ix, "server-a", h.done, slog.New(slog.DiscardHandler))
	withGrant := func(ctx context.Context) context.Context {
		if g == nil {
			return ctx
		}
		return authz.NewContext(ctx, *g)
	}
	gs := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return handler(withGrant(ctx), req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, &grantStream{ServerStream: ss, ctx: withGrant(ss.Context())})
		}),
	)
	clusterdnsv1.RegisterDiscoveryServiceServer(gs, h.srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	h.client = clusterdnsv1.NewDiscoveryServiceClient(conn)
	return h
}

type grantStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *grantStream) Context() context.Context { return s.ctx }

var frontendGrant = &authz.Grant{Identity: authz.FrontendIdentity, Role: authz.RoleFrontend}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ref(ns, name string) *clusterdnsv1.ServiceRef {
	return &clusterdnsv1.ServiceRef{Namespace: ns, Name: name}
}

func webService(ns, name string, ip string) kubeindex.Service {
	return kubeindex.Service{Namespace: ns, Name: name, Type: "ClusterIP", ClusterIPs: []netip.Addr{netip.MustParseAddr(ip)},
		Ports: []kubeindex.Port{{Name: "grpc", Protocol: "tcp", Port: 8080, AppProtocol: "kubernetes.io/h2c"}}}
}

func webSlice(ns, service string, addrs ...string) kubeindex.EndpointSlice {
	sl := kubeindex.EndpointSlice{Namespace: ns, Name: service + "-abc", Service: service}
	for i, a := range addrs {
		sl.Endpoints = append(sl.Endpoints, kubeindex.Endpoint{
			Addresses: []netip.Addr{netip.MustParseAddr(a)}, Ready: true, Serving: true,
			Ports: []kubeindex.Port{{Name: "grpc", Protocol: "tcp", Port: 50051}},
		}.WithDetail(kubeindex.EndpointDetail{NodeName: "node-1", Zone: fmt.Sprintf("zone-%d", i%2),
			TargetRef: kubeindex.TargetRef{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", service, i)}}))
	}
	return sl
}

func TestGetService(t *testing.T) {
	h := newHarness(t, frontendGrant, kubeindex.Config{})
	ctx := ctxT(t)
	if _, err := h.client.GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: ref("demo", "web")}); status.Code(err) != codes.Unavailable {
		t.Fatalf("before sync: got %v, want Unavailable", err)
	}
	h.ix.SetNamespace("demo")
	h.ix.SetService(webService("demo", "web", "10.96.0.20"))
	h.ix.SetEndpointSlice(webSlice("demo", "web", "10.244.0.5", "10.244.0.6"))
	h.ix.MarkSynced()

	tests := []struct {
		name string
		ref  *clusterdnsv1.ServiceRef
		code codes.Code
	}{
		{"exists", ref("demo", "web"), codes.OK},
		{"case-insensitive", ref("Demo", "WEB"), codes.OK},
		{"missing", ref("demo", "nope"), codes.NotFound},
		{"no ref", nil, codes.InvalidArgument},
		{"bad name", ref("demo", "we b"), codes.InvalidArgument},
		{"empty namespace", ref("", "web"), codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.client.GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: tt.ref})
			if status.Code(err) != tt.code {
				t.Fatalf("got %v, want %v", err, tt.code)
			}
			if tt.code != codes.OK {
				return
			}
			st := resp.GetState()
			if !st.GetExists() || st.GetRef().GetName() != tt.ref.GetName() || resp.GetServerId() != "server-a" || resp.GetRevision() == 0 {
				t.Fatalf("bad response %v", resp)
			}
			svc := st.GetService()
			if svc.GetType() != clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP || svc.GetClusterIps()[0] != "10.96.0.20" ||
				svc.GetPorts()[0].GetAppProtocol() != "kubernetes.io/h2c" || svc.GetPorts()[0].GetProtocol() != clusterdnsv1.Protocol_PROTOCOL_TCP {
				t.Fatalf("bad service %v", svc)
			}
			if len(st.GetEndpoints()) != 2 {
				t.Fatalf("endpoints %v", st.GetEndpoints())
			}
			ep := st.GetEndpoints()[1]
			if ep.GetAddresses()[0] != "10.244.0.6" || !ep.GetReady() || !ep.GetServing() || ep.GetZone() != "zone-1" ||
				ep.GetNodeName() != "node-1" || ep.GetTargetRef().GetName() != "web-1" || ep.GetPorts()[0].GetPort() != 50051 {
				t.Fatalf("bad endpoint %v", ep)
			}
		})
	}
}

func TestCallsWithoutGrantAreRefused(t *testing.T) {
	h := newHarness(t, nil, kubeindex.Config{})
	h.ix.MarkSynced()
	ctx := ctxT(t)
	if _, err := h.client.GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: ref("a", "b")}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetService: %v", err)
	}
	if _, err := h.client.ListServices(ctx, &clusterdnsv1.ListServicesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("ListServices: %v", err)
	}
	stream, err := h.client.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{Refs: []*clusterdnsv1.ServiceRef{ref("a", "b")}})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("WatchServices: %v", err)
	}
}

func TestListServicesPages(t *testing.T) {
	scoped, err := authz.ParsePolicy([]byte("clients:\n- identity: team\n  namespaces: [ns-1, ns-3]\n"))
	if err != nil {
		t.Fatal(err)
	}
	teamGrant := scoped.Lookup("team")
	for _, g := range []*authz.Grant{frontendGrant, &teamGrant} {
		t.Run(g.Role.String(), func(t *testing.T) {
			h := newHarness(t, g, kubeindex.Config{})
			var want []string
			for n := range 4 {
				ns := fmt.Sprintf("ns-%d", n)
				h.ix.SetNamespace(ns)
				for i := range 60 {
					name := fmt.Sprintf("svc-%03d", i)
					h.ix.SetService(webService(ns, name, fmt.Sprintf("10.96.%d.%d", n, i+1)))
					if g.AllowsNamespace(ns) {
						want = append(want, ns+"/"+name)
					}
				}
			}
			h.ix.MarkSynced()
			ctx := ctxT(t)
			var got []string
			req := &clusterdnsv1.ListServicesRequest{PageSize: 50}
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("more pages than Services")
				}
				resp, err := h.client.ListServices(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range resp.GetServices() {
					got = append(got, s.GetNamespace()+"/"+s.GetName())
				}
				if resp.GetNextPageToken() == "" {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("listed %d Services, want %d:\n%v\n%v", len(got), len(want), got, want)
			}
			one, err := h.client.ListServices(ctx, &clusterdnsv1.ListServicesRequest{Namespace: "ns-3", PageSize: 5000})
			if err != nil || len(one.GetServices()) != 60 || one.GetNextPageToken() != "" {
				t.Fatalf("namespace ns-3: %d Services, token %q, %v", len(one.GetServices()), one.GetNextPageToken(), err)
			}
		})
	}
}

func TestListServicesRefusesBadTokens(t *testing.T) {
	h := newHarness(t, frontendGrant, kubeindex.Config{})
	h.ix.MarkSynced()
	ctx := ctxT(t)
	tests := []struct {
		name string
		req  *clusterdnsv1.ListServicesRequest
	}{
		{"not base64", &clusterdnsv1.ListServicesRequest{PageToken: "%%%"}},
		{"not a token", &clusterdnsv1.ListServicesRequest{PageToken: "aGVsbG8"}},
		{"other namespace", &clusterdnsv1.ListServicesRequest{Namespace: "b", PageToken: pageToken("a", "a", "x")}},
		{"bad namespace", &clusterdnsv1.ListServicesRequest{Namespace: "A_B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.client.ListServices(ctx, tt.req); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
}

// recv reads one message of a WatchServices stream and returns the states
// in it by name.
func recv(t *testing.T, stream grpc.ServerStreamingClient[clusterdnsv1.WatchServicesResponse]) (*clusterdnsv1.WatchServicesResponse, map[string]*clusterdnsv1.ServiceState) {
	t.Helper()
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	states := map[string]*clusterdnsv1.ServiceState{}
	for _, st := range msg.GetStates() {
		states[st.GetRef().GetNamespace()+"/"+st.GetRef().GetName()] = st
	}
	return msg, states
}

func TestWatchServicesPushesChangesOfFollowedServices(t *testing.T) {
	h := newHarness(t, frontendGrant, kubeindex.Config{})
	h.ix.SetNamespace("demo")
	h.ix.SetService(webService("demo", "web", "10.96.0.20"))
	h.ix.SetEndpointSlice(webSlice("demo", "web", "10.244.0.5"))
	h.ix.SetService(webService("demo", "other", "10.96.0.21"))
	h.ix.MarkSynced()

	ctx, cancel := context.WithCancel(ctxT(t))
	stream, err := h.client.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{
		Refs: []*clusterdnsv1.ServiceRef{ref("demo", "web"), ref("demo", "later"), ref("demo", "web")}})
	if err != nil {
		t.Fatal(err)
	}
	msg, states := recv(t, stream)
	if msg.GetResumed() || len(states) != 2 || !states["demo/web"].GetExists() || states["demo/later"].GetExists() ||
		len(states["demo/web"].GetEndpoints()) != 1 {
		t.Fatalf("first message %v", msg)
	}

	// A change of a Service nobody follows sends nothing; the next change of
	// a followed one arrives alone.
	h.ix.SetEndpointSlice(webSlice("demo", "other", "10.244.0.9"))
	h.ix.SetEndpointSlice(webSlice("demo", "web", "10.244.0.5", "10.244.0.6"))
	msg2, states := recv(t, stream)
	if len(states) != 1 || len(states["demo/web"].GetEndpoints()) != 2 || msg2.GetRevision() <= msg.GetRevision() {
		t.Fatalf("after scale-up: %v", msg2)
	}
	// Terminating: ready turns false, serving stays.
	sl := webSlice("demo", "web", "10.244.0.5", "10.244.0.6")
	sl.Endpoints[0].Ready, sl.Endpoints[0].Terminating = false, true
	h.ix.SetEndpointSlice(sl)
	_, states = recv(t, stream)
	if ep := states["demo/web"].GetEndpoints()[0]; ep.GetReady() || !ep.GetServing() || !ep.GetTerminating() {
		t.Fatalf("terminating endpoint %v", ep)
	}
	h.ix.SetService(webService("demo", "later", "10.96.0.22"))
	_, states = recv(t, stream)
	if !states["demo/later"].GetExists() || len(states) != 1 {
		t.Fatalf("created: %v", states)
	}
	h.ix.DeleteService("demo", "web")
	last, states := recv(t, stream)
	if states["demo/web"].GetExists() || len(states) != 1 {
		t.Fatalf("deleted: %v", states)
	}
	cancel()

	// Resume from the last message: only what changed since comes back.
	h.ix.SetService(webService("demo", "later", "10.96.0.23"))
	stream, err = h.client.WatchServices(ctxT(t), &clusterdnsv1.WatchServicesRequest{
		Refs:           []*clusterdnsv1.ServiceRef{ref("demo", "web"), ref("demo", "later")},
		ResumeRevision: last.GetRevision(), ResumeServerId: last.GetServerId()})
	if err != nil {
		t.Fatal(err)
	}
	msg, states = recv(t, stream)
	if !msg.GetResumed() || len(states) != 1 || states["demo/later"].GetService().GetClusterIps()[0] != "10.96.0.23" {
		t.Fatalf("resumed: %v", msg)
	}
	// Another server's revision cannot be resumed: full state.
	stream, err = h.client.WatchServices(ctxT(t), &clusterdnsv1.WatchServicesRequest{
		Refs:           []*clusterdnsv1.ServiceRef{ref("demo", "web"), ref("demo", "later")},
		ResumeRevision: last.GetRevision(), ResumeServerId: "server-b"})
	if err != nil {
		t.Fatal(err)
	}
	if msg, states = recv(t, stream); msg.GetResumed() || len(states) != 2 {
		t.Fatalf("resume elsewhere: %v", msg)
	}
	// Shutdown ends the stream with UNAVAILABLE, so the watcher resumes
	// at another replica.
	close(h.done)
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after shutdown: %v", err)
	}
}

func TestWatchServicesBounds(t *testing.T) {
	h := newHarness(t, frontendGrant, kubeindex.Config{})
	h.ix.SetNamespace("big")
	var refs []*clusterdnsv1.ServiceRef
	addrs := make([]string, 0, 400)
	for i := range 400 {
		addrs = append(addrs, fmt.Sprintf("10.244.%d.%d", i/200, i%200+1))
	}
	for i := range maxRefs {
		name := fmt.Sprintf("s%d", i)
		h.ix.SetService(webService("big", name, fmt.Sprintf("10.96.%d.%d", i/200, i%200+1)))
		h.ix.SetEndpointSlice(webSlice("big", name, addrs...))
		refs = append(refs, ref("big", name))
	}
	h.ix.MarkSynced()
	ctx := ctxT(t)

	tooMany := append(refs[:maxRefs:maxRefs], ref("big", "one-more"))
	stream, err := h.client.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{Refs: tooMany})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("%d refs: %v", len(tooMany), err)
	}

	// 256 Services of 400 endpoints do not fit one message: the parts before
	// the last carry no resume point, the last carries the revision.
	stream, err = h.client.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{Refs: refs})
	if err != nil {
		t.Fatal(err)
	}
	seen, parts := 0, 0
	for seen < maxRefs {
		msg, err := stream.Recv()
		if err == io.EOF || err != nil {
			t.Fatalf("after %d states: %v", seen, err)
		}
		parts++
		seen += len(msg.GetStates())
		if last := seen == maxRefs; (msg.GetRevision() != 0) != last {
			t.Fatalf("part %d (last %v) has revision %d", parts, last, msg.GetRevision())
		}
	}
	if parts < 2 {
		t.Fatalf("%d states in %d message", seen, parts)
	}
}
