// Package frontendtls tests the frontend's side of the record service
// connection through the real binaries on loopback: mutual TLS (valid,
// missing and untrusted certificates, rotation without restart), honest
// readiness, a Watch that resumes without flushing the cache, and the
// per-client TCP connection limit.
//
// Run from the module root: go test ./test/hardening/frontendtls/
package frontendtls

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestMain builds the frontend and the record service once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}

const (
	// exampleCluster is the file `make run` serves, relative to this package.
	exampleCluster = "../../../deploy/examples/cluster.yaml"
	// clusterName is a Service of exampleCluster and its ClusterIP.
	clusterName = "kubernetes.default.svc.cluster.local."
	clusterIP   = "10.96.0.1"
	// waitLong bounds every poll: generous, for a loaded two-core machine.
	waitLong = 30 * time.Second
)

// clusterFile copies the example cluster into the test's directory, so
// that the record service's file source reads a file of the test's own.
func clusterFile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(exampleCluster)
	if err != nil {
		t.Fatalf("the example cluster file is missing: %v", err)
	}
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ask sends one query and returns the reply, failing t when none comes.
func ask(t *testing.T, addr, name string, tcp bool) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	r, err := stack.Exchange(ctx, addr, stack.NewQuery(name, dns.TypeA), tcp)
	if err != nil {
		t.Fatalf("%s %s: %v", stack.Transport(tcp), name, err)
	}
	return r
}

// answersIP tells whether r is a NOERROR answer holding the A record ip.
func answersIP(r *dns.Msg, ip string) bool {
	if r.Rcode != dns.RcodeSuccess {
		return false
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == ip {
			return true
		}
	}
	return false
}

// waitFor polls cond every 50ms until it holds, failing t with what after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyStatus is the HTTP status of the frontend's /ready (0 when the
// request fails).
func readyStatus(t *testing.T, fe *stack.Process) int {
	t.Helper()
	return httpStatus(t, fe, "/ready")
}

// httpStatus is the HTTP status of path on the process's metrics address
// (0 when the request fails).
func httpStatus(t *testing.T, p *stack.Process, path string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.MetricsAddr + path)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// logHas tells whether the process log holds s.
func logHas(p *stack.Process, s string) bool {
	data, err := os.ReadFile(p.LogPath)
	return err == nil && strings.Contains(string(data), s)
}

// metric is the sum of the samples of name whose labels include labels.
func metric(t *testing.T, p *stack.Process, name string, labels map[string]string) float64 {
	t.Helper()
	return stack.ScrapeMetrics(t, p.MetricsAddr).SumWhere(name, labels)
}
