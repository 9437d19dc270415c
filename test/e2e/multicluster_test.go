package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// mcsCRD is the MCS API's published ServiceImport CRD (see its header).
const mcsCRD = "testdata/mcs-api/serviceimports.yaml"

// Labels of imported EndpointSlices (KEP-1645).
const (
	mcsServiceLabel = "multicluster.kubernetes.io/service-name"
	mcsClusterLabel = "multicluster.kubernetes.io/source-cluster"
)

// TestMulticlusterDNS is issue #16's proof of the clusterset zone: the MCS
// API's ServiceImport CRD installed in a real kube-apiserver, a ClusterSetIP
// and a Headless ServiceImport (multicluster.x-k8s.io/v1alpha1) and
// EndpointSlices of two clusters labelled with the multi-cluster service
// name and source cluster. Through a frontend started without a flag of its
// own, real packets over UDP and TCP get the answers of the multicluster DNS
// specification's examples: dns-version, A/AAAA of the clusterset IPs,
// every ready endpoint of a headless import, <hostname>.<clusterid>.<svc>,
// SRV for named ports, PTR, NXDOMAIN with the clusterset SOA for missing
// names and for per-cluster names of a ClusterSetIP service. An endpoint
// added in one cluster and a ServiceImport created after a cached NXDOMAIN
// reach the frontend's cache well within the 30 s TTL. A record service
// without --multicluster-zone leaves the zone to the upstreams.
func TestMulticlusterDNS(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	installMCSCRD(t, c)
	const ns = "mcs"
	createNamespace(t, c, ns)
	c.Apply(t, serviceImportYAML(ns, "myservice", "ClusterSetIP", []string{"10.42.42.42", "2001:db8::1"})+
		"---\n"+serviceImportYAML(ns, "headless", "Headless", nil))
	createSlice(t, c, importedSlice(ns, "headless-a", "headless", "clusterA",
		endpoint("10.3.0.100", true, "my-pet-1"), endpoint("10.3.0.101", true, "my-pet-2"), endpoint("10.3.0.102", false, "my-pet-3")))
	createSlice(t, c, importedSlice(ns, "headless-b", "headless", "clusterB", endpoint("10.4.0.100", true, "my-pet-1")))

	// The record service runs with the rights of deploy/multicluster.
	kubeconfig := deployMulticluster(t, c)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", kubeconfig, "--multicluster-zone", "clusterset.local")
	fe := stack.StartFrontend(t, bins, rs.Addr, "--cluster-cache-ttl", "5m")
	rsOff := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	feOff := stack.StartFrontend(t, bins, rsOff.Addr)

	const (
		set = ".svc.clusterset.local."
		my  = "myservice." + ns + set
		hl  = "headless." + ns + set
	)
	// The record service has synced once it answers the headless import.
	stack.Eventually(t, syncTimeout, fe.Addr, hl, dns.TypeA, false, func(r *dns.Msg) string {
		if len(r.Answer) != 3 {
			return "got " + stateOf(r).String()
		}
		return ""
	})

	cases := []struct {
		q    question
		want expect
	}{
		{question{"dns-version.clusterset.local.", dns.TypeTXT}, answer(`dns-version.clusterset.local. 30 IN TXT "1.0.0"`)},
		{question{my, dns.TypeA}, answer(my + " 30 IN A 10.42.42.42")},
		{question{my, dns.TypeAAAA}, answer(my + " 30 IN AAAA 2001:db8::1")},
		{question{"_https._tcp." + my, dns.TypeSRV}, answer("_https._tcp." + my + " 30 IN SRV 0 100 443 " + my)},
		{question{hl, dns.TypeA}, answer(hl+" 30 IN A 10.3.0.100", hl+" 30 IN A 10.3.0.101", hl+" 30 IN A 10.4.0.100")},
		{question{"my-pet-1.clustera." + hl, dns.TypeA}, answer("my-pet-1.clustera." + hl + " 30 IN A 10.3.0.100")},
		{question{"my-pet-1.clusterb." + hl, dns.TypeA}, answer("my-pet-1.clusterb." + hl + " 30 IN A 10.4.0.100")},
		{question{"_https._tcp." + hl, dns.TypeSRV}, answer(
			"_https._tcp."+hl+" 30 IN SRV 0 33 443 my-pet-1.clustera."+hl,
			"_https._tcp."+hl+" 30 IN SRV 0 33 443 my-pet-2.clustera."+hl,
			"_https._tcp."+hl+" 30 IN SRV 0 33 443 my-pet-1.clusterb."+hl)},
		{question{"100.0.3.10.in-addr.arpa.", dns.TypePTR}, answer("100.0.3.10.in-addr.arpa. 30 IN PTR my-pet-1.clustera." + hl)},
		{question{"42.42.42.10.in-addr.arpa.", dns.TypePTR}, answer("42.42.42.10.in-addr.arpa. 30 IN PTR " + my)},
		{question{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR},
			answer("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 30 IN PTR " + my)},
		{question{"my-pet-3.clustera." + hl, dns.TypeA}, nxdomain()}, // not ready
		{question{"missing." + ns + set, dns.TypeA}, nxdomain()},
		{question{"clustera." + my, dns.TypeA}, nxdomain()},
		{question{"my-pet-1.clustera." + my, dns.TypeA}, nxdomain()},
	}
	for _, tcp := range []bool{false, true} {
		t.Run(stack.Transport(tcp), func(t *testing.T) {
			for _, tc := range cases {
				r := stack.Query(t, fe.Addr, tc.q.name, tc.q.qtype, tcp)
				if got, want := stateOf(r), tc.want.state(t); got != want {
					t.Errorf("%s: %v, want %v", tc.q, got, want)
				}
				if !r.Authoritative {
					t.Errorf("%s: AA not set", tc.q)
				}
				if r.Rcode == dns.RcodeNameError {
					checkClustersetSOA(t, tc.q, r)
				}
			}
			// Without --multicluster-zone the zone is not the record
			// service's: the frontend asks its upstream, which refuses.
			r := stack.Query(t, feOff.Addr, my, dns.TypeA, tcp)
			if r.Rcode != dns.RcodeRefused || r.Authoritative || len(r.Answer) != 0 {
				t.Errorf("%s A without --multicluster-zone: %v (AA %v), want REFUSED from the upstream", my, stateOf(r), r.Authoritative)
			}
		})
	}

	t.Run("an endpoint added in one cluster reaches the cache", func(t *testing.T) {
		q := question{hl, dns.TypeA}
		before := answer(hl+" 30 IN A 10.3.0.100", hl+" 30 IN A 10.3.0.101", hl+" 30 IN A 10.4.0.100").state(t)
		waitCached(t, fe, q, false, before)
		written := time.Now()
		updateSlice(t, c, ns, "headless-b", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = append(s.Endpoints, endpoint("10.4.0.101", true, "my-pet-2"))
		})
		after := answer(hl+" 30 IN A 10.3.0.100", hl+" 30 IN A 10.3.0.101", hl+" 30 IN A 10.4.0.100", hl+" 30 IN A 10.4.0.101").state(t)
		d := awaitState(t, fe, q, false, written, after, before)
		t.Logf("%s: new endpoint answered %v after the API write began", q, d.Round(time.Millisecond))
	})

	t.Run("a ServiceImport created where NXDOMAIN was cached", func(t *testing.T) {
		late := "late." + ns + set
		q := question{late, dns.TypeA}
		waitCached(t, fe, q, false, nxdomain().state(t))
		written := time.Now()
		c.Apply(t, serviceImportYAML(ns, "late", "ClusterSetIP", []string{"10.42.42.50"}))
		d := awaitState(t, fe, q, false, written, answer(late+" 30 IN A 10.42.42.50").state(t), nxdomain().state(t))
		t.Logf("%s: new import answered %v after kubectl apply began", q, d.Round(time.Millisecond))
	})
}

