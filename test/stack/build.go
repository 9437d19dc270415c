// Package stack builds the clusterdns binaries and runs them as real processes
// on loopback for end-to-end tests: record services, frontends, and the DNS and
// metrics clients that talk to them.
//
// A test package builds the binaries once in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(stack.Main(m)) }
//
// and each test gets them with stack.Installed(t).
package stack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	// BinDirEnv names a directory holding prebuilt `frontend`, `recordsvc` and
	// `clusterdnsctl` binaries. Main sets it after building; set it beforehand
	// to skip the build.
	BinDirEnv = "CLUSTERDNS_BIN_DIR"
	// buildErrorEnv carries a failed build's message from Main to Installed, so
	// that only the tests that need the binaries fail.
	buildErrorEnv = "CLUSTERDNS_BUILD_ERROR"
	// buildTimeout bounds `go build` of the binaries.
	buildTimeout = 10 * time.Minute

	frontendPackage      = "github.com/clusterdns/clusterdns/frontend"
	recordServicePackage = "github.com/clusterdns/clusterdns/recordsvc"
	ctlPackage           = "github.com/clusterdns/clusterdns/clusterdnsctl"
)

// Binaries are the paths of the clusterdns executables.
type Binaries struct {
	// Frontend is the DNS server binary (./frontend).
	Frontend string
	// RecordService is the record service binary (./recordsvc).
	RecordService string
	// Ctl is the operator CLI (./clusterdnsctl). Installed does not check
	// it, so that a BinDirEnv directory holding only the two servers keeps
	// working for the tests that need only them; InstalledCtl does.
	Ctl string
}

// Build compiles the frontend, the record service and clusterdnsctl into a
// new temporary directory (`CGO_ENABLED=0 go build -trimpath -ldflags="-s -w"
// -o DIR/ ./frontend ./recordsvc ./clusterdnsctl`). The working directory
// must lie inside the clusterdns module, as a test's does. cleanup removes
// the directory.
func Build(ctx context.Context) (Binaries, func(), error) {
	dir, err := os.MkdirTemp("", "clusterdns-bin-")
	if err != nil {
		return Binaries{}, nil, fmt.Errorf("build: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	// Built as deploy/Dockerfile builds them, so that what tests and
	// benchmarks run (and measure) is what gets deployed.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", dir+string(filepath.Separator), frontendPackage, recordServicePackage, ctlPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		cleanup()
		return Binaries{}, nil, fmt.Errorf("go build %s %s %s: %w\n%s", frontendPackage, recordServicePackage, ctlPackage, err, out.String())
	}
	return binariesIn(dir), cleanup, nil
}

// binariesIn returns the binary paths inside dir.
func binariesIn(dir string) Binaries {
	return Binaries{
		Frontend:      filepath.Join(dir, "frontend"),
		RecordService: filepath.Join(dir, "recordsvc"),
		Ctl:           filepath.Join(dir, "clusterdnsctl"),
	}
}

// Main is the body of a TestMain: it builds the binaries (unless BinDirEnv
// already names a directory of them), publishes their directory in BinDirEnv
// for Installed, runs the tests and removes the build. A build failure fails
// only the tests that call Installed, with the compiler's output.
func Main(m *testing.M) int {
	if os.Getenv(BinDirEnv) != "" {
		return m.Run()
	}
	bins, cleanup, err := Build(context.Background())
	if err != nil {
		os.Setenv(buildErrorEnv, err.Error())
		return m.Run()
	}
	defer cleanup()
	os.Setenv(BinDirEnv, filepath.Dir(bins.Frontend))
	return m.Run()
}

// Installed returns the binaries Main built (or BinDirEnv names); it fails t
// when they are unavailable.
func Installed(t testing.TB) Binaries {
	t.Helper()
	if msg := os.Getenv(buildErrorEnv); msg != "" {
		t.Fatalf("stack: building the clusterdns binaries failed: %s", msg)
	}
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		t.Fatalf("stack: %s is not set; call stack.Main from TestMain or set it to a directory holding frontend and recordsvc", BinDirEnv)
	}
	bins := binariesIn(dir)
	for _, p := range []string{bins.Frontend, bins.RecordService} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("stack: %v", err)
		}
	}
	return bins
}

// InstalledCtl is Installed for tests that also run clusterdnsctl: it
// fails t when that binary is missing too.
func InstalledCtl(t testing.TB) Binaries {
	t.Helper()
	bins := Installed(t)
	if _, err := os.Stat(bins.Ctl); err != nil {
		t.Fatalf("stack: %v (a %s directory built before clusterdnsctl existed?)", err, BinDirEnv)
	}
	return bins
}
