package release

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nodeLock serializes everything that runs containers on this machine (the
// one-machine node's tests take it with flock(1)).
const nodeLock = "/tmp/clusterdns-node.lock"

// checkContainerd imports the frontend image layout into a containerd of
// its own, as `ctr images import` does for a node, and runs the image: the
// runtime must take the multi-platform index, pick linux/amd64 and start
// the entrypoint, which reports the stamped version. The container gets a
// network namespace with loopback only. It skips where containerd, ctr or
// runc is missing or the test does not run as root.
func checkContainerd(t *testing.T, layoutDir, name, version, revision string) {
	if os.Geteuid() != 0 {
		t.Skip("running a container needs root")
	}
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (make node-deps): %v", bin, err)
		}
	}
	lockNode(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	daemon.Stdout, daemon.Stderr = logFile, logFile
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = daemon.Process.Kill()
			<-done
		}
		logFile.Close()
		unmountUnder(t, dir)
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("containerd log:\n%s", b)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctr := func(args ...string) string {
		t.Helper()
		full := append([]string{"--address", sock, "-n", "clusterdns-release-test"}, args...)
		out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for {
		if _, err := exec.CommandContext(ctx, "ctr", "--address", sock, "version").CombinedOutput(); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("containerd did not start")
		}
		time.Sleep(200 * time.Millisecond)
	}

	archive := filepath.Join(dir, "image.tar")
	tarLayout(t, layoutDir, archive)
	ctr("images", "import", "--all-platforms", archive)
	if out := ctr("images", "ls"); !strings.Contains(out, name) || !strings.Contains(out, "linux/amd64,linux/arm64") {
		t.Errorf("ctr images ls after the import:\n%s\nwant %s for linux/amd64,linux/arm64", out, name)
	}
	// The image's entrypoint and user, with --version as its argument.
	out := ctr("run", "--rm", name, "release-test", "/frontend", "--version")
	if want := "frontend " + version + " (revision " + revision + ","; !strings.HasPrefix(strings.TrimSpace(out), want) {
		t.Errorf("the container printed %q, want it to start with %q", out, want)
	}
	ctr("images", "rm", name)
}

// lockNode takes the machine-wide lock of container tests for the rest of
// the test, waiting at most five minutes for it.
func lockNode(t *testing.T) {
	f, err := os.OpenFile(nodeLock, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Skipf("%s: %v (the node tests hold it)", nodeLock, err)
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { f.Close() })
}

// unmountUnder lazily unmounts whatever containerd left mounted below dir,
// deepest first, so that the directory can be removed.
func unmountUnder(t *testing.T, dir string) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Log(err)
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 1 && strings.HasPrefix(fields[1], dir+"/") {
			mounts = append(mounts, fields[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", mounts[i], err)
		}
	}
}

// tarLayout writes the layout directory as the tar `ctr images import`
// reads.
func tarLayout(t *testing.T, dir, archive string) {
	out, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		if hdr.Name, err = filepath.Rel(dir, p); err != nil {
			return err
		}
		if e.IsDir() {
			hdr.Name += "/"
			return tw.WriteHeader(hdr)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}
