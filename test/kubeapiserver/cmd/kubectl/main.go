// Command kubectl is the upstream Kubernetes client, used by tests to apply
// fixtures and to validate deploy/ with a server-side dry run.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// Most commands print their own errors; those that return one
		// (kustomize, apply -k) are printed here, as upstream's kubectl does.
		cmdutil.CheckErr(err)
		os.Exit(1)
	}
}
