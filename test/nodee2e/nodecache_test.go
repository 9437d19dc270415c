package nodee2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/nftables"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/clusterdns/clusterdns/test/images/ocilayout"
	"github.com/clusterdns/clusterdns/test/kubenode"
)

// NodeLocal DNSCache (k8s-dns-node-cache) on the one-machine node, through
// the disruptions TestNodeLocal puts the node-local frontend through, with
// the same clients, so that the two tables can be read side by side. Its
// binary is not part of this repository: CLUSTERDNS_NODECACHE names one
// built elsewhere, and without it the test skips.

const (
	nodeCacheEnv   = "CLUSTERDNS_NODECACHE"
	nodeCacheImage = "localhost/k8s-dns-node-cache:test"
	nodeCacheDS    = "node-local-dns"
	nodeCachePods  = "k8s-app=node-local-dns"
	// nodeCacheLink is the interface node-cache's addresses are on: a
	// dummy link node-cache makes itself where the kernel has the driver;
	// here a bridge the test makes (see standInLink).
	nodeCacheLink = "nodelocaldns"
	// nodeCacheUpstream is the Service node-cache forwards cluster names to.
	nodeCacheUpstream = "kube-dns-upstream"
	// nodeCacheComment begins the comment of every iptables rule node-cache
	// adds.
	nodeCacheComment = "NodeLocal DNS Cache"
	// nodeCacheArgv0 picks node-cache's process out of the host's.
	nodeCacheArgv0 = "/node-cache"
	// xtablesLock is the lock file the DaemonSet mounts from the host
	// (hostPath FileOrCreate).
	xtablesLock = "/run/xtables.lock"
)

// Merge patches of kube-dns's selector: a key no pod has empties the
// Service, as scaling the frontends to zero does in TestNodeLocal (here the
// frontends must keep running: they are node-cache's upstream); a null
// deletes the key again.
const (
	kubeDNSNoEndpoints = `{"spec":{"selector":{"clusterdns.test/nodecache":"no-endpoints"}}}`
	kubeDNSEndpoints   = `{"spec":{"selector":{"clusterdns.test/nodecache":null}}}`
)

