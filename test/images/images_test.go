package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/images/dnstest"
	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

func TestSelect(t *testing.T) {
	tests := []struct {
		keys    []string
		want    []string
		wantErr bool
	}{
		{keys: nil, want: []string{"frontend", "recordsvc", "pause", "coredns", "dnsclient-glibc", "dnsclient-musl", "dnsclient-go", "agnhost", "glibc-dns-testing"}},
		{keys: []string{"dnsclient-go", "pause"}, want: []string{"pause", "dnsclient-go"}},
		{keys: []string{"pause", "nginx"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			specs, err := Select(tt.keys)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			var got []string
			for _, s := range specs {
				got = append(got, s.Key)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSharedLibs(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this machine")
	}
	libs, err := sharedLibs(context.Background(), sh)
	if err != nil {
		t.Fatal(err)
	}
	var libc, loader bool
	for _, l := range libs {
		libc = libc || filepath.Base(l) == "libc.so.6"
		loader = loader || strings.HasPrefix(filepath.Base(l), "ld-linux")
	}
	if !libc || !loader {
		t.Errorf("libraries of %s: %v, want libc and the loader", sh, libs)
	}
}

// needTools skips the test, saying why in one line, when the machine cannot
// build or run the images: the builds need Debian's packages and running
// them chrooted needs root.
func needTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: running the images chrooted needs root")
	}
	for _, tool := range []string{"gcc", "musl-gcc", "busybox", "dig", "getent", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is missing; run test/images/deps.sh", tool)
		}
	}
}

// unpack writes an image's layers into a fresh directory, as a runtime's
// snapshotter would (no whiteouts: these images have none).
func unpack(t *testing.T, img ocilayout.Image) (string, ocilayout.ImageConfig) {
	t.Helper()
	var buf bytes.Buffer
	if err := ocilayout.Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	read, err := ocilayout.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 1 || read[0].Name != img.Name {
		t.Fatalf("layout holds %d images", len(read))
	}
	root := t.TempDir()
	for _, layer := range read[0].Layers {
		tr := tar.NewReader(bytes.NewReader(layer))
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(root, hdr.Name)
			switch hdr.Typeflag {
			case tar.TypeDir:
				err = os.MkdirAll(p, 0o755)
			case tar.TypeSymlink:
				_ = os.Remove(p)
				err = os.Symlink(hdr.Linkname, p)
			case tar.TypeReg:
				var data []byte
				if data, err = io.ReadAll(tr); err == nil {
					_ = os.Remove(p)
					err = os.WriteFile(p, data, os.FileMode(hdr.Mode).Perm())
				}
			}
			if err != nil {
				t.Fatalf("unpack %s: %v", hdr.Name, err)
			}
		}
	}
	return root, read[0].Config
}

// chroot runs argv inside root with the image's environment.
func chroot(ctx context.Context, root string, cfg ocilayout.ImageConfig, argv ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Path = argv[0]
	cmd.Dir = "/"
	cmd.Env = cfg.Config.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode(), nil
	}
	return out.String(), 0, err
}

