// Package kubecluster starts a real Kubernetes control plane for integration
// tests: Debian's etcd and a kube-apiserver built from k8s.io/kubernetes
// (see test/kubeapiserver), both on free loopback ports, with an admin token,
// RBAC, service-account signing and a self-signed serving certificate.
//
// There is no controller manager, scheduler or kubelet: tests create
// EndpointSlices themselves, create the `default` ServiceAccount of a
// namespace before its Pods (see CreateServiceAccount) and set Pod IPs with
// SetPodIPs.
//
// The binaries are found in the module's bin/ directory (`make test-deps`
// puts them there) unless the environment names them: KUBE_APISERVER,
// KUBECTL, ETCD. A missing binary fails the test; it is never skipped.
package kubecluster