// TestNodeLocalDNSCache deploys node-cache as its addon manifest does (a
// hostNetwork DaemonSet serving 169.254.20.10 and the kube-dns IP, NOTRACK
// rules, kube-dns-upstream selecting the clusterdns frontends) and, while the clients of TestNodeLocal resolve through both
// addresses:
//   - with the kube-dns Service emptied, does a rolling update and a pod
//     delete of the DaemonSet;
//   - with the Service back, SIGKILLs node-cache;
//   - deletes the DaemonSet and checks the kube-dns IP answers.
//
// Failed lookups are node-cache's behaviour, the measurement: they are
// logged in TestNodeLocal's table format, not failures. The test fails when
// an answer is wrong, a client made no lookup, or the harness cannot set
// node-cache up or remove it: its interface and iptables rules go at
// cleanup, also when the test fails.
func TestNodeLocalDNSCache(t *testing.T) {
	bin := os.Getenv(nodeCacheEnv)
	if bin == "" {
		t.Skipf("%s is not set: the comparison with NodeLocal DNSCache needs a k8s-dns-node-cache binary built outside this repository (deploy/node-local/README.md says how it was measured)", nodeCacheEnv)
	}
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	useDNS(ctx, t, n, clusterDNS)
	importNodeCacheImage(ctx, t, n, bin)
	guardLinkLocal(ctx, t, n)
	before := recordHostState(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		removeNodeCacheLeftovers(ctx, t, n, before)
	})
	standInLink(ctx, t, n)
	manifest := writeNodeCacheManifest(t, n)
	p := newProcedure(t, n, "deploy NodeLocal DNSCache")
	p.kubectl(ctx, "apply", "-f", manifest)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, _ = n.Kubectl(ctx, "delete", "-f", manifest, "--ignore-not-found", "--wait=true", "--timeout=2m")
	})
	routeServiceFromHost(ctx, t, n, nodeCacheUpstream)
	p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "daemonset/"+nodeCacheDS, "--timeout=3m")
	waitNodeCacheAnswers(ctx, t, n)

	w := setUpWorkload(ctx, t, n.Client, "dns-nodecache")
	setKubeDNSEndpoints(ctx, t, n, false)
	waitNodeCacheRules(ctx, t)
	load := startNodeLocalLoad(ctx, t, n, w)
	begin := time.Now()
	upgradeDaemonSet(ctx, t, n, "node-cache", nodeCacheDS, nodeCachePods, load)
	checkNodeCacheLoad(t, "node-cache upgrades (rolling update, pod delete; kube-dns Service without endpoints)",
		load.stop(ctx, t), time.Since(begin))

	// SIGKILL: the kube-dns Service has its endpoints again.
	setKubeDNSEndpoints(ctx, t, n, true)
	waitNodeCacheRules(ctx, t)
	load = startNodeLocalLoad(ctx, t, n, w)
	begin = time.Now()
	killNodeCache(ctx, t)
	t.Logf("SIGKILL of node-cache at %s, %.1fs after the clients started; left behind: interface %s %v, %d iptables rules",
		time.Now().UTC().Format("15:04:05.000"), time.Since(load.started).Seconds(),
		nodeCacheLink, nodeCacheLinkExists(ctx, t), len(nodeCacheRules(ctx, t)))
	viaKubeDNS, viaLinkLocal := loadThroughRestart(ctx, t, n, nodeCachePods, load, waitNodeCacheAnswers)
	checkNodeCacheLoad(t, "SIGKILL of node-cache, through the kube-dns IP", viaKubeDNS, time.Since(begin))
	checkNodeCacheLoad(t, "SIGKILL of node-cache, through 169.254.20.10", viaLinkLocal, time.Since(begin))
	if t.Failed() {
		logDNSServerLogs(ctx, t, n, nodeCachePods)
	}

	// Removal: node-cache deletes its rules on SIGTERM; what is left is
	// logged (the interface is the test's) and removed, and the kube-dns IP
	// must answer through the Service.
	p = newProcedure(t, n, "delete NodeLocal DNSCache")
	p.kubectl(ctx, "delete", "-f", manifest, "--wait=true", "--timeout=2m")
	waitNoNodeLocalPods(ctx, t, n, nodeCachePods)
	waitNoNodeCacheProcess(ctx, t)
	t.Logf("after the DaemonSet was deleted: interface %s %v, %d iptables rules of node-cache",
		nodeCacheLink, nodeCacheLinkExists(ctx, t), len(nodeCacheRules(ctx, t)))
	removeNodeCacheLeftovers(ctx, t, n, before)
	if err := n.WaitClusterDNS(ctx, time.Minute); err != nil {
		t.Errorf("kube-dns after node-cache was removed: %v", err)
	}
}

// checkNodeCacheLoad logs a run's counts as TestNodeLocal does; failed
// lookups are the measurement, a wrong answer fails the test.
func checkNodeCacheLoad(t *testing.T, what string, results []loopResult, elapsed time.Duration) {
	t.Helper()
	bad := reportLoad(t, what, results, elapsed)
	wrong := 0
	for _, r := range results {
		wrong += r.last.Wrong
	}
	if wrong > 0 {
		t.Errorf("%s: %d wrong answers, want 0", what, wrong)
	}
	t.Logf("%s: %d lookups failed (node-cache's behaviour, not a test failure)", what, bad-wrong)
}

// nodeCacheManifest are the fields of testdata/nodecache/nodelocaldns.yaml.
type nodeCacheManifest struct {
	Domain, LocalIP, ClusterDNS, Upstream, Image string
}

// writeNodeCacheManifest renders the manifest for the node into a
// directory of the test and returns its path.
func writeNodeCacheManifest(t *testing.T, n *kubenode.Node) string {
	t.Helper()
	tmpl, err := template.ParseFiles(testdata("nodecache", "nodelocaldns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err = tmpl.Option("missingkey=error").Execute(&b, nodeCacheManifest{
		Domain:     n.Config.ClusterDomain,
		LocalIP:    linkLocalDNS.String(),
		ClusterDNS: n.Config.ClusterDNS.String(),
		// The harness's resolver on the bridge gateway: the node's only
		// upstream, answering its own test zone and refusing the rest.
		Upstream: n.Config.Gateway().String(),
		Image:    nodeCacheImage,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nodelocaldns.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// setKubeDNSEndpoints empties the kube-dns Service (on false) or gives it
// back its endpoints, and waits until kube-proxy has had time to follow. The
// selector is restored at cleanup.
func setKubeDNSEndpoints(ctx context.Context, t *testing.T, n *kubenode.Node, on bool) {
	t.Helper()
	patch, want, what := kubeDNSNoEndpoints, 0, "empty the kube-dns Service"
	if on {
		patch, want, what = kubeDNSEndpoints, 2, "kube-dns Service selects the frontends again"
	}
	p := newProcedure(t, n, what)
	if !on {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if out, err := n.Kubectl(ctx, "-n", "kube-system", "patch", "service", "kube-dns", "--type=merge", "-p", kubeDNSEndpoints); err != nil {
				t.Errorf("restore kube-dns's selector: %v: %s", err, out)
			}
		})
	}
	p.kubectl(ctx, "-n", "kube-system", "patch", "service", "kube-dns", "--type=merge", "-p", patch)
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return len(readyEndpoints(ctx, n.Client, "kube-system", "kube-dns")) == want &&
			len(allEndpoints(ctx, n.Client, "kube-system", "kube-dns")) == want, nil
	})
	if err != nil {
		t.Fatalf("%s: kube-dns never had %d endpoints: %v", what, want, err)
	}
	time.Sleep(kubeProxySettle)
	p.logf("done")
}

