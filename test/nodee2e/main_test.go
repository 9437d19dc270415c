// Package nodee2e tests clusterdns as a real cluster's DNS: pods on the
// one-machine node of package kubenode, kubelet's resolv.conf, kube-proxy's
// Service rules. TestMain brings one node up for the whole package and
// removes it afterwards, also when tests fail; on a machine that cannot run
// containers it says why in one line and runs nothing.
package nodee2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
	"github.com/clusterdns/clusterdns/test/kubenode"
)

// upTimeout bounds the node's start, image builds included, on two loaded
// cores.
const upTimeout = 25 * time.Minute

// node is the package's node, set by TestMain before any test runs and
// never changed while they run.
var node *kubenode.Node

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runWithNode(m))
}

// runWithNode brings the node up, runs the tests and removes the node.
func runWithNode(m *testing.M) int {
	if reason := kubenode.CannotRun(); reason != "" {
		fmt.Printf("nodee2e: SKIP: this machine cannot run the test node's containers: %s\n", reason)
		return 0
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	stateDir, err := os.MkdirTemp("", "clusterdns-nodee2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodee2e:", err)
		return 1
	}
	cfg := kubenode.DefaultConfig()
	cfg.StateDir = stateDir
	// KUBENODE_IMAGES names a directory of image tars built beforehand
	// (buildimages -out DIR); without it the images are built here.
	cfg.ImageDir = os.Getenv("KUBENODE_IMAGES")
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	start := time.Now()
	n, err := kubenode.Up(ctx, cfg, log)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodee2e: the node did not come up:", err)
		_ = os.RemoveAll(stateDir)
		return 1
	}
	for _, t := range n.Timings {
		log.Info("node up", "phase", t.Phase, "seconds", fmt.Sprintf("%.1f", t.Duration.Seconds()))
	}
	log.Info("node up", "total_seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	node = n
	code := m.Run()
	if code != 0 {
		for _, c := range []string{"kubelet", "containerd", "kube-proxy", "kube-controller-manager", "kube-apiserver"} {
			fmt.Fprintf(os.Stderr, "nodee2e: %s log:\n%s\n", c, childproc.Tail(n.LogPath(c), 25))
		}
	}
	downStart := time.Now()
	if err := n.Down(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "nodee2e: removing the node:", err)
		code = 1
	}
	log.Info("node down", "seconds", fmt.Sprintf("%.1f", time.Since(downStart).Seconds()))
	return code
}

// testNode returns the package's running node.
func testNode(t testing.TB) *kubenode.Node {
	t.Helper()
	if node == nil {
		t.Fatal("nodee2e: no node (TestMain did not bring it up)")
	}
	return node
}
