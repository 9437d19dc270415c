// Command dnsloop-go is the resolver loop client built with Go's pure
// resolver (CGO_ENABLED=0); its flags and output are those of package
// resolveloop, shared with the glibc and musl builds of dnsloop.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clusterdns/clusterdns/test/images/resolveloop"
)

func main() {
	os.Exit(run())
}

func run() int {
	o, err := resolveloop.Parse(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dnsloop:", err)
		}
		return 2
	}
	// SIGTERM (pod deletion) ends the run early but still prints the final
	// line, so kubectl logs always shows the counts.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	totals, err := resolveloop.Run(ctx, o, "go", resolveloop.GoLookup(nil), os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsloop:", err)
		return 2
	}
	if totals.Failed > 0 || totals.Wrong > 0 {
		return 1
	}
	return 0
}
