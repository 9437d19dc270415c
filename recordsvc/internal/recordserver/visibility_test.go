package recordserver

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/visibility"
)

// visibilityServer serves an index with namespaces team (restricted to
// shared), secret and shared, a Service in each, and pods of team and
// other, under a policy loaded from a file the test may rewrite.
func visibilityServer(t *testing.T) (*testServer, string) {
	t.Helper()
	ts := startSchema(t, dnsschema.Config{Pods: dnsschema.PodsVerified}, kubeindex.Config{PodNames: true})
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("rules:\n- from: [team]\n  to: [shared]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := visibility.LoadFile(t.Context(), path, ts.srv.VisibilityChanged, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.SetVisibility(src)
	for i, ns := range []string{"team", "secret", "shared", "other"} {
		ts.ix.SetNamespace(ns)
		ts.ix.SetService(kubeindex.Service{Namespace: ns, Name: "db",
			ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 96, 0, byte(10 + i)})}})
	}
	ts.ix.SetPod(kubeindex.Pod{Namespace: "team", Name: "client", IPs: []netip.Addr{netip.MustParseAddr("10.244.0.2")}})
	ts.ix.SetPod(kubeindex.Pod{Namespace: "other", Name: "client", IPs: []netip.Addr{netip.MustParseAddr("10.244.0.3")}})
	ts.ix.MarkSynced()
	return ts, path
}

// TestLookupVisibility: the restricted pod gets the answer of a missing name
// for a hidden namespace (same SOA), answers that differ by client are
// marked client_specific with the pod key, answers that do not are not,
// and every answer depends on visibility.Key.
func TestLookupVisibility(t *testing.T) {
	ts, _ := visibilityServer(t)
	ctx := callCtx(t)
	lookup := func(name, ip string, qtype uint32) *clusterdnsv1.LookupResponse {
		resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: name, Qtype: qtype, ClientIp: ip})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	const team, other, unknown = "10.244.0.2", "10.244.0.3", "10.0.0.9"
	tests := []struct {
		name     string
		qname    string
		qtype    uint32
		client   string
		result   clusterdnsv1.Result
		specific bool
	}{
		{"hidden Service", "db.secret.svc.cluster.local.", 1, team, clusterdnsv1.Result_RESULT_NAME_ERROR, true},
		{"hidden Service, AAAA", "db.secret.svc.cluster.local.", 28, team, clusterdnsv1.Result_RESULT_NAME_ERROR, true},
		{"hidden namespace", "secret.svc.cluster.local.", 1, team, clusterdnsv1.Result_RESULT_NAME_ERROR, true},
		{"hidden PTR", "11.0.96.10.in-addr.arpa.", 12, team, clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE, true},
		// team and shared are all the restricted clients see: their
		// answers are everyone's.
		{"own namespace", "db.team.svc.cluster.local.", 1, team, clusterdnsv1.Result_RESULT_SUCCESS, false},
		{"allowed namespace", "db.shared.svc.cluster.local.", 1, team, clusterdnsv1.Result_RESULT_SUCCESS, false},
		{"open pod", "db.secret.svc.cluster.local.", 1, other, clusterdnsv1.Result_RESULT_SUCCESS, true},
		{"open pod, AAAA", "db.secret.svc.cluster.local.", 28, other, clusterdnsv1.Result_RESULT_NO_DATA, true},
		{"open pod, PTR", "11.0.96.10.in-addr.arpa.", 12, other, clusterdnsv1.Result_RESULT_SUCCESS, true},
		{"unknown address is open", "db.secret.svc.cluster.local.", 1, unknown, clusterdnsv1.Result_RESULT_SUCCESS, true},
		{"no address is open", "db.secret.svc.cluster.local.", 1, "", clusterdnsv1.Result_RESULT_SUCCESS, true},
		// The apex depends on the nameserver Service in kube-system,
		// which team does not see.
		{"apex", "cluster.local.", 6, team, clusterdnsv1.Result_RESULT_SUCCESS, true},
		{"dns-version", "dns-version.cluster.local.", 16, team, clusterdnsv1.Result_RESULT_SUCCESS, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := lookup(tt.qname, tt.client, tt.qtype)
			if resp.GetResult() != tt.result || resp.GetClientSpecific() != tt.specific {
				t.Fatalf("%v client_specific %v, want %v %v", resp.GetResult(), resp.GetClientSpecific(), tt.result, tt.specific)
			}
			if !slices.Contains(resp.GetKeys(), visibility.Key) {
				t.Errorf("keys %v lack %q", resp.GetKeys(), visibility.Key)
			}
			if ip, err := netip.ParseAddr(tt.client); err == nil && tt.specific && !slices.Contains(resp.GetKeys(), kubeindex.PodKey(ip)) {
				t.Errorf("client-specific answer's keys %v lack the client's pod key", resp.GetKeys())
			}
		})
	}
	denied := lookup("db.secret.svc.cluster.local.", team, 1)
	missing := lookup("db.nowhere.svc.cluster.local.", team, 1)
	if !proto.Equal(denied.GetAuthority()[0], withOwner(missing.GetAuthority()[0], denied.GetAuthority()[0].GetName())) ||
		denied.GetTtl() != missing.GetTtl() {
		t.Fatalf("denied authority %v ttl %d, missing name's %v ttl %d", denied.GetAuthority(), denied.GetTtl(),
			missing.GetAuthority(), missing.GetTtl())
	}
}