// TestClientImages builds the three resolver client images and the
// conformance glibc image, unpacks each, points its /etc/resolv.conf at a
// DNS server on loopback (port 53: the C libraries' resolv.conf has no port)
// and runs the loop client and the DNS tools inside it chrooted: glibc's and
// musl's getaddrinfo and Go's resolver each see NXDOMAIN, SERVFAIL, a wrong
// address and a search-list name, and count them alike.
func TestClientImages(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	srv, err := dnstest.Start("", 53, map[string]string{
		"ok.test.": "192.0.2.1", "wrong.test.": "192.0.2.99", "svc.cluster.test.": "192.0.2.2",
	}, []string{"servfail.test."})
	if err != nil {
		t.Skipf("SKIP: no loopback DNS server on port 53: %v", err)
	}
	defer srv.Close()
	resolvConf := fmt.Sprintf("nameserver %s\nsearch cluster.test\noptions ndots:5 timeout:2 attempts:2\n", srv.Addr.Addr())

	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(repo, t.TempDir(), nil)
	loopArgs := []string{"/usr/local/bin/dnsloop", "-rate", "200", "-count", "12", "-workers", "4", "-report", "1",
		"ok.test.=192.0.2.1", "nx.test.=NXDOMAIN", "svc=192.0.2.2", "wrong.test.=192.0.2.1", "missing.test.=any", "servfail.test.=any"}

	tests := []struct {
		key    string
		client string // dnsloop's client field; "" when the image has no dnsloop
		// tools are shell-free commands whose output must contain want.
		tools [][]string
		want  []string
	}{
		{key: "dnsclient-glibc", client: "glibc",
			tools: [][]string{
				{"/usr/bin/getent", "hosts", "ok.test"},
				{"/usr/bin/dig", "+short", "ok.test"},
				{"/usr/bin/nslookup", "ok.test"},
				{"/usr/bin/host", "ok.test"},
				{"/bin/getent", "hosts", "localhost"},
			},
			want: []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.1", "localhost"}},
		{key: "dnsclient-musl", client: "musl",
			tools: [][]string{{"/bin/nslookup", "ok.test"}, {"/bin/sh", "-c", "echo $((1+1)); cat /etc/resolv.conf"}},
			want:  []string{"192.0.2.1", "search cluster.test"}},
		{key: "dnsclient-go", client: "go"},
		// The e2e probe script's shape (test/e2e/network/dns_common.go).
		{key: "glibc-dns-testing",
			tools: [][]string{{"/bin/sh", "-c", `for i in $(seq 1 2); do check="$(dig +notcp +noall +answer +search svc A)" && test -n "$check" && echo OK$i; ` +
				`check="$(dig +tcp +noall +answer +search svc A)" && test -n "$check" && echo TCP$i; test -n "$(getent hosts ok.test)" && echo HOSTS; sleep 0; done`}},
			want: []string{"OK1\nTCP1\nHOSTS\nOK2\nTCP2\nHOSTS"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			specs, err := Select([]string{tt.key})
			if err != nil {
				t.Fatal(err)
			}
			img, err := b.Build(ctx, specs[0])
			if err != nil {
				t.Fatal(err)
			}
			root, cfg := unpack(t, img)
			if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte(resolvConf), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.client != "" {
				out, code, err := chroot(ctx, root, cfg, loopArgs...)
				if err != nil {
					t.Fatalf("dnsloop: %v\n%s", err, out)
				}
				checkLoop(t, tt.client, out, code)
			}
			for i, argv := range tt.tools {
				out, code, err := chroot(ctx, root, cfg, argv...)
				if err != nil || code != 0 || !strings.Contains(out, tt.want[i]) {
					t.Errorf("%v: exit %d, %v, output %q; want it to contain %q", argv, code, err, out, tt.want[i])
				}
			}
		})
	}
}

// checkLoop checks a dnsloop run of loopArgs: 12 lookups of 6 names, 6 ok,
// 2 failed (SERVFAIL), 4 wrong (a wrong address, an NXDOMAIN), exit 1.
func checkLoop(t *testing.T, client, out string, code int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var start, final map[string]any
	failures := map[string]int{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v\n%s", l, err, out)
		}
		switch m["event"] {
		case "start":
			start = m
		case "final":
			final = m
		case "failure":
			failures[fmt.Sprint(m["name"], " ", m["class"])]++
		}
	}
	if start == nil || start["client"] != client || final == nil || lines[len(lines)-1] == "" {
		t.Fatalf("start or final line missing or wrong client:\n%s", out)
	}
	got := fmt.Sprint(final["lookups"], final["ok"], final["failed"], final["wrong"])
	if got != "12 6 2 4" || code != 1 {
		t.Errorf("final lookups/ok/failed/wrong = %s, exit %d; want 12 6 2 4, exit 1\n%s", got, code, out)
	}
	want := map[string]int{"servfail.test. failed": 2, "wrong.test. wrong": 2, "missing.test. wrong": 2}
	if fmt.Sprint(failures) != fmt.Sprint(want) {
		t.Errorf("failures = %v, want %v\n%s", failures, want, out)
	}
}

// TestPauseImage runs the sandbox program and stops it as the runtime does.
func TestPauseImage(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(repo, t.TempDir(), nil)
	img, err := b.Build(ctx, Spec{Key: "pause", Name: PauseImage})
	if err != nil {
		t.Fatal(err)
	}
	root, cfg := unpack(t, img)
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/pause" || cfg.Config.User != "65535:65535" {
		t.Fatalf("config = %+v", cfg.Config)
	}
	cmd := exec.CommandContext(ctx, "/pause")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("pause exited before SIGTERM: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit 0", err)
		}
	case <-ctx.Done():
		t.Fatal("pause did not exit on SIGTERM")
	}
}
