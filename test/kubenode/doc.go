// Package kubenode runs a one-machine Kubernetes node for tests and for
// people: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kubelet and kube-proxy built from k8s.io/kubernetes (test/kubeapiserver),
// Debian's containerd and runc, and the CNI bridge plugins.
//
// Everything the node makes lives under one state directory, and Down removes
// exactly that: processes and their children, containers, network namespaces,
// the bridge, routes, the harness's and kubelet's and kube-proxy's iptables
// chains, and mounts. Up first runs Down on a state directory left by a
// crashed run.
//
// Network safety: before any component starts, the host gets unreachable
// routes for the pod and Service CIDRs and an iptables chain that rejects pod
// traffic to anything outside the pod CIDR, the Service CIDR and the bridge
// gateway, so no pod packet leaves the machine. The node's upstream resolver
// is a server of the harness on the bridge gateway answering a fixed test zone
// (see Upstream); it never recurses.
package kubenode
