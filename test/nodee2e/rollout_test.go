package nodee2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/clusterdns/clusterdns/test/kubenode"
)

// disruption is one step of the rollout sequence: a kubectl command against
// a Deployment, after which the test waits for it to settle again.
type disruption struct {
	name   string
	deploy string
	// podSelector picks the pod deleteOne removes; empty means rollout restart.
	podSelector string
}

// The same sequence for both servers: what an upgrade and a node failure
// do to a cluster DNS.
var rolloutSequences = map[dnsServer][]disruption{
	clusterDNS: {
		{name: "rollout restart of the frontends", deploy: frontendDeploy},
		{name: "rollout restart of the record service", deploy: recordsvcDeploy},
		{name: "delete a record-service pod", deploy: recordsvcDeploy, podSelector: recordsvcPods},
		{name: "delete a frontend pod", deploy: frontendDeploy, podSelector: frontendPods},
	},
	coreDNS: {
		{name: "rollout restart of coredns", deploy: corednsDeploy},
		{name: "delete a coredns pod", deploy: corednsDeploy, podSelector: corednsPods},
	},
}

// TestRollouts runs rollouts and pod deletions of clusterdns and of CoreDNS
// while the loop clients resolve at 60 lookups/s, and reports both side by
// side; no lookup served by clusterdns may fail or be wrong. The server the
// node runs now goes first, so the test switches once.
func TestRollouts(t *testing.T) {
	n := testNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	order := []dnsServer{clusterDNS, coreDNS}
	if cur, err := currentDNS(ctx, n); err == nil && cur == coreDNS {
		order = []dnsServer{coreDNS, clusterDNS}
	}
	for _, s := range order {
		t.Run(string(s), func(t *testing.T) {
			useDNS(ctx, t, n, s)
			w := setUpWorkload(ctx, t, n.Client, "dns-rollout-"+strings.ToLower(string(s)))
			load := startLoad(ctx, t, n.Client, w)
			begin := time.Now()
			for _, d := range rolloutSequences[s] {
				disrupt(ctx, t, n, d)
				if err := waitDNSReady(ctx, n, s); err != nil {
					t.Fatal(err)
				}
				if err := waitNoTerminating(ctx, n, d.deploy); err != nil {
					t.Fatal(err)
				}
				t.Logf("after %s: %d lookups so far", d.name, load.lookups())
			}
			what := fmt.Sprintf("%s rollouts and pod deletions", s)
			if s == clusterDNS {
				checkLoad(t, what, load.stop(ctx, t), time.Since(begin))
				if t.Failed() {
					// The surviving pods' logs place the failed lookups
					// (a deleted pod's log goes with it).
					logDNSServerLogs(ctx, t, n, recordsvcPods)
				}
				return
			}
			// CoreDNS is the peer measured beside clusterdns, as kubeadm
			// deploys it: its counts are reported, the target is ours.
			if bad := reportLoad(t, what, load.stop(ctx, t), time.Since(begin)); bad > 0 {
				t.Logf("%s: %d lookups failed or were wrong (the peer's figure, reported and not held to clusterdns's target of 0)", what, bad)
			}
		})
	}
}

// disrupt runs one step with kubectl, as an operator or a failing node would.
func disrupt(ctx context.Context, t *testing.T, n *kubenode.Node, d disruption) {
	t.Helper()
	p := newProcedure(t, n, d.name)
	if d.podSelector == "" {
		p.kubectl(ctx, "-n", "kube-system", "rollout", "restart", "deployment/"+d.deploy)
		p.kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+d.deploy, "--timeout=5m")
		return
	}
	pods := p.kubectl(ctx, "-n", "kube-system", "get", "pod", "-l", d.podSelector, "-o", "jsonpath={.items[0].metadata.name}")
	if pods == "" {
		t.Fatalf("%s: no pod matches %s", d.name, d.podSelector)
	}
	p.kubectl(ctx, "-n", "kube-system", "delete", "pod", pods)
}

// waitNoTerminating waits until the Deployment's old pods are gone, so that
// each step starts from a settled cluster and its lameduck is over.
func waitNoTerminating(ctx context.Context, n *kubenode.Node, deploy string) error {
	dep, err := n.Client.AppsV1().Deployments("kube-system").Get(ctx, deploy, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get deployment %s: %w", deploy, err)
	}
	sel := metav1.FormatLabelSelector(dep.Spec.Selector)
	return wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := n.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
		}
		return true, nil
	})
}
