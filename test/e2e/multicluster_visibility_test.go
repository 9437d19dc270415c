package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// multiclusterVisibilityPolicy restricts the pods of mcv-team to their own
// namespace, default and kube-system: mcv-secret is hidden from them.
const multiclusterVisibilityPolicy = `rules:
- from: [mcv-team]
  to: [default, kube-system]
`

// TestMulticlusterVisibility runs a record service with both
// --multicluster-zone clusterset.local and --visibility-policy against a
// real API server holding the MCS API's ServiceImport CRD, and asks, in
// real DNS packets over UDP and TCP from the addresses of two pods, about
// the ServiceImports of a namespace one of them may not see. The restricted
// pod gets for every clusterset name of that namespace (a ClusterSetIP
// import's A, AAAA and SRV, a Headless import and its
// <hostname>.<clusterid> name, <ns>.svc, the PTR of a clusterset IP) the
// very reply a namespace that does not exist gets: NXDOMAIN with the
// clusterset SOA, same serial and timers; its own namespace's import
// answers; the other pod resolves everything. Over gRPC the answers that
// differ between the two pods are client_specific, so no frontend caches
// them for another client.
func TestMulticlusterVisibility(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	installMCSCRD(t, c)
	policy := filepath.Join(t.TempDir(), "visibility.yaml")
	if err := os.WriteFile(policy, []byte(multiclusterVisibilityPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"mcv-team", "mcv-secret", "mcv-other"} {
		createNamespace(t, c, ns)
	}
	c.Apply(t, serviceImportYAML("mcv-secret", "db", "ClusterSetIP", []string{"10.42.1.2"})+
		"---\n"+serviceImportYAML("mcv-secret", "hl", "Headless", nil)+
		"---\n"+serviceImportYAML("mcv-team", "own", "ClusterSetIP", []string{"10.42.1.1"}))
	createSlice(t, c, importedSlice("mcv-secret", "hl-a", "hl", "clusterA", endpoint("10.3.1.1", true, "pet-1")))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startFakePod(ctx, t, c, "mcv-team", "client", restrictedClientIP)
	startFakePod(ctx, t, c, "mcv-other", "client", openClientIP)

	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "verified",
		"--visibility-policy", policy, "--multicluster-zone", "clusterset.local")
	fe := stack.StartFrontend(t, bins, rs.Addr)
	waitForPodIndex(ctx, t, fe.Addr, restrictedClientIP, "mcv-team")
	waitForPodIndex(ctx, t, fe.Addr, openClientIP, "mcv-other")

	const (
		set     = ".svc.clusterset.local."
		db      = "db.mcv-secret" + set
		hl      = "hl.mcv-secret" + set
		own     = "own.mcv-team" + set
		nowhere = "mcv-nowhere" + set
	)
	// The record service has synced the imports once the open pod gets the
	// headless import's endpoint.
	stack.Eventually(t, syncTimeout, fe.Addr, hl, dns.TypeA, false, func(*dns.Msg) string {
		return checkAnswer(t, queryFrom(ctx, t, fe.Addr, openClientIP, hl, dns.TypeA, false), hl+" 30 IN A 10.3.1.1")
	})

	for _, tcp := range transports {
		tr := stack.Transport(tcp)
		t.Run("open client resolves mcv-secret's imports over "+tr, func(t *testing.T) {
			for q, want := range map[question]string{
				{db, dns.TypeA}:                            db + " 30 IN A 10.42.1.2",
				{"pet-1.clustera." + hl, dns.TypeA}:        "pet-1.clustera." + hl + " 30 IN A 10.3.1.1",
				{reverseName(t, "10.42.1.2"), dns.TypePTR}: reverseName(t, "10.42.1.2") + " 30 IN PTR " + db,
			} {
				r := queryFrom(ctx, t, fe.Addr, openClientIP, q.name, q.qtype, tcp)
				if complaint := checkAnswer(t, r, want); complaint != "" {
					t.Errorf("%s: %s\n%v", q, complaint, r)
				}
			}
		})
		t.Run("restricted client resolves its own namespace's import over "+tr, func(t *testing.T) {
			r := queryFrom(ctx, t, fe.Addr, restrictedClientIP, own, dns.TypeA, tcp)
			if complaint := checkAnswer(t, r, own+" 30 IN A 10.42.1.1"); complaint != "" {
				t.Fatalf("%s\n%v", complaint, r)
			}
		})
		// Each denied question beside the same question about a namespace
		// that does not exist: the replies must be identical but for the
		// names in them, NXDOMAIN with the clusterset SOA.
		for _, q := range []struct {
			denied, missing string
			qtype           uint16
		}{
			{db, "db." + nowhere, dns.TypeA},
			{db, "db." + nowhere, dns.TypeAAAA}, // NODATA for the open client: no hint that it exists
			{"_https._tcp." + db, "_https._tcp.db." + nowhere, dns.TypeSRV},
			{hl, "hl." + nowhere, dns.TypeA},
			{"pet-1.clustera." + hl, "pet-1.clustera.hl." + nowhere, dns.TypeA},
			{"clustera." + hl, "clustera.hl." + nowhere, dns.TypeA}, // an empty non-terminal for the open client
			{"mcv-secret.svc.clusterset.local.", nowhere, dns.TypeA},
			{reverseName(t, "10.42.1.2"), reverseName(t, "10.42.1.254"), dns.TypePTR}, // both left to the upstream
		} {
			t.Run(fmt.Sprintf("restricted client: %s %s over %s", q.denied, dns.TypeToString[q.qtype], tr), func(t *testing.T) {
				sameAsMissing(ctx, t, fe.Addr, q.denied, q.missing, q.qtype, tcp)
				if q.qtype == dns.TypePTR {
					return
				}
				r := queryFrom(ctx, t, fe.Addr, restrictedClientIP, q.denied, q.qtype, tcp)
				if r.Rcode != dns.RcodeNameError || !r.Authoritative {
					t.Fatalf("%s: rcode %s AA %v, want an authoritative NXDOMAIN", q.denied, dns.RcodeToString[r.Rcode], r.Authoritative)
				}
				checkClustersetSOA(t, question{q.denied, q.qtype}, r)
			})
		}
	}

	t.Run("gRPC Lookup marks the answers that differ by client", func(t *testing.T) {
		cc, err := grpc.NewClient(rs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		rc := clusterdnsv1.NewRecordServiceClient(cc)
		lookup := func(name, clientIP string) *clusterdnsv1.LookupResponse {
			resp, err := rc.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: name, Qtype: uint32(dns.TypeA), ClientIp: clientIP,
				Transport: clusterdnsv1.Transport_TRANSPORT_TCP})
			if err != nil {
				t.Fatalf("Lookup %s for %s: %v", name, clientIP, err)
			}
			return resp
		}
		denied := lookup(db, restrictedClientIP)
		missing := lookup("db."+nowhere, restrictedClientIP)
		open := lookup(db, openClientIP)
		if denied.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR || len(denied.GetAnswer()) != 0 || len(denied.GetAuthority()) != 1 {
			t.Fatalf("denied name: %v, want NAME_ERROR with the SOA only", denied)
		}
		if !proto.Equal(denied.GetAuthority()[0], missing.GetAuthority()[0]) || denied.GetTtl() != missing.GetTtl() {
			t.Fatalf("denied SOA %v ttl %d, missing name's %v ttl %d", denied.GetAuthority(), denied.GetTtl(), missing.GetAuthority(), missing.GetTtl())
		}
		if open.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
			t.Fatalf("open client: %v, want SUCCESS", open)
		}
		if !denied.GetClientSpecific() || !open.GetClientSpecific() {
			t.Fatalf("client_specific: denied %v, open %v; want both set (the answers differ by client)", denied.GetClientSpecific(), open.GetClientSpecific())
		}
		// mcv-team is visible to every restricted client (its own pods are
		// the only ones): its import answers alike for all.
		if shared := lookup(own, openClientIP); shared.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS || shared.GetClientSpecific() {
			t.Fatalf("%s for the open client: %v, want SUCCESS not client_specific", own, shared)
		}
	})
}
