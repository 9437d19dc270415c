// Package e2e runs clusterdns end to end: the real frontend and record
// service binaries, over UDP and TCP, against a real kube-apiserver (or the
// record service's file source), and validates deploy/ against the API server.
//
// Run from the module root after `make test-deps`: go test ./test/...
package e2e

import (
	"os"
	"testing"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestMain builds the frontend and record service once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}