// waitNodeCacheAnswers waits until node-cache's interface is up and both
// addresses answer, from the probe namespace over UDP and TCP, the
// kubernetes Service's name (forwarded to kube-dns-upstream) and the
// node's upstream name (forwarded to the harness's resolver).
func waitNodeCacheAnswers(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	names := map[string]netip.Addr{
		"kubernetes.default.svc." + n.Config.ClusterDomain: n.Config.ServiceCIDR.Masked().Addr().Next(),
		kubenode.UpstreamName:                              kubenode.UpstreamA,
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if !nodeCacheLinkExists(ctx, t) {
			last = fmt.Errorf("no interface %s", nodeCacheLink)
			return false, nil
		}
		for _, server := range []netip.Addr{linkLocalDNS, n.Config.ClusterDNS} {
			for name, want := range names {
				if last = kubenode.CheckDNS(ctx, server, name, want); last != nil {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		logDNSServerLogs(ctx, t, n, nodeCachePods)
		t.Fatalf("node-cache does not answer: %v (last: %v)", err, last)
	}
}

// waitNodeCacheRules waits, up to a little more than node-cache's sync
// interval (60 s: it adds its iptables rules at the first sync, not at
// start), until its NOTRACK rules are in place, so that each phase begins
// from a node-cache that has run long enough to have them. It logs what it
// found and goes on either way: the rules are node-cache's business.
func waitNodeCacheRules(ctx context.Context, t *testing.T) {
	t.Helper()
	start := time.Now()
	_ = wait.PollUntilContextTimeout(ctx, time.Second, 75*time.Second, true, func(ctx context.Context) (bool, error) {
		return len(nodeCacheRules(ctx, t)) > 0, nil
	})
	t.Logf("node-cache's iptables rules after %.0fs: %d", time.Since(start).Seconds(), len(nodeCacheRules(ctx, t)))
}

// killNodeCache SIGKILLs the one node-cache process and waits until it is
// gone.
func killNodeCache(ctx context.Context, t *testing.T) {
	t.Helper()
	pids := nodeCachePIDs(t)
	if len(pids) != 1 {
		t.Fatalf("node-cache processes before SIGKILL: %v, want one", pids)
	}
	if _, err := kubenodeRun(ctx, "kill", "-KILL", strconv.Itoa(pids[0])); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return !slices.Contains(nodeCachePIDs(t), pids[0]), nil
	})
	if err != nil {
		t.Fatalf("node-cache pid %d still there after SIGKILL: %v", pids[0], err)
	}
}

// nodeCachePIDs lists the processes running node-cache's binary.
func nodeCachePIDs(t *testing.T) []int {
	t.Helper()
	return pidsOf(t, func(cmdline string) bool { return strings.HasPrefix(cmdline, nodeCacheArgv0+"\x00") })
}

// waitNoNodeCacheProcess waits until no node-cache process runs.
func waitNoNodeCacheProcess(ctx context.Context, t *testing.T) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		return len(nodeCachePIDs(t)) == 0, nil
	})
	if err != nil {
		t.Errorf("node-cache processes still running: %v", nodeCachePIDs(t))
	}
}

