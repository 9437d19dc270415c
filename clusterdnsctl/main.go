// Command clusterdnsctl is the operator's client of clusterdns: it asks the
// record service's RecordService and DiscoveryService over gRPC (lookups,
// Services with their endpoints, watches) and reads a frontend's cache
// statistics from its /metrics. `clusterdnsctl --help` lists the commands
// and the exit codes scripts can rely on.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// An interrupt ends a watch normally; a single call it cancels.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
