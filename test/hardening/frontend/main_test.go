// Package frontend holds the hardening tests of the DNS frontend: attacks on
// its miss path, run against the real binaries over loopback (a record
// service on a file source and a frontend), each asserting a bound the
// attack must not break.
package frontend

import (
	"os"
	"testing"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestMain builds the frontend and record service once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}
