package nodee2e

import (
	"context"
	"testing"
	"time"
)

// TestCutover runs deploy/README.md's two procedures on a node that starts
// with kubeadm's CoreDNS, while glibc, musl and Go clients in pods resolve
// cluster and external names at 60 lookups/s: CoreDNS to clusterdns, then
// back. Every lookup is counted; none may fail or be wrong.
func TestCutover(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	useDNS(ctx, t, n, coreDNS)

	w := setUpWorkload(ctx, t, n.Client, "dns-cutover")
	load := startLoad(ctx, t, n.Client, w)
	begin := time.Now()
	// A few seconds of CoreDNS alone, so that a problem of the clients or
	// the workload shows before any switch.
	time.Sleep(5 * time.Second)
	cutover(ctx, t, n)
	if err := waitDNSReady(ctx, n, clusterDNS); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // clusterdns alone
	switchBack(ctx, t, n)
	if err := waitDNSReady(ctx, n, coreDNS); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // CoreDNS alone again
	checkLoad(t, "cutover to clusterdns and back", load.stop(ctx, t), time.Since(begin))
}
