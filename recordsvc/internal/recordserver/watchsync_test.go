package recordserver

import (
	"testing"
	"time"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// TestWatchResumeWaitsForSync follows a replica, then asks a replica that
// is still loading the same objects to resume: it answers only once it
// has synced, and then resumes (by digest) instead of sending a resync. A
// fresh watcher of the loading replica starts at once.
func TestWatchResumeWaitsForSync(t *testing.T) {
	old := start(t, kubeindex.Config{StartRevision: 10})
	fresh := start(t, kubeindex.Config{StartRevision: 500})
	ctx := callCtx(t)
	feed(old.ix)
	old.ix.MarkSynced()
	s, err := old.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	point := recv(t, s)

	fresh.ix.SetNamespace("default") // half loaded: the Service is missing
	s2, err := fresh.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "new"})
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, s2); !m.GetResync() {
		t.Fatalf("fresh watcher of an unsynced replica: %v, want a resync at once", m)
	}

	resumed := make(chan *clusterdnsv1.WatchResponse, 1)
	go func() {
		s, err := fresh.rs.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "frontend", ResumeRevision: point.GetRevision(),
			ResumeServerId: point.GetServerId(), ResumeDigest: point.GetStateDigest()})
		if err != nil {
			t.Error(err)
			close(resumed)
			return
		}
		m, err := s.Recv()
		if err != nil {
			t.Error(err)
		}
		resumed <- m
	}()
	select {
	case m := <-resumed:
		t.Fatalf("resume answered before the sync: %v", m)
	case <-time.After(200 * time.Millisecond):
	}
	feed(fresh.ix)
	fresh.ix.MarkSynced()
	m := <-resumed
	if !m.GetResumed() || m.GetResync() || len(m.GetKeys()) != 0 || m.GetServerId() != fresh.srv.ID() {
		t.Fatalf("resume after the sync: %v, want resumed with no keys", m)
	}
}
