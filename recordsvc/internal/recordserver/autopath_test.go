package recordserver

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// TestLookupAutopath asks through gRPC, with a client IP, the first search
// name of a pod in otherns for svc1.testns: the server completes it in one
// round trip, names the client's namespace, counts it, and a Watch message
// for the service found carries one of the answer's keys.
func TestLookupAutopath(t *testing.T) {
	ts := startSchema(t, dnsschema.Config{Pods: dnsschema.PodsVerified, Autopath: true}, kubeindex.Config{})
	reg := prometheus.NewRegistry()
	if err := ts.srv.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx := callCtx(t)
	ts.ix.SetNamespace("testns")
	ts.ix.SetNamespace("otherns")
	ts.ix.SetService(kubeindex.Service{Namespace: "testns", Name: "svc1",
		ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.1.1")}})
	ts.ix.SetService(kubeindex.Service{Namespace: "otherns", Name: "svc1",
		ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.2.1")}})
	ts.ix.SetPod(kubeindex.Pod{Namespace: "otherns", Name: "client", IPs: []netip.Addr{netip.MustParseAddr("10.244.0.7")}})
	ts.ix.MarkSynced()

	const asked = "Svc1.TestNS.otherns.svc.cluster.local."
	tests := []struct {
		name      string
		qname     string
		client    string
		result    clusterdnsv1.Result
		answers   []string
		namespace string
	}{
		{"completed", asked, "10.244.0.7", clusterdnsv1.Result_RESULT_SUCCESS, []string{
			asked + " CNAME svc1.testns.svc.cluster.local.",
			"svc1.testns.svc.cluster.local. A 10.96.1.1"}, "otherns"},
		{"another client's suffix", asked, "10.244.0.8", clusterdnsv1.Result_RESULT_NAME_ERROR, nil, ""},
		{"no client IP", asked, "", clusterdnsv1.Result_RESULT_NAME_ERROR, nil, ""},
		{"existing name unchanged", "svc1.otherns.svc.cluster.local.", "10.244.0.7", clusterdnsv1.Result_RESULT_SUCCESS,
			[]string{"svc1.otherns.svc.cluster.local. A 10.96.2.1"}, ""},
	}
	var completed *clusterdnsv1.LookupResponse
	for _, tt := range tests {
		resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: 1, ClientIp: tt.client,
			Transport: clusterdnsv1.Transport_TRANSPORT_UDP})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetResult() != tt.result || !slices.Equal(answers(resp), tt.answers) ||
			resp.GetAutopathNamespace() != tt.namespace {
			t.Fatalf("%s: got %v %v namespace %q, want %v %v %q", tt.name, resp.GetResult(), answers(resp),
				resp.GetAutopathNamespace(), tt.result, tt.answers, tt.namespace)
		}
		if tt.namespace != "" {
			completed = resp
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := -1.0
	for _, f := range families {
		if f.GetName() == "clusterdns_recordsvc_autopath_completions_total" {
			counted = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if counted != 1 {
		t.Errorf("clusterdns_recordsvc_autopath_completions_total = %v, want 1", counted)
	}
	for _, key := range []string{"pod/10.244.0.7", "svc/testns/svc1", "svc/otherns/testns"} {
		if !slices.Contains(completed.GetKeys(), key) {
			t.Errorf("completion keys %v lack %s", completed.GetKeys(), key)
		}
	}

	// Invalidation: the service found moves; the change names a key of the
	// completed answer, at a later revision.
	stream, err := ts.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "autopath"})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, stream)
	ts.ix.DeleteService("testns", "svc1")
	msg := recv(t, stream)
	if msg.GetRevision() <= completed.GetRevision() || !slices.ContainsFunc(msg.GetKeys(), func(k string) bool {
		return slices.Contains(completed.GetKeys(), k)
	}) {
		t.Fatalf("change %d %v does not invalidate the completion at %d %v",
			msg.GetRevision(), msg.GetKeys(), completed.GetRevision(), completed.GetKeys())
	}
	resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: asked, Qtype: 1, ClientIp: "10.244.0.7"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR || resp.GetAutopathNamespace() != "" {
		t.Fatalf("after the service is gone: %v %v", resp.GetResult(), answers(resp))
	}
}
