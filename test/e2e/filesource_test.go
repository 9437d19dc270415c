package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// exampleCluster is the file `make run` serves, relative to this package.
const exampleCluster = "../../deploy/examples/cluster.yaml"

// fileSourceAddition is appended to the example file: a namespace and a
// Service with a fixed ClusterIP.
const fileSourceAddition = `
---
apiVersion: v1
kind: Namespace
metadata:
  name: filesource
---
apiVersion: v1
kind: Service
metadata:
  name: added
  namespace: filesource
spec:
  clusterIP: 10.96.200.1
  clusterIPs: ["10.96.200.1"]
  ports:
  - name: http
    port: 80
`

// fileSourceReplacement is a second Service, written by replacing the file
// (write a new file, rename it over the old one), as many editors save.
const fileSourceReplacement = `
---
apiVersion: v1
kind: Service
metadata:
  name: renamed
  namespace: filesource
spec:
  clusterIP: 10.96.200.2
  clusterIPs: ["10.96.200.2"]
  ports:
  - name: http
    port: 80
`

// TestFileSource runs the record service on a copy of the example file and
// edits the file while it runs: additions resolve and removals disappear
// without a restart, whether the file is rewritten in place or replaced.
func TestFileSource(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	example, err := os.ReadFile(exampleCluster)
	if err != nil {
		t.Fatalf("the example cluster file is missing: %v", err)
	}
	src := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(src, example, 0o644); err != nil {
		t.Fatal(err)
	}
	rs := stack.StartRecordService(t, bins, "--source", "file:"+src)
	fe := stack.StartFrontend(t, bins, rs.Addr)

	expectA := func(t *testing.T, name, ip string) {
		t.Helper()
		for _, tcp := range transports {
			stack.Eventually(t, changeTimeout, fe.Addr, name, dns.TypeA, tcp, func(r *dns.Msg) string {
				return checkAnswer(t, r, name+". 30 IN A "+ip)
			})
		}
	}
	expectNXDOMAIN := func(t *testing.T, name string) {
		t.Helper()
		for _, tcp := range transports {
			stack.Eventually(t, changeTimeout, fe.Addr, name, dns.TypeA, tcp, func(r *dns.Msg) string {
				return checkNegative(r, dns.RcodeNameError)
			})
		}
	}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	const (
		added   = "added.filesource.svc.cluster.local"
		renamed = "renamed.filesource.svc.cluster.local"
	)

	step("the example file's Services resolve", func(t *testing.T) {
		expectA(t, "kubernetes.default.svc.cluster.local", "10.96.0.1")
		expectA(t, "kube-dns.kube-system.svc.cluster.local", "10.96.0.10")
		expectNXDOMAIN(t, added)
	})

	step("a Service appended to the file resolves", func(t *testing.T) {
		f, err := os.OpenFile(src, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(fileSourceAddition); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		expectA(t, added, "10.96.200.1")
	})

	step("a Service in a file renamed over the old one resolves", func(t *testing.T) {
		content := string(example) + fileSourceAddition + fileSourceReplacement
		tmp := filepath.Join(filepath.Dir(src), ".cluster.yaml.new")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, src); err != nil {
			t.Fatal(err)
		}
		expectA(t, renamed, "10.96.200.2")
		expectA(t, added, "10.96.200.1")
	})

	step("Services removed from the file are NXDOMAIN", func(t *testing.T) {
		if err := os.WriteFile(src, example, 0o644); err != nil {
			t.Fatal(err)
		}
		expectNXDOMAIN(t, added)
		expectNXDOMAIN(t, renamed)
		expectA(t, "kubernetes.default.svc.cluster.local", "10.96.0.1")
	})
}