// deployMulticluster applies deploy/ and checks that its record service
// account may not read ServiceImports; then applies deploy/ with the
// deploy/multicluster Component, checks that the record service's
// Deployment runs with --multicluster-zone=clusterset.local and its
// account may now list and watch ServiceImports (nothing more), and
// returns a kubeconfig of that account.
func deployMulticluster(t *testing.T, c *kubecluster.Cluster) string {
	t.Helper()
	const as = "--as=system:serviceaccount:kube-system:clusterdns-recordsvc"
	canI := func(verb, resource string) string {
		out, _ := c.RunKubectl(context.Background(), "", "auth", "can-i", verb, resource, "--all-namespaces", as)
		return strings.TrimSpace(out)
	}
	c.Kubectl(t, "apply", "-k", deployDir)
	if got := canI("list", "serviceimports.multicluster.x-k8s.io"); got != "no" {
		t.Errorf("base deploy/: can-i list serviceimports = %q, want no", got)
	}

	dir := t.TempDir()
	deploy, err := filepath.Abs(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, deploy) // kustomize takes relative paths only
	if err != nil {
		t.Fatal(err)
	}
	k := "resources: [" + rel + "]\ncomponents: [" + filepath.Join(rel, "multicluster") + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := c.Kubectl(t, "kustomize", dir)
	found := false
	for _, o := range decodeManifest(t, manifest) {
		if o.GetKind() != "Deployment" || o.GetName() != "clusterdns-recordsvc" {
			continue
		}
		ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		args, _, _ := unstructured.NestedStringSlice(ctrs[0].(map[string]any), "args")
		found = slices.Contains(args, "--multicluster-zone=clusterset.local")
	}
	if !found {
		t.Error("deploy/multicluster: the record service Deployment lacks --multicluster-zone=clusterset.local")
	}
	c.Apply(t, manifest)
	for _, tc := range []struct{ verb, resource, want string }{
		{"list", "serviceimports.multicluster.x-k8s.io", "yes"},
		{"watch", "serviceimports.multicluster.x-k8s.io", "yes"},
		{"update", "serviceimports.multicluster.x-k8s.io", "no"},
		{"list", "serviceexports.multicluster.x-k8s.io", "no"},
	} {
		if got := canI(tc.verb, tc.resource); got != tc.want {
			t.Errorf("deploy/multicluster: can-i %s %s = %q, want %s", tc.verb, tc.resource, got, tc.want)
		}
	}
	return c.ServiceAccountKubeconfig(t, "kube-system", "clusterdns-recordsvc")
}

