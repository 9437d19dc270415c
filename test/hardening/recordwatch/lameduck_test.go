package recordwatch

import (
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

// lameduckPeriod is long enough for the checks made inside it on a loaded
// machine; the test never waits for it to pass except at the end.
const lameduckPeriod = 20 * time.Second

// TestLameduck sends SIGTERM to a record service: gRPC health turns
// NOT_SERVING and /readyz 503 while Lookups, LookupStreams and Watch
// streams keep working (a change made then still reaches the watcher);
// after the period the streams end with UNAVAILABLE and the process exits.
func TestLameduck(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	base := namespaceDocs("default") + serviceDoc("default", "kubernetes", "10.96.0.1")
	writeFile(t, file, base)
	rsvc := stack.StartRecordService(t, bins, "--source", "file:"+file, "--lameduck", lameduckPeriod.String())
	conn, rs := dial(t, rsvc.Addr)
	hc := healthpb.NewHealthClient(conn)
	health := func() string {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "clusterdns.v1.RecordService"})
		if err != nil {
			return err.Error()
		}
		return resp.GetStatus().String()
	}
	readyz := func() int {
		resp, err := http.Get("http://" + rsvc.MetricsAddr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, "serving", func() string {
		if h := health(); h != "SERVING" {
			return h
		}
		if code := readyz(); code != http.StatusOK {
			return fmt.Sprintf("/readyz %d", code)
		}
		return ""
	})
	watch, _ := openWatch(t, ctx, rs, &clusterdnsv1.WatchRequest{ClientName: "lameduck"})
	lookups, err := rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1}

	if err := rsvc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "not serving after SIGTERM", func() string {
		if h := health(); h != "NOT_SERVING" {
			return "health " + h
		}
		if code := readyz(); code != http.StatusServiceUnavailable {
			return fmt.Sprintf("/readyz %d", code)
		}
		return ""
	})
	// Still answering, on every path.
	if resp, err := rs.Lookup(ctx, q); err != nil || resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
		t.Fatalf("Lookup in lameduck: %v %v", resp, err)
	}
	if err := lookups.Send(&clusterdnsv1.LookupStreamRequest{Id: 7, Request: q}); err != nil {
		t.Fatal(err)
	}
	if msg, err := lookups.Recv(); err != nil || msg.GetResponse().GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
		t.Fatalf("LookupStream in lameduck: %v %v", msg, err)
	}
	if resp, err := http.Get("http://" + rsvc.MetricsAddr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz in lameduck: %v %v", resp, err)
	}
	// The source keeps the index current: a change reaches the watcher.
	writeFile(t, file, base+namespaceDocs("late"))
	for {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatalf("Watch in lameduck: %v", err)
		}
		if keysOf([]*clusterdnsv1.WatchResponse{msg})["ns/late"] {
			break
		}
	}

	// Then the streams end, so that clients move on, and the process exits.
	for {
		_, err := watch.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("Watch ended with %v, want UNAVAILABLE", err)
		}
		break
	}
	if _, err := lookups.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("LookupStream ended with %v, want UNAVAILABLE", err)
	}
	eventually(t, "process exit", func() string {
		if rsvc.Running() {
			return "still running"
		}
		return ""
	})
}
