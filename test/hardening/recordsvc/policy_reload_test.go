package recordsvc

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestPolicyReload edits the policy file of a running record service: a
// good edit widens a client's scope without a restart, a bad edit is logged
// and the last good policy stays in force.
func TestPolicyReload(t *testing.T) {
	p := newPKI(t, "frontend", "billing")
	rs, cluster := scopedServer(t, p)
	policy := filepath.Join(filepath.Dir(cluster), "policy.yaml")
	billing, _ := dial(t, rs.addr, dialOpts{files: p.clients["billing"]})
	const other = "secret.other.svc.cluster.local."
	if _, err := lookup(billing, other, typeA, ""); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("before the edit: %v, want PERMISSION_DENIED", err)
	}

	writeAtomic(t, policy, []byte(strings.Replace(testPolicy, "namespaces: [billing]", "namespaces: [billing, other]", 1)))
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := lookup(billing, other, typeA, "")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the widened policy is not applied 60s after the edit: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}

	writeAtomic(t, policy, []byte("clients: [{identity: billing}]\n")) // invalid: no namespaces
	deadline = time.Now().Add(60 * time.Second)
	for !strings.Contains(readFile(rs.proc.LogPath), "authorization policy invalid, keeping the last good one") {
		if time.Now().After(deadline) {
			t.Fatalf("the bad edit was not logged within 60s:\n%s", rs.proc.LogTail(20))
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if _, err := lookup(billing, other, typeA, ""); err != nil {
		t.Fatalf("after a bad edit the last good policy must stay: %v", err)
	}
}
