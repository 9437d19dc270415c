package nodelocal

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// inNetnsEnv marks a test binary re-run inside the namespace a test made.
const inNetnsEnv = "NODELOCAL_TEST_NETNS"

// inNetns runs the calling test in a network namespace of its own: the
// test binary runs again under `ip netns exec` with only this test
// selected, and the namespace is deleted afterwards, so the host's devices
// and nftables are never touched. It returns true in the re-run, where the
// test body goes on; the outer run returns false and the test stops there.
// Without root or the ip command the test is skipped, naming what is
// missing.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(inNetnsEnv) != "" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to make a network namespace")
	}
	if _, err := os.Stat(tunPath); err != nil {
		t.Skipf("no TUN support: %v", err)
	}
	ns := fmt.Sprintf("cdns-nl-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
		}
	})
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		t.Log(line)
	}
	if err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("skipped in the namespace (see above)")
	}
	return false
}

// run runs a command in the test's namespace and fails the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
