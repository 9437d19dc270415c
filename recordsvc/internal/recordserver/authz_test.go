package recordserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/url"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
)

// peerCtx is the context of a call from 10.1.2.3 whose verified certificate
// names identity ("" for no TLS at all).
func peerCtx(identity string) context.Context {
	p := &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 40000}}
	if identity != "" {
		cert := &x509.Certificate{URIs: []*url.URL{mtls.IdentityURI(identity)}}
		p.AuthInfo = credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}
	}
	return peer.NewContext(context.Background(), p)
}

// TestUnaryAuthorization calls the Lookup interceptor as gRPC would, with a
// handler that answers with fixed keys and records the client_ip it got.
func TestUnaryAuthorization(t *testing.T) {
	policy, err := authz.ParsePolicy([]byte("clients: [{identity: billing, namespaces: [billing]}]"))
	if err != nil {
		t.Fatal(err)
	}
	withTLS := NewAuthorizer("cluster.local.", authz.StaticSource(policy), true, slog.New(slog.DiscardHandler))
	noTLS := NewAuthorizer("cluster.local.", authz.StaticSource(nil), false, slog.New(slog.DiscardHandler))
	info := &grpc.UnaryServerInfo{FullMethod: clusterdnsv1.RecordService_Lookup_FullMethodName}
	tests := []struct {
		name       string
		a          *Authorizer
		identity   string
		qname      string
		answerKeys []string
		want       codes.Code
		wantIP     string // client_ip the handler saw
	}{
		{"frontend", withTLS, "frontend", "x.other.svc.cluster.local.", []string{"svc/other/x"}, codes.OK, "10.9.9.9"},
		{"plaintext caller is a frontend", noTLS, "", "x.other.svc.cluster.local.", []string{"svc/other/x"}, codes.OK, "10.9.9.9"},
		{"TLS without identity", withTLS, "", "x.billing.svc.cluster.local.", nil, codes.PermissionDenied, ""},
		{"unknown identity", withTLS, "stranger", "x.billing.svc.cluster.local.", nil, codes.PermissionDenied, ""},
		{"scoped, own namespace", withTLS, "billing", "x.billing.svc.cluster.local.", []string{"svc/billing/x"}, codes.OK, "10.1.2.3"},
		{"scoped, other namespace asked", withTLS, "billing", "x.other.svc.cluster.local.", nil, codes.PermissionDenied, ""},
		{"scoped, answer leads elsewhere", withTLS, "billing", "x.billing.svc.cluster.local.", []string{"svc/billing/x", "svc/other/y"},
			codes.PermissionDenied, "10.1.2.3"},
		{"scoped, reverse name of its own service", withTLS, "billing", "3.2.1.10.in-addr.arpa.", []string{"ip/10.1.2.3", "svc/billing/x"},
			codes.OK, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotIP string
			handler := func(_ context.Context, req any) (any, error) {
				gotIP = req.(*clusterdnsv1.LookupRequest).GetClientIp()
				return &clusterdnsv1.LookupResponse{Keys: tt.answerKeys}, nil
			}
			req := &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: 1, ClientIp: "10.9.9.9"}
			_, err := tt.a.UnaryInterceptor()(peerCtx(tt.identity), req, info, handler)
			if code := status.Code(err); code != tt.want {
				t.Fatalf("code %v (%v), want %v", code, err, tt.want)
			}
			if gotIP != tt.wantIP {
				t.Fatalf("handler saw client_ip %q, want %q", gotIP, tt.wantIP)
			}
		})
	}
}