// installMCSCRD installs the ServiceImport CRD and waits until it is
// served.
func installMCSCRD(t *testing.T, c *kubecluster.Cluster) {
	t.Helper()
	crd, err := os.ReadFile(mcsCRD)
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, string(crd))
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/serviceimports.multicluster.x-k8s.io")
}

// serviceImportYAML is a multicluster.x-k8s.io/v1alpha1 ServiceImport with
// one named TCP port, https 443.
func serviceImportYAML(ns, name, typ string, ips []string) string {
	var b strings.Builder
	b.WriteString("apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceImport\nmetadata:\n")
	b.WriteString("  namespace: " + ns + "\n  name: " + name + "\nspec:\n  type: " + typ + "\n")
	b.WriteString("  ports:\n  - name: https\n    protocol: TCP\n    port: 443\n")
	if len(ips) > 0 {
		b.WriteString("  ips:\n")
		for _, ip := range ips {
			b.WriteString("  - \"" + ip + "\"\n")
		}
	}
	return b.String()
}

// importedSlice is an EndpointSlice of the headless ServiceImport service
// from cluster, with the https port.
func importedSlice(ns, name, service, cluster string, endpoints ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := endpointSlice(ns, name, service, "https", 443, endpoints...)
	s.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
		mcsServiceLabel: service, mcsClusterLabel: cluster}}
	return s
}

// checkClustersetSOA checks that a negative answer carries the clusterset
// zone's SOA in its authority section.
func checkClustersetSOA(t *testing.T, q question, r *dns.Msg) {
	t.Helper()
	if len(r.Ns) != 1 {
		t.Errorf("%s: authority %v, want the clusterset SOA", q, r.Ns)
		return
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok || soa.Hdr.Name != "clusterset.local." || soa.Ns != "ns.dns.clusterset.local." || soa.Mbox != "hostmaster.clusterset.local." {
		t.Errorf("%s: authority %v, want the clusterset SOA", q, r.Ns[0])
	}
}
