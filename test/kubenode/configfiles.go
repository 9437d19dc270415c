package kubenode

import (
	"fmt"
	"os"
	"path/filepath"
)

// Configuration files of containerd, CNI, kubelet and kube-proxy. Each is
// written into the state directory and names only paths inside it, the
// Debian binaries, and addresses on the bridge or loopback.

// cniBinDir is where Debian's containernetworking-plugins installs them.
const cniBinDir = "/usr/lib/cni"

// containerdConfig has no registry mirrors and no listener but its socket:
// every image is imported beforehand, so nothing can be pulled.
func containerdConfig(c Config) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:test"
  # This sandbox drops CAP_SYS_RESOURCE: without this, lowering a shim's
  # oom_score_adj fails and every pod sandbox with it.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
`, c.path("containerd", "root"), c.path("containerd", "state"), c.containerdSocket(),
		c.containerdSocket()+".ttrpc", c.path("containerd", "opt"), cniBinDir, c.path("cni", "net.d"))
}

// cniConfig attaches pods to the harness's bridge with addresses of the
// node's pod CIDR kept in the state directory (host-local dataDir), and no
// masquerading: pod traffic has nowhere to go but the node.
func cniConfig(c Config) string {
	first := c.probeAddr()
	for range 8 {
		first = first.Next()
	}
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "clusterdns-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q, "rangeStart": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, c.Bridge, c.path("cni", "ipam"), c.NodePodCIDR.Masked().String(), c.Gateway().String(), first.String())
}

// kubeletConfig holds the settings node-facts found this machine needs
// (cgroup v1, cgroupfs, no QoS cgroups, no swap check), no image garbage
// collection (imported images cannot be pulled again) and eviction
// thresholds low enough that a busy disk does not evict the test pods.
func kubeletConfig(c Config) string {
	pki := c.path("pki")
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: %[3]s/kubelet.crt
tlsPrivateKeyFile: %[3]s/kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[3]s/ca.crt
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://%[4]s
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
clusterDNS: [%[5]s]
clusterDomain: %[6]s
resolvConf: %[7]s
podLogsDir: %[8]s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
maxPods: 110
serializeImagePulls: false
`, c.Gateway(), kubeletPort, pki, c.containerdSocket(), c.ClusterDNS, c.ClusterDomain,
		c.path("resolv.conf"), c.path("pod-logs"))
}

// kubeProxyConfig runs iptables mode with NodePorts on the bridge gateway
// only, and leaves the host's conntrack sysctls and its own oom_score_adj
// alone (this sandbox may not change them).
func kubeProxyConfig(c Config) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: %s
nodePortAddresses: [%s/32]
oomScoreAdj: 0
iptables:
  localhostNodePorts: false
  minSyncPeriod: 0s
  syncPeriod: 30s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.path("pki", "kube-proxy.kubeconfig"), c.NodeName, c.Gateway(), c.PodCIDR, c.Gateway())
}

// resolvConf is the node's resolver configuration: kubelet hands it to pods
// with dnsPolicy Default (the frontends among them), so their upstream is the
// harness's server on the gateway.
func resolvConf(c Config) string {
	return fmt.Sprintf("# clusterdns test node: the harness's upstream, never a real resolver\nnameserver %s\n", c.Gateway())
}

// writeConfigFiles writes every configuration file of the node.
func writeConfigFiles(c Config) error {
	files := map[string]string{
		c.path("containerd", "config.toml"):              containerdConfig(c),
		c.path("cni", "net.d", "10-clusterdns.conflist"): cniConfig(c),
		c.path("kubelet", "config.yaml"):                 kubeletConfig(c),
		c.path("kube-proxy", "config.yaml"):              kubeProxyConfig(c),
		c.path("resolv.conf"):                            resolvConf(c),
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("config files: %w", err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("config files: %w", err)
		}
	}
	for _, dir := range []string{"logs", "pod-logs", "etcd", "kubelet/root"} {
		if err := os.MkdirAll(c.path(dir), 0o755); err != nil {
			return fmt.Errorf("config files: %w", err)
		}
	}
	return nil
}
