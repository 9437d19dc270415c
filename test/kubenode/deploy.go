package kubenode

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/miekg/dns"
)

// LocalOverlay is the kustomize component that runs deploy/ with the images
// imported into the node (imagePullPolicy Never), relative to the module root.
const LocalOverlay = "deploy/overlays/local"

// clusterDNSDeployments are the Deployments of deploy/, in kube-system.
var clusterDNSDeployments = []string{"clusterdns-recordsvc", "clusterdns-frontend"}

// DeployClusterDNS applies the local overlay and waits until the clusterdns
// Deployments have rolled out and kube-dns answers at its cluster IP through
// kube-proxy (see WaitClusterDNS).
func (n *Node) DeployClusterDNS(ctx context.Context) error {
	root, err := kubecluster.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := n.writeLocalKustomization(root)
	if err != nil {
		return err
	}
	if _, err := n.Kubectl(ctx, "apply", "-k", dir); err != nil {
		return err
	}
	for _, d := range clusterDNSDeployments {
		if _, err := n.Kubectl(ctx, "-n", "kube-system", "rollout", "status", "deployment/"+d, "--timeout=5m"); err != nil {
			return err
		}
	}
	return n.WaitClusterDNS(ctx, 2*time.Minute)
}

// writeLocalKustomization writes STATE/deploy-local/kustomization.yaml:
// deploy/ with the LocalOverlay component. It lives outside deploy/ because
// kustomize refuses an overlay inside its base's directory.
func (n *Node) writeLocalKustomization(root string) (string, error) {
	dir := n.Config.path("deploy-local")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("local kustomization: %w", err)
	}
	base, err := filepath.Rel(dir, filepath.Join(root, "deploy"))
	if err != nil {
		return "", fmt.Errorf("local kustomization: %w", err)
	}
	component, err := filepath.Rel(dir, filepath.Join(root, LocalOverlay))
	if err != nil {
		return "", fmt.Errorf("local kustomization: %w", err)
	}
	content := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\ncomponents:\n- %s\n", base, component)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(content), 0o644); err != nil {
		return "", fmt.Errorf("local kustomization: %w", err)
	}
	return dir, nil
}

// WaitClusterDNS waits until the cluster DNS Service answers
// kubernetes.default.svc.<domain> with the kubernetes Service's address over
// UDP and TCP from the probe namespace, or timeout passes.
func (n *Node) WaitClusterDNS(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := "kubernetes.default.svc." + n.Config.ClusterDomain
	var last error
	for {
		last = CheckDNS(ctx, n.Config.ClusterDNS, name, n.Config.firstServiceIP())
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-dns at %s: %w (last: %w)", n.Config.ClusterDNS, ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}

// CheckDNS asks server for the A record of name over UDP and TCP from the
// probe namespace and checks the answer is want.
func CheckDNS(ctx context.Context, server netip.Addr, name string, want netip.Addr) error {
	for _, network := range []string{"udp", "tcp"} {
		resp, err := QueryFromProbe(ctx, server.String(), network, name, dns.TypeA)
		if err != nil {
			return err
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
			return fmt.Errorf("A %s over %s: rcode %s, %d answers", name, network, dns.RcodeToString[resp.Rcode], len(resp.Answer))
		}
		a, ok := resp.Answer[0].(*dns.A)
		if !ok {
			return fmt.Errorf("A %s over %s: answer %s", name, network, resp.Answer[0])
		}
		if got, _ := netip.AddrFromSlice(a.A.To4()); got != want {
			return fmt.Errorf("A %s over %s: %s, want %s", name, network, got, want)
		}
	}
	return nil
}

// Connect returns the Node of a running node in stateDir (started by another
// process, such as `kubenode up -detach`), for kubectl and DNS checks. Its
// Down removes the node.
func Connect(ctx context.Context, stateDir string) (*Node, error) {
	c, err := Running(ctx, stateDir)
	if err != nil {
		return nil, err
	}
	bins, err := findBinaries(c.BinDir)
	if err != nil {
		return nil, err
	}
	rc, cs, err := adminClient(c)
	if err != nil {
		return nil, err
	}
	return &Node{Config: c, RESTConfig: rc, Client: cs, bins: bins, log: discardLogger()}, nil
}
