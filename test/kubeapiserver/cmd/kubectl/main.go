// Command kubectl is the upstream Kubernetes client, used by tests to apply
// fixtures and to validate deploy/ with a server-side dry run.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// kubectl prints its own errors.
		os.Exit(1)
	}
}
