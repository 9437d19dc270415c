package recordserver

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// TestLookupStream checks that LookupStream gives every question the answer
// Lookup gives, refuses what Lookup refuses without ending the stream, and
// ends cleanly when the client closes its side.
func TestLookupStream(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	feed(ts.ix)
	ts.ix.MarkSynced()
	stream, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     *clusterdnsv1.LookupRequest
		invalid string
	}{
		{"service A", &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1}, ""},
		{"case kept", &clusterdnsv1.LookupRequest{Name: "Kubernetes.Default.SVC.cluster.local.", Qtype: 1,
			ClientIp: "10.244.0.5", Transport: clusterdnsv1.Transport_TRANSPORT_UDP}, ""},
		{"no AAAA", &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 28}, ""},
		{"unknown service", &clusterdnsv1.LookupRequest{Name: "unknown.default.svc.cluster.local.", Qtype: 1}, ""},
		{"outside the zone", &clusterdnsv1.LookupRequest{Name: "example.com.", Qtype: 1}, ""},
		{"empty label", &clusterdnsv1.LookupRequest{Name: "a..cluster.local.", Qtype: 1}, "label 2 is empty"},
		{"no request", nil, "name: empty"},
	}
	// Every question is sent before the first answer is read: the stream
	// holds them all in flight.
	for i, tt := range tests {
		if err := stream.Send(&clusterdnsv1.LookupStreamRequest{Id: uint64(100 + i), Request: tt.req}); err != nil {
			t.Fatalf("%s: Send: %v", tt.name, err)
		}
	}
	got := map[uint64]*clusterdnsv1.LookupStreamResponse{}
	for range tests {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got[msg.GetId()] = msg
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := got[uint64(100+i)]
			if msg == nil {
				t.Fatalf("no response with id %d", 100+i)
			}
			if tt.invalid != "" {
				if !strings.Contains(msg.GetInvalidArgument(), tt.invalid) || msg.GetResponse() != nil {
					t.Fatalf("got %v, want invalid_argument containing %q", msg, tt.invalid)
				}
				_, err := ts.rs.Lookup(ctx, tt.req)
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("Lookup: %v, want InvalidArgument like the stream", err)
				}
				return
			}
			want, err := ts.rs.Lookup(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(msg.GetResponse(), want) || msg.GetInvalidArgument() != "" {
				t.Fatalf("stream answered %v, Lookup %v", msg, want)
			}
		})
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v %v, want the end of the stream (EOF)", msg, err)
	}
}

// TestShutdownEndsLookupStream checks that Shutdown ends lookup streams
// (Unavailable) so that GracefulStop can complete.
func TestShutdownEndsLookupStream(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	ts.ix.MarkSynced()
	stream, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&clusterdnsv1.LookupStreamRequest{Id: 1,
		Request: &clusterdnsv1.LookupRequest{Name: "x.default.svc.cluster.local.", Qtype: 1}}); err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); err != nil || msg.GetResponse().GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR {
		t.Fatalf("got %v %v, want NAME_ERROR", msg, err)
	}
	ts.srv.Shutdown()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Shutdown: %v, want Unavailable", err)
	}
	requireGracefulStop(t, ts)
}