func withOwner(rr *clusterdnsv1.ResourceRecord, owner string) *clusterdnsv1.ResourceRecord {
	c := proto.CloneOf(rr)
	c.Name = owner
	return c
}

// TestVisibilityPolicyChange: a new policy is announced as visibility.Key
// under a new revision, moves the state digest, and applies at once; a bad
// edit keeps the last good policy.
func TestVisibilityPolicyChange(t *testing.T) {
	ts, path := visibilityServer(t)
	ctx := callCtx(t)
	sub := ts.ix.Subscribe(ctx)
	defer sub.Close()
	digest := ts.ix.Digest()
	ask := func() clusterdnsv1.Result {
		resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: "db.secret.svc.cluster.local.", Qtype: 1, ClientIp: "10.244.0.2"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetResult()
	}
	if err := os.WriteFile(path, []byte("rules: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past a reload
	if got := ask(); got != clusterdnsv1.Result_RESULT_NAME_ERROR {
		t.Fatalf("after a bad edit: %v, want the last good policy's NAME_ERROR", got)
	}
	if err := os.WriteFile(path, []byte("rules:\n- from: [team]\n  to: [secret]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch, err := sub.Next(wctx)
	if err != nil {
		t.Fatalf("no change announced after the policy edit: %v", err)
	}
	if !slices.Equal(ch.Keys, []string{visibility.Key}) || ch.Digest == digest {
		t.Fatalf("change %v digest %v (was %v), want keys [%s] and a new digest", ch.Keys, ch.Digest, digest, visibility.Key)
	}
	if got := ask(); got != clusterdnsv1.Result_RESULT_SUCCESS {
		t.Fatalf("after the policy opened secret to team: %v, want SUCCESS", got)
	}
}

// TestRequestsByNamespace: Lookups are counted by the asking pod's
// namespace, unknown and host otherwise, and a deleted namespace's series
// goes away.
func TestRequestsByNamespace(t *testing.T) {
	ts := startSchema(t, dnsschema.Config{Pods: dnsschema.PodsVerified}, kubeindex.Config{})
	reg := prometheus.NewRegistry()
	if err := ts.srv.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ts.ix.SetNamespace("app")
	ts.ix.SetNamespace("sys")
	ts.ix.SetPod(kubeindex.Pod{Namespace: "app", Name: "a", IPs: []netip.Addr{netip.MustParseAddr("10.244.0.2")}})
	for _, ns := range []string{"app", "sys"} { // two host-network pods on one node address
		ts.ix.SetPod(kubeindex.Pod{Namespace: ns, Name: "host", IPs: []netip.Addr{netip.MustParseAddr("192.168.0.1")}})
	}
	ts.ix.MarkSynced()
	ctx := callCtx(t)
	for _, ip := range []string{"10.244.0.2", "10.244.0.2", "192.168.0.1", "10.9.9.9", ""} {
		if _, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: "x.app.svc.cluster.local.", Qtype: 1, ClientIp: ip}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := requestsByNamespace(t, reg), map[string]float64{"app": 2, clientHost: 1, clientUnknown: 2}; !maps.Equal(got, want) {
		t.Errorf("requests by namespace %v, want %v", got, want)
	}
	ts.ix.DeletePod("app", "a")
	ts.ix.DeletePod("app", "host")
	ts.ix.DeleteNamespace("app")
	deadline := time.Now().Add(5 * time.Second)
	for len(requestsByNamespace(t, reg)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("series %v after namespace app was deleted, want host and unknown", requestsByNamespace(t, reg))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requestsByNamespace reads clusterdns_recordsvc_requests_by_namespace_total
// from reg by namespace label.
func requestsByNamespace(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "clusterdns_recordsvc_requests_by_namespace_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// BenchmarkLookupClients answers kubernetes.default A for a pod among
// 10,000: the schema alone (the peer), the server with attribution only,
// and the server under a policy for an open and a restricted pod.
func BenchmarkLookupClients(b *testing.B) {
	schema, err := dnsschema.New(dnsschema.Config{Pods: dnsschema.PodsVerified})
	if err != nil {
		b.Fatal(err)
	}
	ix := kubeindex.New(kubeindex.Config{})
	feed(ix)
	ix.SetNamespace("team")
	for i := range 10000 {
		ns := "default"
		if i == 0 {
			ns = "team"
		}
		ix.SetPod(kubeindex.Pod{Namespace: ns, Name: "p" + strconv.Itoa(i), IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)})}})
	}
	ix.MarkSynced()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	plain := New(schema, ix, logger)
	defer plain.Shutdown()
	withPolicy := New(schema, ix, logger)
	defer withPolicy.Shutdown()
	path := filepath.Join(b.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("rules:\n- from: [team]\n  to: [default]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	src, err := visibility.LoadFile(b.Context(), path, withPolicy.VisibilityChanged, logger)
	if err != nil {
		b.Fatal(err)
	}
	withPolicy.SetVisibility(src)
	req := func(ip string) *clusterdnsv1.LookupRequest {
		return &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1, ClientIp: ip}
	}
	const restricted, open = "10.244.0.0", "10.244.0.1"
	b.Run("schema", func(b *testing.B) {
		for b.Loop() {
			schema.Answer(ix, req(open))
		}
	})
	for _, bb := range []struct {
		name string
		srv  *Server
		ip   string
	}{{"attribution", plain, open}, {"policy-open", withPolicy, open}, {"policy-restricted", withPolicy, restricted}} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bb.srv.answer(req(bb.ip)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLookupVisibilityIdentity: a scoped record API identity the policy
// names gets its identity's view whatever its address; one the policy does
// not name gets the view of the pod at its address.
func TestLookupVisibilityIdentity(t *testing.T) {
	ts, path := visibilityServer(t)
	if err := os.WriteFile(path, []byte("rules:\n- from: [team]\n  to: [shared]\n- identities: [billing]\n  to: [shared]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, named := ts.srv.clients.policy.Policy().ForIdentity("billing"); !named; _, named = ts.srv.clients.policy.Policy().ForIdentity("billing") {
		if time.Now().After(deadline) {
			t.Fatal("the policy edit naming billing was not applied")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tests := []struct {
		identity, ip, ns string
		want             clusterdnsv1.Result
		specific         bool
	}{
		{"billing", "10.244.0.3", "secret", clusterdnsv1.Result_RESULT_NAME_ERROR, true},   // named: its view, not its pod's
		{"billing", "10.244.0.3", "shared", clusterdnsv1.Result_RESULT_SUCCESS, false},     // every restricted client sees shared
		{"reporting", "10.244.0.2", "secret", clusterdnsv1.Result_RESULT_NAME_ERROR, true}, // not named: its pod's (team)
		{"reporting", "10.244.0.3", "secret", clusterdnsv1.Result_RESULT_SUCCESS, true},
	}
	for _, tt := range tests {
		ctx := authz.NewContext(callCtx(t), authz.Grant{Identity: tt.identity, Role: authz.RoleScoped})
		resp, err := ts.srv.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: "db." + tt.ns + ".svc.cluster.local.", Qtype: 1, ClientIp: tt.ip})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetResult() != tt.want || resp.GetClientSpecific() != tt.specific {
			t.Errorf("%s at %s asks about %s: %v client_specific %v, want %v %v", tt.identity, tt.ip, tt.ns,
				resp.GetResult(), resp.GetClientSpecific(), tt.want, tt.specific)
		}
	}
}

// TestLookupVisibilityDirectories: under a policy, an NXDOMAIN for a
// missing Service keeps its absent_below only when it holds for every
// client; a client-specific one never carries it, and answers through a
// restricted view carry none (visibility.Store is no DirectoryStore).
func TestLookupVisibilityDirectories(t *testing.T) {
	ts, _ := visibilityServer(t)
	ctx := callCtx(t)
	const team, other = "10.244.0.2", "10.244.0.3"
	tests := []struct {
		name     string
		qname    string
		client   string
		specific bool
		apex     string // "" for no absent_below
	}{
		// secret is hidden from team: what an open pod gets holds for
		// it only.
		{"open pod, hidden namespace", "nope.secret.svc.cluster.local.", other, true, ""},
		{"open pod, namespace hidden from nobody", "nope.team.svc.cluster.local.", other, false, "team.svc.cluster.local."},
		{"restricted pod, own namespace", "nope.team.svc.cluster.local.", team, false, ""},
		{"restricted pod, hidden namespace", "nope.secret.svc.cluster.local.", team, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ts.rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: tt.qname, Qtype: 1, ClientIp: tt.client, AcceptAbsentBelow: true})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR || resp.GetClientSpecific() != tt.specific {
				t.Fatalf("%v client_specific %v, want NXDOMAIN %v", resp.GetResult(), resp.GetClientSpecific(), tt.specific)
			}
			dir := resp.GetAbsentBelow()
			switch {
			case tt.apex == "" && dir != nil:
				t.Errorf("absent_below %v, want none", dir)
			case tt.apex != "" && (dir.GetApex() != tt.apex || !slices.Equal(dir.GetLabels(), []string{"db"})):
				t.Errorf("absent_below %v, want %s [db]", dir, tt.apex)
			case tt.apex != "" && !slices.Contains(dir.GetKeys(), kubeindex.ServicesKey("team")):
				t.Errorf("absent_below keys %v lack the services key", dir.GetKeys())
			}
		})
	}
}

func TestWithVisibilityDropsDirectory(t *testing.T) {
	resp := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR,
		AbsentBelow: &clusterdnsv1.AbsentBelow{Apex: "team.svc.cluster.local.", Labels: []string{"db"}}}
	ip := netip.MustParseAddr("10.244.0.2")
	if got := withVisibility(resp, true, ip, 1).GetAbsentBelow(); got != nil {
		t.Errorf("client-specific answer keeps absent_below %v", got)
	}
	if got := withVisibility(resp, false, ip, 1).GetAbsentBelow(); !proto.Equal(got, resp.GetAbsentBelow()) {
		t.Errorf("shared answer's absent_below %v, want %v", got, resp.GetAbsentBelow())
	}
	if resp.GetAbsentBelow() == nil {
		t.Error("withVisibility changed its argument")
	}
}

// TestWithVisibilityKeepsFields: every field of an answer a restricted
// view leaves alone passes through withVisibility, whatever fields the
// API gains: only keys, revision, client_specific and (for a
// client-specific answer) absent_below are its own.
func TestWithVisibilityKeepsFields(t *testing.T) {
	resp := &clusterdnsv1.LookupResponse{}
	m := resp.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList() && fd.Message() != nil:
			list := m.Mutable(fd).List()
			list.Append(list.NewElement())
		case fd.IsList():
			m.Mutable(fd).List().Append(protoreflect.ValueOfString("k"))
		case fd.Message() != nil:
			m.Mutable(fd)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.Uint32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(7))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		default:
			t.Fatalf("field %s of kind %v: extend the test", fd.Name(), fd.Kind())
		}
	}
	got := withVisibility(resp, false, netip.Addr{}, 100)
	want := proto.Clone(resp).(*clusterdnsv1.LookupResponse)
	want.Keys = append(want.Keys, visibility.Key)
	want.ClientSpecific = false
	if !proto.Equal(got, want) {
		t.Errorf("withVisibility(%v)\n= %v\nwant %v", resp, got, want)
	}
}
