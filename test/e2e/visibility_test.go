package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// Loopback addresses the test's DNS clients send from: the API server
// gives them to Pods, so the record service's pod index attributes them.
const (
	restrictedClientIP = "127.0.0.2" // Pod vis-team/client: the policy restricts vis-team
	openClientIP       = "127.0.0.3" // Pod vis-other/client: no rule names vis-other
)

// visibilityPolicy restricts the pods of vis-team to their own namespace,
// vis-shared, default and kube-system.
const visibilityPolicy = `rules:
- from: [vis-team]
  to: [vis-shared, default, kube-system]
`

// TestVisibilityPolicy runs a frontend and a record service with
// --visibility-policy against a real API server and asks, in real DNS
// packets from the addresses of two pods, about a Service of a namespace
// one of them may not see: the restricted pod gets exactly what a name that
// does not exist gets (rcode, SOA, NXDOMAIN rather than NODATA, PTR left to
// the upstreams) over UDP, TCP and the gRPC Lookup, while the other pod and
// the restricted pod's allowed namespaces resolve as before; a policy edit
// shows at once, a bad edit keeps the last good policy.
func TestVisibilityPolicy(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	policy := filepath.Join(t.TempDir(), "visibility.yaml")
	if err := os.WriteFile(policy, []byte(visibilityPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "verified",
		"--visibility-policy", policy, "--query-log")
	fe := stack.StartFrontend(t, bins, rs.Addr)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbIP := visibilityFixture(ctx, t, c)
	waitForPodIndex(ctx, t, fe.Addr, restrictedClientIP, "vis-team")
	waitForPodIndex(ctx, t, fe.Addr, openClientIP, "vis-other")

	const db = "db.vis-secret.svc.cluster.local"
	dbPTR := reverseName(t, dbIP)
	for _, tcp := range transports {
		tr := stack.Transport(tcp)
		t.Run("open client resolves the Service over "+tr, func(t *testing.T) {
			r := queryFrom(ctx, t, fe.Addr, openClientIP, db, dns.TypeA, tcp)
			if complaint := checkAnswer(t, r, db+". 30 IN A "+dbIP); complaint != "" {
				t.Fatalf("%s\n%v", complaint, r)
			}
			r = queryFrom(ctx, t, fe.Addr, openClientIP, dbPTR, dns.TypePTR, tcp)
			if complaint := checkAnswer(t, r, dbPTR+" 30 IN PTR "+db+"."); complaint != "" {
				t.Fatalf("PTR: %s\n%v", complaint, r)
			}
		})
		t.Run("restricted client sees its allowed namespaces over "+tr, func(t *testing.T) {
			for name, want := range map[string]string{
				"api.vis-shared.svc.cluster.local":     "",
				"own.vis-team.svc.cluster.local":       "",
				"kubernetes.default.svc.cluster.local": "kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1",
			} {
				r := queryFrom(ctx, t, fe.Addr, restrictedClientIP, name, dns.TypeA, tcp)
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Fatalf("%s: want one A record\n%v", name, r)
				}
				if want == "" {
					continue
				}
				if complaint := checkAnswer(t, r, want); complaint != "" {
					t.Fatalf("%s: %s\n%v", name, complaint, r)
				}
			}
		})
		// Each denied question beside the same question about a namespace
		// that does not exist: the replies must be identical but for the
		// names in them.
		for _, q := range []struct {
			denied, missing string
			qtype           uint16
		}{
			{db, "db.vis-nowhere.svc.cluster.local", dns.TypeA},
			{db, "db.vis-nowhere.svc.cluster.local", dns.TypeAAAA}, // NODATA for the open client: no hint that it exists
			{"_tcp-db._tcp." + db, "_tcp-db._tcp.db.vis-nowhere.svc.cluster.local", dns.TypeSRV},
			{"vis-secret.svc.cluster.local", "vis-nowhere.svc.cluster.local", dns.TypeA},
			{"x.db.vis-secret.svc.cluster.local", "x.db.vis-nowhere.svc.cluster.local", dns.TypeA},
			{dbPTR, reverseName(t, "10.96.255.254"), dns.TypePTR}, // both left to the upstream, which refuses
		} {
			t.Run(fmt.Sprintf("restricted client: %s %s over %s", q.denied, dns.TypeToString[q.qtype], tr), func(t *testing.T) {
				sameAsMissing(ctx, t, fe.Addr, q.denied, q.missing, q.qtype, tcp)
			})
		}
	}

	t.Run("gRPC Lookup for the restricted pod's address", func(t *testing.T) {
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
		missing := lookup("db.vis-nowhere.svc.cluster.local", restrictedClientIP)
		open := lookup(db, openClientIP)
		if denied.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR || len(denied.GetAnswer()) != 0 {
			t.Fatalf("denied name: %v, want NAME_ERROR without records", denied)
		}
		if !proto.Equal(denied.GetAuthority()[0].GetSoa(), missing.GetAuthority()[0].GetSoa()) || denied.GetTtl() != missing.GetTtl() {
			t.Fatalf("denied SOA %v ttl %d, missing name's %v ttl %d", denied.GetAuthority(), denied.GetTtl(), missing.GetAuthority(), missing.GetTtl())
		}
		if !denied.GetClientSpecific() || !open.GetClientSpecific() {
			t.Fatalf("client_specific: denied %v, open %v; want both set (the answers differ by client)", denied.GetClientSpecific(), open.GetClientSpecific())
		}
		if open.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
			t.Fatalf("open client: %v, want SUCCESS", open)
		}
		if shared := lookup("kubernetes.default.svc.cluster.local", restrictedClientIP); shared.GetClientSpecific() {
			t.Fatalf("kubernetes.default (visible to every client) marked client_specific: %v", shared)
		}
	})

	t.Run("DiscoveryService called from the restricted pod's address", func(t *testing.T) {
		// Programs call the DiscoveryService themselves: the caller's
		// address is its pod's.
		dialFrom := func(src string) clusterdnsv1.DiscoveryServiceClient {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			cc, err := grpc.NewClient(rs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cc.Close() })
			return clusterdnsv1.NewDiscoveryServiceClient(cc)
		}
		restricted, open := dialFrom(restrictedClientIP), dialFrom(openClientIP)
		get := func(dc clusterdnsv1.DiscoveryServiceClient, ns string) error {
			_, err := dc.GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: &clusterdnsv1.ServiceRef{Namespace: ns, Name: "db"}})
			return err
		}
		if err := get(open, "vis-secret"); err != nil {
			t.Fatalf("open pod GetService vis-secret/db: %v", err)
		}
		denied, missing := get(restricted, "vis-secret"), get(restricted, "vis-nowhere")
		if status.Code(denied) != codes.NotFound || status.Code(missing) != codes.NotFound ||
			strings.ReplaceAll(status.Convert(denied).Message(), "vis-secret", "X") != strings.ReplaceAll(status.Convert(missing).Message(), "vis-nowhere", "X") {
			t.Fatalf("restricted pod GetService: hidden %v, missing %v; want the same NOT_FOUND", denied, missing)
		}
		list, err := restricted.ListServices(ctx, &clusterdnsv1.ListServicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range list.GetServices() {
			if svc.GetNamespace() == "vis-secret" {
				t.Fatalf("restricted pod's listing holds %s/%s", svc.GetNamespace(), svc.GetName())
			}
		}
	})

	t.Run("query log names the pod and its namespace", func(t *testing.T) {
		queryFrom(ctx, t, fe.Addr, restrictedClientIP, "logged.vis-team.svc.cluster.local", dns.TypeA, false)
		waitForLogLine(t, rs, "logged.vis-team.svc.cluster.local", "client_ip="+restrictedClientIP, "namespace=vis-team", "pod=client")
	})

	t.Run("a bad edit keeps the last good policy", func(t *testing.T) {
		if err := os.WriteFile(policy, []byte("rules:\n- from: [Not_A_Namespace]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		waitForMetric(t, rs.MetricsAddr, "clusterdns_recordsvc_visibility_reloads_total", map[string]string{"result": "invalid"}, 1)
		sameAsMissing(ctx, t, fe.Addr, db, "db.vis-nowhere.svc.cluster.local", dns.TypeA, false)
	})

	t.Run("a policy edit shows at once", func(t *testing.T) {
		// Cache the restricted pod's view of an allowed name, then open
		// everything: the allowed name must be answered afresh too.
		if err := os.WriteFile(policy, []byte("rules: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		stack.Eventually(t, changeTimeout, fe.Addr, db, dns.TypeA, false, func(*dns.Msg) string {
			r := queryFrom(ctx, t, fe.Addr, restrictedClientIP, db, dns.TypeA, false)
			return checkAnswer(t, r, db+". 30 IN A "+dbIP)
		})
		r := queryFrom(ctx, t, fe.Addr, restrictedClientIP, db, dns.TypeA, true)
		if complaint := checkAnswer(t, r, db+". 30 IN A "+dbIP); complaint != "" {
			t.Fatalf("over TCP after the policy opened: %s\n%v", complaint, r)
		}
	})

	t.Run("a bad policy stops the start", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte("rules:\n- to: [a]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"--visibility-policy", bad, "--pods", "verified"},
			{"--visibility-policy", policy, "--pods", "insecure"},
		} {
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			out, err := exec.CommandContext(cctx, bins.RecordService, append([]string{"--kubeconfig", c.Kubeconfig,
				"--listen", "127.0.0.1:0"}, args...)...).CombinedOutput()
			ccancel()
			if err == nil || !strings.Contains(string(out), "--visibility-policy") {
				t.Fatalf("recordsvc %v: err %v, output %q; want a failed start naming --visibility-policy", args, err, out)
			}
		}
	})
}

