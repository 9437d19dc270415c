package nodee2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/kubenode"
)

// conformanceFocus selects Kubernetes' DNS conformance specs
// (test/e2e/network/dns.go of k8s.io/kubernetes: eight in v1.37).
const conformanceFocus = `\[sig-network\] DNS.*\[Conformance\]`

// specResult is one spec of a ginkgo JSON report.
type specResult struct {
	Text  string
	State string // passed, failed, skipped, ...
	// Failure is the first line of the failure message, if any.
	Failure string
}

// TestDNSConformance runs the `[sig-network] DNS` conformance specs of
// Kubernetes' own e2e suite (bin/e2e.test, make test-deps) with clusterdns
// and with CoreDNS as the cluster DNS, and prints both columns. A spec
// CoreDNS passes must pass with clusterdns.
func TestDNSConformance(t *testing.T) {
	n := testNode(t)
	e2e := filepath.Join(repoRoot(), "bin", "e2e.test")
	if _, err := os.Stat(e2e); err != nil {
		t.Fatalf("%s is missing (make test-deps builds it): %v", e2e, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	order := []dnsServer{clusterDNS, coreDNS}
	if cur, err := currentDNS(ctx, n); err == nil && cur == coreDNS {
		order = []dnsServer{coreDNS, clusterDNS}
	}
	results := map[dnsServer]map[string]specResult{}
	for _, s := range order {
		useDNS(ctx, t, n, s)
		start := time.Now()
		specs, err := runConformance(ctx, n, e2e, strings.ToLower(string(s)))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if len(specs) == 0 {
			t.Fatalf("%s: the focus %s selected no spec", s, conformanceFocus)
		}
		t.Logf("%s: %d specs in %s", s, len(specs), time.Since(start).Round(time.Second))
		results[s] = specs
	}
	var names []string
	for name := range results[clusterDNS] {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-10s spec\n", "clusterdns", "CoreDNS")
	for _, name := range names {
		cd, co := results[clusterDNS][name], results[coreDNS][name]
		fmt.Fprintf(&b, "%-10s %-10s %s\n", cd.State, co.State, name)
		switch {
		case cd.State == "passed":
		case co.State == "passed":
			t.Errorf("%s: CoreDNS passes, clusterdns %s: %s", name, cd.State, cd.Failure)
		default:
			t.Logf("%s: fails with both servers (clusterdns: %s; CoreDNS: %s)", name, cd.Failure, co.Failure)
		}
	}
	t.Logf("DNS conformance specs (%s):\n%s", conformanceFocus, b.String())
}

// runConformance runs the focused specs once and returns them by name. The
// suite's output goes to the node's log directory.
func runConformance(ctx context.Context, n *kubenode.Node, e2e, label string) (map[string]specResult, error) {
	dir := filepath.Join(filepath.Dir(n.LogPath("x")), "e2e-"+label)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report dir: %w", err)
	}
	report := filepath.Join(dir, "report.json")
	logFile, err := os.Create(filepath.Join(dir, "e2e.log"))
	if err != nil {
		return nil, fmt.Errorf("e2e log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, e2e,
		"--provider=skeleton",
		"--kubeconfig="+n.Config.Kubeconfig(),
		"--ginkgo.focus="+conformanceFocus,
		"--ginkgo.json-report="+report,
		"--ginkgo.no-color",
		"--ginkgo.timeout=30m",
		"--report-dir="+dir,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	runErr := cmd.Run()
	specs, err := readGinkgoReport(report)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("e2e.test (log %s): %w", logFile.Name(), runErr), err)
	}
	// A failing spec makes e2e.test exit 1; the report says which.
	return specs, nil
}

// readGinkgoReport reads the specs of a ginkgo v2 JSON report (a list of
// suite reports), leaving out the suite's setup and teardown nodes.
func readGinkgoReport(path string) (map[string]specResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ginkgo report: %w", err)
	}
	var suites []struct {
		SpecReports []struct {
			ContainerHierarchyTexts []string
			LeafNodeText            string
			LeafNodeType            string
			State                   string
			Failure                 *struct{ Message string }
		}
	}
	if err := json.Unmarshal(data, &suites); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	specs := map[string]specResult{}
	for _, s := range suites {
		for _, r := range s.SpecReports {
			if r.LeafNodeType != "It" || r.State == "skipped" {
				continue
			}
			name := strings.Join(append(slices.Clone(r.ContainerHierarchyTexts), r.LeafNodeText), " ")
			res := specResult{Text: name, State: r.State}
			if r.Failure != nil {
				res.Failure, _, _ = strings.Cut(r.Failure.Message, "\n")
			}
			specs[name] = res
		}
	}
	return specs, nil
}

// repoRoot is the repository's top directory.
func repoRoot() string { return filepath.Join(testdata(), "..", "..", "..") }
