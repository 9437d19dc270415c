package kubenode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// Config says where the node keeps its state and which addresses it uses.
// Zero fields take the defaults of DefaultConfig.
type Config struct {
	// StateDir holds every file, socket, log and mount of the node.
	StateDir string `json:"stateDir"`
	// BinDir holds kube-apiserver, kubelet, kube-proxy, kube-controller-manager,
	// kube-scheduler and kubectl (make test-deps builds them into bin/).
	BinDir string `json:"binDir"`
	// NodeName is the Node object's name.
	NodeName string `json:"nodeName"`
	// Bridge is the Linux bridge the pods attach to; the harness creates it.
	Bridge string `json:"bridge"`
	// PodCIDR is the cluster's pod range; the host gets an unreachable route
	// for it so that only the node's own subnet is reachable.
	PodCIDR netip.Prefix `json:"podCIDR"`
	// NodePodCIDR is the node's share of PodCIDR, on the bridge.
	NodePodCIDR netip.Prefix `json:"nodePodCIDR"`
	// ServiceCIDR is the Service range (unreachable unless kube-proxy DNATs).
	ServiceCIDR netip.Prefix `json:"serviceCIDR"`
	// ClusterDNS is the kube-dns Service address kubelet gives pods.
	ClusterDNS netip.Addr `json:"clusterDNS"`
	// ClusterDomain is the cluster zone.
	ClusterDomain string `json:"clusterDomain"`
	// ImageDir holds OCI image archives (*.tar) to import; empty means the
	// images are built into StateDir/images with test/images/cmd/buildimages.
	ImageDir string `json:"imageDir"`
	// Images are the keys of the images to build (buildimages -only); empty
	// builds them all.
	Images []string `json:"images,omitempty"`
	// SkipImages leaves image building and importing out (for tests of the
	// harness itself, which import their own).
	SkipImages bool `json:"skipImages"`
}

// Fixed ports of the node. They are bound on the bridge gateway or loopback
// only, never on an address that other machines reach.
const (
	apiServerPort  = 6443
	etcdClientPort = 12379
	etcdPeerPort   = 12380
	kubeletPort    = 10250
	// probeNetns is the network namespace of the harness from which Service
	// addresses are reached like a pod reaches them (see Node.InProbeNetns).
	probeNetns = "clusterdns-probe"
	// egressChain is the harness's iptables chain keeping pod traffic on the node.
	egressChain = "CLUSTERDNS-NODE-EGRESS"
	// stateFile records the Config of a running node for Down and status.
	stateFile = "node.json"
)

// DefaultConfig is a node at /var/lib/clusterdns-node with kubeadm's Service
// range and a 10.244.0.0/16 pod range.
func DefaultConfig() Config {
	return Config{
		StateDir:      "/var/lib/clusterdns-node",
		NodeName:      "clusterdns-node",
		Bridge:        "cdns0",
		PodCIDR:       netip.MustParsePrefix("10.244.0.0/16"),
		NodePodCIDR:   netip.MustParsePrefix("10.244.0.0/24"),
		ServiceCIDR:   netip.MustParsePrefix("10.96.0.0/16"),
		ClusterDNS:    netip.MustParseAddr("10.96.0.10"),
		ClusterDomain: "cluster.local",
	}
}

// withDefaults fills zero fields from DefaultConfig and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.StateDir == "" {
		c.StateDir = d.StateDir
	}
	if c.NodeName == "" {
		c.NodeName = d.NodeName
	}
	if c.Bridge == "" {
		c.Bridge = d.Bridge
	}
	if !c.PodCIDR.IsValid() {
		c.PodCIDR = d.PodCIDR
	}
	if !c.NodePodCIDR.IsValid() {
		c.NodePodCIDR = d.NodePodCIDR
	}
	if !c.ServiceCIDR.IsValid() {
		c.ServiceCIDR = d.ServiceCIDR
	}
	if !c.ClusterDNS.IsValid() {
		c.ClusterDNS = d.ClusterDNS
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = d.ClusterDomain
	}
	abs, err := filepath.Abs(c.StateDir)
	if err != nil {
		return c, fmt.Errorf("state dir: %w", err)
	}
	// Down finds the node's processes and mounts by this path, so a short or
	// shared one would match things that are not the node's.
	if len(abs) < 8 || abs == "/tmp" || abs == "/var/lib" {
		return c, fmt.Errorf("state dir %q is too general: give the node a directory of its own", abs)
	}
	c.StateDir = abs
	switch {
	case !c.PodCIDR.Addr().Is4() || !c.NodePodCIDR.Addr().Is4() || !c.ServiceCIDR.Addr().Is4():
		return c, errors.New("the node is IPv4 only: pod and Service CIDRs must be IPv4")
	case !c.PodCIDR.Contains(c.NodePodCIDR.Addr()) || c.NodePodCIDR.Bits() < c.PodCIDR.Bits():
		return c, fmt.Errorf("node pod CIDR %s is not inside pod CIDR %s", c.NodePodCIDR, c.PodCIDR)
	case c.NodePodCIDR.Bits() > 26:
		return c, fmt.Errorf("node pod CIDR %s is too small (at most /26)", c.NodePodCIDR)
	case !c.ServiceCIDR.Contains(c.ClusterDNS):
		return c, fmt.Errorf("cluster DNS %s is not inside Service CIDR %s", c.ClusterDNS, c.ServiceCIDR)
	case c.PodCIDR.Overlaps(c.ServiceCIDR):
		return c, fmt.Errorf("pod CIDR %s overlaps Service CIDR %s", c.PodCIDR, c.ServiceCIDR)
	case len(c.Bridge) > 15:
		return c, fmt.Errorf("bridge name %q is longer than 15 bytes", c.Bridge)
	}
	return c, nil
}

// Gateway is the bridge's address: the node's IP, where the API server,
// kubelet and the upstream resolver listen.
func (c Config) Gateway() netip.Addr { return c.NodePodCIDR.Masked().Addr().Next() }

// probeAddr is the address of the harness's probe namespace on the bridge.
func (c Config) probeAddr() netip.Addr { return c.Gateway().Next() }

// firstServiceIP is the kubernetes Service's address.
func (c Config) firstServiceIP() netip.Addr { return c.ServiceCIDR.Masked().Addr().Next() }

// path returns a path under the state directory.
func (c Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

// Kubeconfig is the admin kubeconfig of the node.
func (c Config) Kubeconfig() string { return c.path("pki", "admin.kubeconfig") }

// containerdSocket is the node's containerd address.
func (c Config) containerdSocket() string { return c.path("containerd", "containerd.sock") }

// save writes the config into the state directory for Down and status.
func (c Config) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode node config: %w", err)
	}
	if err := os.WriteFile(c.path(stateFile), data, 0o644); err != nil {
		return fmt.Errorf("write node config: %w", err)
	}
	return nil
}

// LoadConfig reads the config a node saved in stateDir.
func LoadConfig(stateDir string) (Config, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if err != nil {
		return Config{}, fmt.Errorf("read node config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("decode %s: %w", filepath.Join(stateDir, stateFile), err)
	}
	return c.withDefaults()
}
