package recordsvc

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	typeA   = 1
	typePTR = 12
)

const testPolicy = `clients:
- identity: frontend
  role: frontend
- identity: billing
  namespaces: [billing]
- identity: demo-reader
  namespaces: [demo, default]
`

// scopedServer starts a record service with the test policy on a cluster
// file it returns, with pods verified and autopath on.
func scopedServer(t *testing.T, p *pki) (*recordsvc, string) {
	t.Helper()
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	writeAtomic(t, policy, []byte(testPolicy))
	cluster := filepath.Join(dir, "cluster.yaml")
	writeAtomic(t, cluster, clusterYAML(t, service("billing", "api", "10.96.5.1"), service("other", "secret", "10.96.6.1")))
	rs := startRecordsvc(t, append(p.serverArgs(), "--source", "file:"+cluster, "--authz-policy", policy,
		"--pods", "verified", "--autopath")...)
	return rs, cluster
}

// TestNamespaceScope: a namespace-scoped client is answered for its
// namespaces only (names, PTRs and CNAME chains), may not use
// LookupStream, and its Watch carries only its namespaces' keys; an
// identity the policy does not name gets nothing. Every refusal is
// PERMISSION_DENIED and counted.
func TestNamespaceScope(t *testing.T) {
	p := newPKI(t, "frontend", "billing", "stranger")
	rs, _ := scopedServer(t, p)
	billing, _ := dial(t, rs.addr, dialOpts{files: p.clients["billing"]})
	frontend, _ := dial(t, rs.addr, dialOpts{files: p.clients["frontend"]})
	stranger, _ := dial(t, rs.addr, dialOpts{files: p.clients["stranger"]})

	tests := []struct {
		name   string
		client clusterdnsv1.RecordServiceClient
		qname  string
		qtype  uint32
		want   codes.Code
		answer string // first answer record's A address or PTR target, when OK
	}{
		{"own service", billing, "api.billing.svc.cluster.local.", typeA, codes.OK, "10.96.5.1"},
		{"own namespace, missing name", billing, "nothing.billing.svc.cluster.local.", typeA, codes.OK, ""},
		{"other namespace", billing, "secret.other.svc.cluster.local.", typeA, codes.PermissionDenied, ""},
		{"default namespace", billing, kubernetesName, typeA, codes.PermissionDenied, ""},
		{"PTR of own service", billing, "1.5.96.10.in-addr.arpa.", typePTR, codes.OK, "api.billing.svc.cluster.local."},
		{"PTR of another namespace's service", billing, "1.6.96.10.in-addr.arpa.", typePTR, codes.PermissionDenied, ""},
		{"frontend sees everything", frontend, "secret.other.svc.cluster.local.", typeA, codes.OK, "10.96.6.1"},
		{"identity not in the policy", stranger, "api.billing.svc.cluster.local.", typeA, codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := lookup(tt.client, tt.qname, tt.qtype, "")
			if code := status.Code(err); code != tt.want {
				t.Fatalf("lookup: %v, want %v", err, tt.want)
			}
			if tt.answer == "" {
				return
			}
			if len(resp.GetAnswer()) == 0 {
				t.Fatalf("no answer: %v", resp)
			}
			rr := resp.GetAnswer()[0]
			if got := rr.GetA().GetAddress() + rr.GetPtr().GetTarget(); got != tt.answer {
				t.Fatalf("answer %q, want %q", got, tt.answer)
			}
		})
	}

	t.Run("LookupStream is for frontends", func(t *testing.T) {
		for _, c := range []clusterdnsv1.RecordServiceClient{billing, stranger} {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			s, err := c.LookupStream(ctx)
			if err == nil {
				_, err = s.Recv()
			}
			cancel()
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("LookupStream: %v, want PERMISSION_DENIED", err)
			}
		}
	})
	t.Run("Watch of an unknown identity", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		s, err := stranger.Watch(ctx, &clusterdnsv1.WatchRequest{})
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("Watch: %v, want PERMISSION_DENIED", err)
		}
	})

	m := stack.ScrapeMetrics(t, rs.metrics)
	if n := m.SumWhere("clusterdns_recordsvc_denied_total", map[string]string{"method": "Lookup", "reason": "namespace"}); n < 3 {
		t.Errorf("denied_total{Lookup,namespace} = %v, want >= 3", n)
	}
	if n := m.SumWhere("clusterdns_recordsvc_denied_total", map[string]string{"reason": "unknown_identity"}); n < 2 {
		t.Errorf("denied_total{unknown_identity} = %v, want >= 2", n)
	}
}

