// Package recordwatch tests the record service's robustness through the
// real binary over gRPC on loopback: Watch streams that resume after a
// dropped connection or at another replica (by state digest), lameduck on
// SIGTERM, answers capped to one DNS message on a LookupStream, and the
// memory of many idle Watch streams.
//
// Run from the module root after `make test-deps`: go test ./test/hardening/recordwatch/
package recordwatch

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

// TestMain builds the frontend and record service once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}

// deadline bounds every wait of these tests: generous, for a loaded
// two-core machine.
const deadline = 60 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 4*deadline)
	t.Cleanup(cancel)
	return ctx
}

// dial opens a plaintext gRPC connection to a record service on loopback.
func dial(t *testing.T, addr string) (*grpc.ClientConn, clusterdnsv1.RecordServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, clusterdnsv1.NewRecordServiceClient(conn)
}

// eventually polls check until it returns "" or the deadline passes.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s: %s", what, deadline, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openWatch opens a Watch with req and returns the stream and its first
// messages up to the one carrying the state digest (the resync marker, or
// the whole catch-up of a resumed stream).
func openWatch(t *testing.T, ctx context.Context, rs clusterdnsv1.RecordServiceClient, req *clusterdnsv1.WatchRequest) (grpc.ServerStreamingClient[clusterdnsv1.WatchResponse], []*clusterdnsv1.WatchResponse) {
	t.Helper()
	stream, err := rs.Watch(ctx, req)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	var first []*clusterdnsv1.WatchResponse
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("Watch Recv: %v", err)
		}
		first = append(first, msg)
		if len(msg.GetStateDigest()) > 0 {
			return stream, first
		}
	}
}

// resumeFrom is the WatchRequest that resumes from msg, the last message
// with a state digest a watcher applied.
func resumeFrom(msg *clusterdnsv1.WatchResponse) *clusterdnsv1.WatchRequest {
	return &clusterdnsv1.WatchRequest{ClientName: "recordwatch-test", ResumeRevision: msg.GetRevision(),
		ResumeServerId: msg.GetServerId(), ResumeDigest: msg.GetStateDigest()}
}

// keysOf collects the keys of msgs.
func keysOf(msgs []*clusterdnsv1.WatchResponse) map[string]bool {
	out := map[string]bool{}
	for _, m := range msgs {
		for _, k := range m.GetKeys() {
			out[k] = true
		}
	}
	return out
}

// securityLimitsOff returns the flags that lift the record service's
// per-client connection and stream limits, for the tests that open many
// streams from one address; a binary without them gets none.
func securityLimitsOff(t *testing.T, bin string) []string {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput() // --help exits 0; output is what matters
	var args []string
	for _, f := range []string{"max-connections-per-ip", "max-streams-per-client", "max-streams", "max-connections"} {
		if strings.Contains(string(out), "-"+f+" ") {
			args = append(args, "--"+f, "0")
		}
	}
	return args
}

// rssBytes reads the resident set size of process pid.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatalf("rss: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("rss: %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("rss: no VmRSS in /proc/%d/status", pid)
	return 0
}

// writeFile replaces path atomically with data, as an editor or a
// ConfigMap update does.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// namespaceDocs returns YAML documents of namespaces.
func namespaceDocs(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", n)
	}
	return b.String()
}

// serviceDoc is a ClusterIP Service with one port.
func serviceDoc(ns, name, ip string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  clusterIP: %s
  clusterIPs: [%s]
  ports:
  - name: http
    port: 80
    protocol: TCP
`, name, ns, ip, ip)
}
