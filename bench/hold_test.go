package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/kubecluster"
)

// holdEnv, set to a duration, makes TestHoldCluster keep a populated
// full-scale cluster running that long, for manual probes (memory profiles
// of the record service, say) without repopulating for each.
const holdEnv = "CLUSTERDNS_BENCH_HOLD"

// TestHoldCluster starts etcd and kube-apiserver, populates them at full
// scale, links the admin kubeconfig as $TMPDIR/bench-hold.kubeconfig
// (printed in the log) and waits:
//
//	CLUSTERDNS_BENCH_HOLD=60m go test -run TestHoldCluster -timeout 90m -v ./bench/
func TestHoldCluster(t *testing.T) {
	hold, err := time.ParseDuration(os.Getenv(holdEnv))
	if err != nil {
		t.Skipf("set %s to a duration to hold a populated cluster", holdEnv)
	}
	ctx := t.Context()
	kc := kubecluster.Start(t)
	fast, err := FastClient(kc.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	etcdURL, err := ChildEtcdURL()
	if err != nil {
		t.Fatal(err)
	}
	etcd := NewEtcdWriter(etcdURL, 48)
	defer etcd.Close()
	stats, err := Populate(ctx, fast, etcd, Generate(FullScale()), 48)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(os.TempDir(), "bench-hold.kubeconfig")
	_ = os.Remove(link)
	if err := os.Symlink(kc.Kubeconfig, link); err != nil {
		t.Fatal(err)
	}
	t.Logf("populated in %s; kubeconfig %s (linked from %s); holding for %s", stats.Elapsed, kc.Kubeconfig, link, hold)
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
}
