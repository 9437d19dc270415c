// Package monitoring checks clusterdns's monitoring against the real
// binaries: the CoreDNS-named series a frontend exposes (names, labels, and
// values that move with real queries over UDP and TCP, cached and
// forwarded), that every metric deploy/monitoring's dashboard and alert
// rules query is exposed by a binary, the rules with promtool, and the
// stamped version of both binaries.
//
// Run from the module root: go test ./test/monitoring/
package monitoring

import (
	"os"
	"testing"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestMain builds the frontend and record service once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}
