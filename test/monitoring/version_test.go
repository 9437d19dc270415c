package monitoring

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/stack"
)

// TestVersionStamped builds both binaries with the version and commit set
// at link time, as a release build does, and checks --version and the
// build-info metrics.
func TestVersionStamped(t *testing.T) {
	const (
		pkg      = "github.com/clusterdns/clusterdns/internal/buildinfo"
		version  = "v0.0.0-monitoring"
		revision = "0123456789abcdef"
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -buildvcs=false: the commit of a work tree would win over -X.
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -X "+pkg+".version="+version+" -X "+pkg+".revision="+revision,
		"-o", dir+string(filepath.Separator),
		"github.com/clusterdns/clusterdns/frontend", "github.com/clusterdns/clusterdns/recordsvc")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bins := stack.Binaries{Frontend: filepath.Join(dir, "frontend"), RecordService: filepath.Join(dir, "recordsvc")}
	for name, bin := range map[string]string{"frontend": bins.Frontend, "recordsvc": bins.RecordService} {
		out, err := exec.CommandContext(ctx, bin, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", name, err)
		}
		want := regexp.MustCompile(`^` + name + ` ` + regexp.QuoteMeta(version) + ` \(revision ` + revision + `, go1\.\d+[^)]*\)\n$`)
		if !want.Match(out) {
			t.Errorf("%s --version printed %q, want %s", name, out, want)
		}
	}

	rs := stack.StartRecordService(t, bins, "--source", "file:"+exampleCluster)
	fe := stack.StartFrontend(t, bins, rs.Addr)
	labels := map[string]string{"version": version, "revision": revision}
	for _, c := range []struct {
		addr, name string
	}{
		{rs.MetricsAddr, "clusterdns_build_info"},
		{fe.MetricsAddr, "clusterdns_build_info"},
		{fe.MetricsAddr, "coredns_build_info"},
	} {
		if got := stack.ScrapeMetrics(t, c.addr).SumWhere(c.name, labels); got != 1 {
			t.Errorf("%s at %s: %v with version %s revision %s, want 1", c.name, c.addr, got, version, revision)
		}
	}
}