// standInLink makes the interface node-cache would make with
// -setupinterface: this machine's kernel has no dummy link driver (node-cache
// logs "operation not supported" and its binds fail), so a bridge of the
// same name holds both addresses, up, for the whole test. What clients see
// while no node-cache serves is the same as with node-cache's own
// interface: the link-local address has no listener either way, and
// without the NOTRACK rules kube-proxy's DNAT takes the kube-dns IP to the
// Service before the local address is considered. It goes at cleanup.
func standInLink(ctx context.Context, t *testing.T, n *kubenode.Node) {
	t.Helper()
	steps := [][]string{
		{"ip", "link", "add", nodeCacheLink, "type", "bridge"},
		{"ip", "addr", "add", linkLocalDNS.String() + "/32", "dev", nodeCacheLink},
		{"ip", "addr", "add", n.Config.ClusterDNS.String() + "/32", "dev", nodeCacheLink},
		{"ip", "link", "set", nodeCacheLink, "up"},
	}
	for _, s := range steps {
		if _, err := kubenodeRun(ctx, s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
}

// nodeCacheLinkExists reports whether the host has node-cache's interface.
func nodeCacheLinkExists(ctx context.Context, t *testing.T) bool {
	t.Helper()
	out, err := kubenodeRun(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.TrimSuffix(f[1], ":") == nodeCacheLink {
			return true
		}
	}
	return false
}

// iptablesRule is one rule of a built-in chain: its table, chain and
// position (1-based, as iptables -D takes it).
type iptablesRule struct {
	table, chain string
	num          int
}

// nodeCacheRules lists the host's iptables rules with node-cache's comment,
// in the tables it adds them to.
func nodeCacheRules(ctx context.Context, t *testing.T) []iptablesRule {
	t.Helper()
	var rules []iptablesRule
	for _, table := range []string{"raw", "filter"} {
		out, err := kubenodeRun(ctx, "iptables", "-w", "-t", table, "-S")
		if err != nil {
			t.Fatal(err)
		}
		pos := map[string]int{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "-A" {
				continue
			}
			pos[f[1]]++
			if strings.Contains(line, nodeCacheComment) {
				rules = append(rules, iptablesRule{table: table, chain: f[1], num: pos[f[1]]})
			}
		}
	}
	return rules
}

// hostState is what the host had before node-cache ran, so that cleanup
// removes only what came with it.
type hostState struct {
	rawTable, xtablesLock bool
}

func recordHostState(t *testing.T) hostState {
	t.Helper()
	raw, err := nftTableExists(nftables.TableFamilyIPv4, "raw")
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(xtablesLock)
	return hostState{rawTable: raw, xtablesLock: err == nil}
}

// removeNodeCacheLeftovers runs after the DaemonSet's delete: it waits for
// node-cache's processes to end, then deletes the interface and
// node-cache's iptables rules if they are still there (a SIGKILLed
// node-cache leaves its rules; the node's teardown removes neither), the
// raw table iptables made for them and the lock file the hostPath volume
// created.
func removeNodeCacheLeftovers(ctx context.Context, t *testing.T, n *kubenode.Node, before hostState) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: nodeCachePods})
		return err == nil && len(pods.Items) == 0 && len(nodeCachePIDs(t)) == 0, nil
	})
	if err != nil {
		t.Errorf("node-cache still running at cleanup (processes %v): %v", nodeCachePIDs(t), err)
	}
	if nodeCacheLinkExists(ctx, t) {
		if _, err := kubenodeRun(ctx, "ip", "link", "delete", nodeCacheLink); err != nil {
			t.Errorf("remove node-cache's interface: %v", err)
		}
	}
	// Highest positions first, so that the lower ones stay valid.
	rules := nodeCacheRules(ctx, t)
	slices.Reverse(rules)
	for _, r := range rules {
		if _, err := kubenodeRun(ctx, "iptables", "-w", "-t", r.table, "-D", r.chain, strconv.Itoa(r.num)); err != nil {
			t.Errorf("remove node-cache's iptables rule: %v", err)
		}
	}
	if !before.rawTable {
		removeEmptyRawTable(ctx, t)
	}
	if !before.xtablesLock {
		if err := os.Remove(xtablesLock); err != nil && !os.IsNotExist(err) {
			t.Errorf("remove %s: %v", xtablesLock, err)
		}
	}
}

// removeEmptyRawTable deletes the nftables table ip raw that iptables-nft
// created for node-cache's rules, once no rule is left in it.
func removeEmptyRawTable(ctx context.Context, t *testing.T) {
	t.Helper()
	ok, err := nftTableExists(nftables.TableFamilyIPv4, "raw")
	if err != nil || !ok {
		return
	}
	out, err := kubenodeRun(ctx, "iptables", "-w", "-t", "raw", "-S")
	if err != nil || strings.Contains(out, "-A ") {
		t.Errorf("table raw still has rules: %v\n%s", err, out)
		return
	}
	c, err := nftables.New()
	if err == nil {
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "raw"})
		err = c.Flush()
	}
	if err != nil {
		t.Errorf("delete nftables table ip raw: %v", err)
	}
}

