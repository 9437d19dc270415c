package recordsvc

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

// TestDiscoveryNamespaceScope: the DiscoveryService enforces the policy of
// the RecordService over mutual TLS: a scoped identity gets and watches the
// Services of its namespaces only, its listings of every namespace hold only
// its own, and an identity the policy does not name gets nothing.
func TestDiscoveryNamespaceScope(t *testing.T) {
	p := newPKI(t, "frontend", "billing", "stranger")
	rs, _ := scopedServer(t, p)
	client := func(id string) clusterdnsv1.DiscoveryServiceClient {
		_, cc := dial(t, rs.addr, dialOpts{files: p.clients[id]})
		return clusterdnsv1.NewDiscoveryServiceClient(cc)
	}
	billing, frontend, stranger := client("billing"), client("frontend"), client("stranger")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	get := []struct {
		name   string
		client clusterdnsv1.DiscoveryServiceClient
		ns     string
		svc    string
		want   codes.Code
	}{
		{"own service", billing, "billing", "api", codes.OK},
		{"own namespace, missing service", billing, "billing", "nothing", codes.NotFound},
		{"other namespace", billing, "other", "secret", codes.PermissionDenied},
		{"frontend sees every namespace", frontend, "other", "secret", codes.OK},
		{"identity not in the policy", stranger, "billing", "api", codes.PermissionDenied},
	}
	for _, tt := range get {
		t.Run("GetService/"+tt.name, func(t *testing.T) {
			resp, err := tt.client.GetService(ctx, &clusterdnsv1.GetServiceRequest{
				Ref: &clusterdnsv1.ServiceRef{Namespace: tt.ns, Name: tt.svc}})
			if status.Code(err) != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err == nil && len(resp.GetState().GetService().GetClusterIps()) == 0 {
				t.Fatalf("no cluster IP: %v", resp)
			}
		})
	}

	t.Run("ListServices of every namespace is filtered", func(t *testing.T) {
		resp, err := billing.ListServices(ctx, &clusterdnsv1.ListServicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetServices()) != 1 || resp.GetServices()[0].GetName() != "api" {
			t.Fatalf("billing listed %v", resp.GetServices())
		}
		all, err := frontend.ListServices(ctx, &clusterdnsv1.ListServicesRequest{})
		if err != nil || len(all.GetServices()) < 3 {
			t.Fatalf("frontend listed %d Services: %v", len(all.GetServices()), err)
		}
		if _, err := billing.ListServices(ctx, &clusterdnsv1.ListServicesRequest{Namespace: "other"}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("billing listing namespace other: %v", err)
		}
	})

	t.Run("WatchServices", func(t *testing.T) {
		watch := func(c clusterdnsv1.DiscoveryServiceClient, refs ...*clusterdnsv1.ServiceRef) error {
			s, err := c.WatchServices(ctx, &clusterdnsv1.WatchServicesRequest{Refs: refs})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}
		own := &clusterdnsv1.ServiceRef{Namespace: "billing", Name: "api"}
		other := &clusterdnsv1.ServiceRef{Namespace: "other", Name: "secret"}
		if err := watch(billing, own); err != nil {
			t.Fatalf("own namespace: %v", err)
		}
		if err := watch(billing, own, other); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("with another namespace: %v", err)
		}
		if err := watch(stranger, own); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("unknown identity: %v", err)
		}
	})

	m := stack.ScrapeMetrics(t, rs.metrics)
	for _, method := range []string{"GetService", "ListServices", "WatchServices"} {
		if n := m.SumWhere("clusterdns_recordsvc_denied_total", map[string]string{"method": method}); n < 1 {
			t.Errorf("denied_total{method=%s} = %v, want >= 1", method, n)
		}
	}
}
