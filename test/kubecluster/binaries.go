package kubecluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath is the main module whose bin/ directory holds the test binaries.
const modulePath = "github.com/clusterdns/clusterdns"

// binaries are the executables a cluster runs.
type binaries struct {
	etcd          string
	kubeAPIServer string
	kubectl       string
}

// findBinaries locates etcd (env ETCD, else PATH), kube-apiserver and kubectl
// (env KUBE_APISERVER / KUBECTL, else bin/ at the module root).
func findBinaries() (binaries, error) {
	var problems []string
	etcd := os.Getenv("ETCD")
	if etcd == "" {
		p, err := exec.LookPath("etcd")
		if err != nil {
			problems = append(problems, "etcd not found in PATH (Debian package etcd-server)")
		}
		etcd = p
	} else if _, err := os.Stat(etcd); err != nil {
		problems = append(problems, fmt.Sprintf("ETCD=%s: %v", etcd, err))
	}

	root, rootErr := ModuleRoot()
	lookup := func(env, name string) string {
		if p := os.Getenv(env); p != "" {
			if _, err := os.Stat(p); err != nil {
				problems = append(problems, fmt.Sprintf("%s=%s: %v", env, p, err))
			}
			return p
		}
		if rootErr != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, rootErr))
			return ""
		}
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err != nil {
			problems = append(problems, fmt.Sprintf("%s is missing", p))
		}
		return p
	}
	b := binaries{
		etcd:          etcd,
		kubeAPIServer: lookup("KUBE_APISERVER", "kube-apiserver"),
		kubectl:       lookup("KUBECTL", "kubectl"),
	}
	if len(problems) > 0 {
		return binaries{}, fmt.Errorf("%s; run `make test-deps` from the module root to install etcd and build kube-apiserver and kubectl (or set ETCD, KUBE_APISERVER, KUBECTL)",
			strings.Join(problems, "; "))
	}
	return b, nil
}

// ModuleRoot returns the directory of the go.mod declaring module
// github.com/clusterdns/clusterdns, walking up from the working directory.
// Nested modules (such as test/kubeapiserver) are passed over.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		path, err := declaredModule(filepath.Join(dir, "go.mod"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("module root: %w", err)
		}
		if path == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module root: no go.mod for %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// declaredModule returns the module path a go.mod file declares.
func declaredModule(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "\t")) {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := scanner.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", goMod, err)
	}
	return "", nil
}
