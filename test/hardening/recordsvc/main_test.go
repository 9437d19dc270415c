// Package recordsvc tests the record service's transport security,
// authorization and admission limits through the real binary over the
// network: mutual TLS, certificate rotation, namespace-scoped clients, the
// plaintext guard, Watch-stream floods and the certificate bootstrap
// against a real kube-apiserver.
package recordsvc

import (
	"os"
	"testing"

	"github.com/clusterdns/clusterdns/test/stack"
)

func TestMain(m *testing.M) { os.Exit(stack.Main(m)) }
