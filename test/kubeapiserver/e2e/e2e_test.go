// Package e2e builds Kubernetes' own end-to-end suite, limited to the
// sig-network specs, into bin/e2e.test so that the DNS conformance specs run
// against the one-machine node (test/nodee2e):
//
//	go test -c -o ../../bin/e2e.test ./e2e
//	bin/e2e.test --provider=skeleton --kubeconfig=... \
//	  --ginkgo.focus='\[sig-network\] DNS.*\[Conformance\]'
//
// Only test/e2e/network's specs are linked in: the DNS specs live there, and
// a smaller binary builds faster on a two-core machine.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"k8s.io/component-base/version"
	"k8s.io/kubernetes/test/e2e"
	"k8s.io/kubernetes/test/e2e/framework"
	"k8s.io/kubernetes/test/e2e/framework/config"

	// The specs: [sig-network], with DNS among them.
	_ "k8s.io/kubernetes/test/e2e/network"

	// The same framework reconfiguration upstream's e2e.test links in, so
	// failures are debugged and nodes checked as in upstream runs.
	_ "k8s.io/kubernetes/test/e2e/framework/debug/init"
	_ "k8s.io/kubernetes/test/e2e/framework/node/init"
)

func TestMain(m *testing.M) {
	showVersion := flag.CommandLine.Bool("version", false, "print the version of Kubernetes the suite comes from")
	config.CopyFlags(config.Flags, flag.CommandLine)
	framework.RegisterCommonFlags(flag.CommandLine)
	framework.RegisterClusterFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Get())
		os.Exit(0)
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %q\n", flag.Args())
		os.Exit(2)
	}
	framework.AfterReadingAllFlags(&framework.TestContext)
	os.Exit(m.Run())
}

// TestE2E runs the ginkgo suite that the flags select.
func TestE2E(t *testing.T) {
	e2e.RunE2ETests(t)
}
