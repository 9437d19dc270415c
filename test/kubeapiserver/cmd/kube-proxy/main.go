// Command kube-proxy is the upstream Kubernetes Service proxy, built from
// k8s.io/kubernetes so that the test node reaches Services through the same
// iptables rules a real cluster programs.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	os.Exit(cli.Run(app.NewProxyCommand()))
}