// visibilityFixture creates the namespaces, Services and client Pods of
// TestVisibilityPolicy and returns the cluster IP of vis-secret/db.
func visibilityFixture(ctx context.Context, t *testing.T, c *kubecluster.Cluster) string {
	t.Helper()
	for _, ns := range []string{"vis-team", "vis-secret", "vis-shared", "vis-other"} {
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var dbIP string
	for _, s := range []struct{ ns, name string }{{"vis-secret", "db"}, {"vis-shared", "api"}, {"vis-team", "own"}} {
		svc, err := c.Client.CoreV1().Services(s.ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "tcp-db", Protocol: corev1.ProtocolTCP, Port: 5432}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.name == "db" {
			dbIP = svc.Spec.ClusterIP
		}
	}
	for ns, ip := range map[string]string{"vis-team": restrictedClientIP, "vis-other": openClientIP} {
		startFakePod(ctx, t, c, ns, "client", ip)
	}
	return dbIP
}

// startFakePod creates Pod ns/name and plays its kubelet: Running with ip.
func startFakePod(ctx context.Context, t *testing.T, c *kubecluster.Cluster, ns, name, ip string) {
	t.Helper()
	c.CreateServiceAccount(t, ns, "default")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "client.invalid/none"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.SetPodIPs(t, ns, name, []string{ip})
}

// waitForPodIndex waits until the record service's pod index holds ip for
// namespace ns: its pod record resolves.
func waitForPodIndex(ctx context.Context, t *testing.T, addr, ip, ns string) {
	t.Helper()
	name := strings.ReplaceAll(ip, ".", "-") + "." + ns + ".pod.cluster.local"
	stack.Eventually(t, syncTimeout, addr, name, dns.TypeA, false, func(r *dns.Msg) string {
		return checkAnswer(t, queryFrom(ctx, t, addr, ip, name, dns.TypeA, false), name+". 30 IN A "+ip)
	})
}

// sameAsMissing asks denied and missing from the restricted client and
// fails unless the replies match in everything but the question name: the
// rcode, flags, sections and the SOA's serial and timers.
func sameAsMissing(ctx context.Context, t *testing.T, addr, denied, missing string, qtype uint16, tcp bool) {
	t.Helper()
	// A change between the two questions moves the serial: ask again then.
	var a, b string
	for attempt := 0; attempt < 3; attempt++ {
		rd := queryFrom(ctx, t, addr, restrictedClientIP, denied, qtype, tcp)
		rm := queryFrom(ctx, t, addr, restrictedClientIP, missing, qtype, tcp)
		a, b = replyShape(rd, denied), replyShape(rm, missing)
		if a == b {
			if qtype != dns.TypePTR && rd.Rcode != dns.RcodeNameError {
				t.Fatalf("%s: rcode %s, want NXDOMAIN\n%v", denied, dns.RcodeToString[rd.Rcode], rd)
			}
			return
		}
	}
	t.Fatalf("denied %s and missing %s differ:\n%s\n---\n%s", denied, missing, a, b)
}

// replyShape prints r without its ID and with the question name replaced.
func replyShape(r *dns.Msg, name string) string {
	c := r.Copy()
	c.Id = 0
	return strings.ReplaceAll(strings.ToLower(c.String()), strings.ToLower(dns.Fqdn(name)), "QNAME.")
}

// queryFrom asks addr about name from the local address src.
func queryFrom(ctx context.Context, t testing.TB, addr, src, name string, qtype uint16, tcp bool) *dns.Msg {
	t.Helper()
	cl := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	if tcp {
		cl = &dns.Client{Net: "tcp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var r *dns.Msg
		r, _, err = cl.ExchangeContext(ctx, stack.NewQuery(name, qtype), addr)
		if err == nil {
			return r
		}
	}
	t.Fatalf("%s %s from %s over %s: %v", name, dns.TypeToString[qtype], src, stack.Transport(tcp), err)
	return nil
}

// reverseName is the PTR name of ip.
func reverseName(t testing.TB, ip string) string {
	t.Helper()
	name, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// waitForLogLine waits until a line of p's log holds every part.
func waitForLogLine(t testing.TB, p *stack.Process, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(p.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			found := true
			for _, part := range parts {
				found = found && strings.Contains(line, part)
			}
			if found {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line of %s holds %q:\n%s", p.Name, parts, p.LogTail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForMetric waits until the sum of name's series with labels reaches
// at least want.
func waitForMetric(t testing.TB, addr, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := stack.ScrapeMetrics(t, addr).SumWhere(name, labels)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want at least %v", name, labels, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