// watchKeys collects the keys of a Watch stream's messages.
func watchKeys(t *testing.T, c clusterdnsv1.RecordServiceClient) <-chan []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := c.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil || !first.GetResync() {
		t.Fatalf("first Watch message: %v %v, want a resync", first, err)
	}
	out := make(chan []string, 1024)
	go func() {
		defer close(out)
		for {
			m, err := s.Recv()
			if err != nil {
				return
			}
			out <- m.GetKeys()
		}
	}()
	return out
}

// waitKeys reads keys from ch until every one of want has come, returning
// all read.
func waitKeys(t *testing.T, ch <-chan []string, want ...string) []string {
	t.Helper()
	missing := map[string]bool{}
	for _, k := range want {
		missing[k] = true
	}
	var seen []string
	timeout := time.After(60 * time.Second)
	for len(missing) > 0 {
		select {
		case keys, ok := <-ch:
			if !ok {
				t.Fatalf("watch ended before keys %v (saw %q)", want, seen)
			}
			seen = append(seen, keys...)
			for _, k := range keys {
				delete(missing, k)
			}
		case <-timeout:
			t.Fatalf("keys %v not all seen within 60s (saw %q)", want, seen)
		}
	}
	return seen
}

// TestScopedWatch edits the cluster file while a frontend and a scoped
// client watch: the frontend sees every key, the scoped client only the
// keys of its namespace, and a change wholly outside its namespace reaches
// it not at all.
func TestScopedWatch(t *testing.T) {
	p := newPKI(t, "frontend", "billing")
	rs, cluster := scopedServer(t, p)
	billing, _ := dial(t, rs.addr, dialOpts{files: p.clients["billing"]})
	frontend, _ := dial(t, rs.addr, dialOpts{files: p.clients["frontend"]})
	bw := watchKeys(t, billing)
	fw := watchKeys(t, frontend)

	docs := []string{service("billing", "api", "10.96.5.1"), service("other", "secret", "10.96.6.1")}
	edit := func(more ...string) {
		docs = append(docs, more...)
		writeAtomic(t, cluster, clusterYAML(t, docs...))
	}
	edit(service("billing", "new", "10.96.5.2"), service("other", "new", "10.96.6.2"))
	waitKeys(t, fw, "svc/other/new", "svc/billing/new")
	seen := waitKeys(t, bw, "svc/billing/new")

	edit(service("other", "only", "10.96.6.3")) // nothing for billing
	waitKeys(t, fw, "svc/other/only")
	edit(service("billing", "last", "10.96.5.3"))
	waitKeys(t, fw, "svc/billing/last")
	seen = append(seen, waitKeys(t, bw, "svc/billing/last")...)
	for _, k := range seen {
		if !strings.HasPrefix(k, "svc/billing/") && k != "ns/billing" && k != "svcs/billing" {
			t.Errorf("scoped Watch carried key %q outside namespace billing", k)
		}
	}
}

// TestClientIPTrust: a frontend's client_ip selects the asking pod (here
// for autopath), a scoped client's is replaced by its own address, so it
// cannot ask as another pod.
func TestClientIPTrust(t *testing.T) {
	p := newPKI(t, "frontend", "demo-reader")
	rs, _ := scopedServer(t, p)
	const podIP = "10.244.2.20" // db-0 in namespace demo
	const qname = "kubernetes.default.demo.svc.cluster.local."
	for _, tt := range []struct {
		identity string
		wantNS   string
		want     clusterdnsv1.Result
	}{
		{"frontend", "demo", clusterdnsv1.Result_RESULT_SUCCESS},
		{"demo-reader", "", clusterdnsv1.Result_RESULT_NAME_ERROR},
	} {
		t.Run(tt.identity, func(t *testing.T) {
			c, _ := dial(t, rs.addr, dialOpts{files: p.clients[tt.identity]})
			resp, err := lookup(c, qname, typeA, podIP)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetResult() != tt.want || resp.GetAutopathNamespace() != tt.wantNS {
				t.Fatalf("result %v autopath namespace %q, want %v %q", resp.GetResult(), resp.GetAutopathNamespace(), tt.want, tt.wantNS)
			}
		})
	}
}
