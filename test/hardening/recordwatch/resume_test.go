package recordwatch

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// createService creates a ClusterIP Service in default with one port and
// returns its allocated cluster IP.
func createService(t *testing.T, ctx context.Context, c *kubecluster.Cluster, name string) string {
	t.Helper()
	svc, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return svc.Spec.ClusterIP
}

// waitAnswers polls a record service until name resolves (A).
func waitAnswers(t *testing.T, ctx context.Context, rs clusterdnsv1.RecordServiceClient, name string) {
	t.Helper()
	eventually(t, name+" answered", func() string {
		resp, err := rs.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: name, Qtype: 1})
		if err != nil {
			return err.Error()
		}
		if resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
			return resp.GetResult().String()
		}
		return ""
	})
}

// readThrough reads stream until a message with a state digest at revision
// rev or later and returns the messages read.
func readThrough(t *testing.T, stream interface {
	Recv() (*clusterdnsv1.WatchResponse, error)
}, rev uint64) []*clusterdnsv1.WatchResponse {
	t.Helper()
	var out []*clusterdnsv1.WatchResponse
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("control watch: %v", err)
		}
		out = append(out, msg)
		if msg.GetRevision() >= rev && len(msg.GetStateDigest()) > 0 {
			return out
		}
	}
}

// TestResumeAfterDrop drops a Watch connection, changes the cluster through
// the API server meanwhile, and resumes on a new connection: the first
// message says resumed and the catch-up holds exactly the keys an
// uninterrupted watcher received in between.
func TestResumeAfterDrop(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rsvc := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--lameduck", "0s")
	_, rs := dial(t, rsvc.Addr)
	waitAnswers(t, ctx, rs, "kubernetes.default.svc.cluster.local.")

	control, _ := openWatch(t, ctx, rs, &clusterdnsv1.WatchRequest{ClientName: "control"})
	conn, dropped := dial(t, rsvc.Addr)
	_, first := openWatch(t, ctx, dropped, &clusterdnsv1.WatchRequest{ClientName: "dropped"})
	point := first[len(first)-1]
	conn.Close() // the connection breaks

	ipA := createService(t, ctx, c, "resume-a")
	ipB := createService(t, ctx, c, "resume-b")
	waitAnswers(t, ctx, rs, "resume-a.default.svc.cluster.local.")
	waitAnswers(t, ctx, rs, "resume-b.default.svc.cluster.local.")

	_, again := dial(t, rsvc.Addr)
	_, catchUp := openWatch(t, ctx, again, resumeFrom(point))
	if !catchUp[0].GetResumed() || catchUp[0].GetResync() || catchUp[0].GetServerId() != point.GetServerId() {
		t.Fatalf("resume after a dropped connection: first message %v, want resumed", catchUp[0])
	}
	end := catchUp[len(catchUp)-1].GetRevision()
	missed := keysOf(readThrough(t, control, end))
	got := keysOf(catchUp)
	for _, k := range []string{"svc/default/resume-a", "ip/" + ipA, "svc/default/resume-b", "ip/" + ipB} {
		if !got[k] {
			t.Errorf("catch-up lacks %s", k)
		}
	}
	if !maps.Equal(got, missed) {
		t.Fatalf("catch-up keys %v, the uninterrupted watcher got %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(missed)))
	}
	t.Logf("resumed at revision %d with %d keys: %v", end, len(got), slices.Sorted(maps.Keys(got)))
}

// TestResumeAtAnotherReplica follows one replica, then resumes at a second
// replica watching the same API server: the state digest identifies the
// resume point across processes, so the catch-up is the change made
// since, not a resync. A replica restarted with the same objects resumes
// by digest too; a resume point nobody knows gets a resync.
func TestResumeAtAnotherReplica(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	one := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--lameduck", "0s")
	two := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--lameduck", "0s")
	_, rs1 := dial(t, one.Addr)
	_, rs2 := dial(t, two.Addr)
	createService(t, ctx, c, "before")
	waitAnswers(t, ctx, rs1, "before.default.svc.cluster.local.")
	waitAnswers(t, ctx, rs2, "before.default.svc.cluster.local.")

	// Both replicas converge on the same digest once they hold the same
	// objects; the control watch on replica two starts there.
	var point *clusterdnsv1.WatchResponse
	var control2 clusterdnsv1.RecordService_WatchClient
	eventually(t, "replicas at the same digest", func() string {
		w1, first1 := openWatch(t, ctx, rs1, &clusterdnsv1.WatchRequest{ClientName: "follower"})
		w2, first2 := openWatch(t, ctx, rs2, &clusterdnsv1.WatchRequest{ClientName: "control"})
		d1, d2 := first1[0].GetStateDigest(), first2[0].GetStateDigest()
		if !slices.Equal(d1, d2) {
			w1.CloseSend()
			w2.CloseSend()
			return fmt.Sprintf("digests %x and %x", d1, d2)
		}
		point, control2 = first1[0], w2
		return ""
	})
	if point.GetServerId() == "" {
		t.Fatalf("no server id in %v", point)
	}

	ip := createService(t, ctx, c, "after")
	waitAnswers(t, ctx, rs2, "after.default.svc.cluster.local.")
	_, catchUp := openWatch(t, ctx, rs2, resumeFrom(point))
	first := catchUp[0]
	if !first.GetResumed() || first.GetResync() || first.GetServerId() == point.GetServerId() {
		t.Fatalf("resume at another replica: first message %v, want resumed by replica two", first)
	}
	got := keysOf(catchUp)
	missed := keysOf(readThrough(t, control2, catchUp[len(catchUp)-1].GetRevision()))
	if !got["svc/default/after"] || !got["ip/"+ip] || !maps.Equal(got, missed) {
		t.Fatalf("catch-up keys %v, replica two's watcher got %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(missed)))
	}
	t.Logf("replica %s resumed %s's point (revision %d) with %v", first.GetServerId(), point.GetServerId(),
		point.GetRevision(), slices.Sorted(maps.Keys(got)))

	// A rolling update: replica one restarts (new identity, same objects).
	_, latest := openWatch(t, ctx, rs1, &clusterdnsv1.WatchRequest{ClientName: "before-restart"})
	before := latest[0]
	if err := one.Stop(); err != nil {
		t.Fatal(err)
	}
	one.Restart(t)
	_, rs1 = dial(t, one.Addr)
	waitAnswers(t, ctx, rs1, "after.default.svc.cluster.local.")

	tests := []struct {
		name    string
		req     *clusterdnsv1.WatchRequest
		resumed bool
	}{
		{"restarted replica, by digest", resumeFrom(before), true},
		{"restarted replica, revision of the old process only", &clusterdnsv1.WatchRequest{
			ResumeRevision: before.GetRevision(), ResumeServerId: before.GetServerId()}, false},
		{"digest nobody had", &clusterdnsv1.WatchRequest{ResumeRevision: before.GetRevision(),
			ResumeServerId: before.GetServerId(), ResumeDigest: []byte("not-a-real-state")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msgs := openWatch(t, ctx, rs1, tt.req)
			m := msgs[0]
			if m.GetResumed() != tt.resumed || m.GetResync() == tt.resumed || m.GetServerId() == before.GetServerId() {
				t.Fatalf("first message %v, want resumed %v", m, tt.resumed)
			}
			if tt.resumed && len(keysOf(msgs)) != 0 {
				t.Fatalf("nothing changed across the restart, yet the catch-up has keys %v", keysOf(msgs))
			}
		})
	}
}