// nftTableExists reports whether the host has the nftables table.
func nftTableExists(family nftables.TableFamily, name string) (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(family)
	if err != nil {
		return false, err
	}
	for _, tb := range tables {
		if tb.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// importNodeCacheImage packs the node-cache binary into an image and
// imports it into the node's containerd.
func importNodeCacheImage(ctx context.Context, t *testing.T, n *kubenode.Node, bin string) {
	t.Helper()
	img, err := nodeCacheImageOf(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "node-cache.tar"))
	if err != nil {
		t.Fatal(err)
	}
	err = ocilayout.Write(f, img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("write node-cache image: %v", err)
	}
	if err := kubenode.ImportImages(ctx, n.Config, dir); err != nil {
		t.Fatal(err)
	}
}

// nodeCacheImageOf lays node-cache out as its release image does (the
// binary as entrypoint on an iptables userland), with the host's iptables:
// node-cache runs iptables to add its rules, and the host's own binary
// speaks the backend (nft or legacy) kube-proxy and the harness use.
// Shared libraries come at their host paths with symlinks resolved, under
// Debian's merged /usr links; the iptables extensions are loaded at run
// time, so their directory comes whole.
func nodeCacheImageOf(ctx context.Context, bin string) (ocilayout.Image, error) {
	l := ocilayout.NewLayer()
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return ocilayout.Image{}, fmt.Errorf("node-cache image: %w", err)
	}
	multi, err := filepath.EvalSymlinks(ipt)
	if err != nil {
		return ocilayout.Image{}, fmt.Errorf("node-cache image: %w", err)
	}
	exts, err := filepath.Glob("/usr/lib/*/xtables/*.so")
	if err != nil {
		return ocilayout.Image{}, fmt.Errorf("node-cache image: %w", err)
	}
	files := map[string]string{bin: nodeCacheArgv0, multi: "/usr/sbin/" + filepath.Base(multi)}
	for _, e := range exts {
		files[e] = e
	}
	for host, img := range files {
		if err := addELF(ctx, l, host, img); err != nil {
			return ocilayout.Image{}, err
		}
	}
	var errs []error
	for _, name := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		errs = append(errs, l.AddSymlink("/usr/sbin/"+name, filepath.Base(multi)))
	}
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if target, err := os.Readlink("/" + d); err == nil {
			errs = append(errs, l.AddSymlink("/"+d, target))
		}
	}
	errs = append(errs, l.AddDir("/etc", 0o755), l.AddDir("/run", 0o755), l.AddDir("/tmp", 0o777|os.ModeSticky))
	for _, err := range errs {
		if err != nil {
			return ocilayout.Image{}, fmt.Errorf("node-cache image: %w", err)
		}
	}
	return ocilayout.Image{
		Name:   nodeCacheImage,
		Layers: []*ocilayout.Layer{l},
		Config: ocilayout.Config{Entrypoint: []string{nodeCacheArgv0}, ExposedPorts: []string{"53/udp", "53/tcp"}},
	}, nil
}

// addELF adds the host file at imgPath and every shared library ldd says
// it loads at the library's own path, directories' symlinks resolved.
func addELF(ctx context.Context, l *ocilayout.Layer, hostPath, imgPath string) error {
	paths := map[string]string{hostPath: imgPath}
	out, err := exec.CommandContext(ctx, "ldd", hostPath).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "not a dynamic executable") {
		return fmt.Errorf("ldd %s: %w: %s", hostPath, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "not found") {
			return fmt.Errorf("ldd %s: %s", hostPath, strings.TrimSpace(line))
		}
		if _, after, ok := strings.Cut(line, "=>"); ok {
			line = after
		}
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "/") {
			dir, err := filepath.EvalSymlinks(filepath.Dir(f[0]))
			if err != nil {
				return fmt.Errorf("resolve %s: %w", f[0], err)
			}
			paths[f[0]] = filepath.Join(dir, filepath.Base(f[0]))
		}
	}
	for host, img := range paths {
		if l.Has(img) {
			continue
		}
		fi, err := os.Stat(host)
		if err != nil {
			return fmt.Errorf("node-cache image: %w", err)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("node-cache image: %w", err)
		}
		if err := l.AddFile(img, fi.Mode().Perm(), data); err != nil {
			return fmt.Errorf("node-cache image: %w", err)
		}
	}
	return nil
}
