package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

// entries lists the files of an image's layers by path (upper layers win).
func entries(t *testing.T, img ocilayout.Image) (map[string]*tar.Header, map[string]string, ocilayout.ImageConfig) {
	t.Helper()
	var buf bytes.Buffer
	if err := ocilayout.Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	read, err := ocilayout.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := map[string]*tar.Header{}, map[string]string{}
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
			b, _ := io.ReadAll(tr)
			p := "/" + strings.TrimSuffix(hdr.Name, "/")
			hdrs[p], data[p] = hdr, string(b)
		}
	}
	return hdrs, data, read[0].Config
}

// fakeBinary is a stand-in for bin/coredns or bin/agnhost: not ELF, so ldd
// finds no libraries, which is what a static binary gives.
func fakeBinary(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/false\n"+name+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCoreDNSImage(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("SKIP: no ldd on this machine")
	}
	b := NewBuilder("../..", t.TempDir(), nil)
	b.CoreDNS = fakeBinary(t, "coredns")
	img, err := b.Build(context.Background(), Spec{Key: "coredns", Name: CoreDNSImage})
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data, cfg := entries(t, img)
	c := hdrs["/coredns"]
	if c == nil || c.Mode != 0o755 || data["/coredns"] != "#!/bin/false\ncoredns\n" {
		t.Fatalf("/coredns = %+v", c)
	}
	// setcap cap_net_bind_service=+ep, as getcap would decode it.
	if got := c.PAXRecords["SCHILY.xattr.security.capability"]; got != "\x01\x00\x00\x02\x00\x04\x00\x00"+strings.Repeat("\x00", 12) {
		t.Errorf("security.capability = %q", got)
	}
	if !strings.Contains(data["/etc/passwd"], "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q", data["/etc/passwd"])
	}
	if cfg.Config.User != "65532:65532" || !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/coredns"}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("config = %+v", cfg.Config)
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil && hdrs["/etc/ssl/certs/ca-certificates.crt"] == nil {
		t.Error("no CA bundle")
	}
}

func TestAgnhostImage(t *testing.T) {
	for _, tool := range glibcTools() {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is missing; run test/images/deps.sh", tool)
		}
	}
	b := NewBuilder("../..", t.TempDir(), nil)
	b.CoreDNS, b.Agnhost = fakeBinary(t, "coredns"), fakeBinary(t, "agnhost")
	img, err := b.Build(context.Background(), Spec{Key: "agnhost", Name: AgnhostImage})
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data, cfg := entries(t, img)
	// What test/e2e/network/dns*.go runs in agnhost: /agnhost (dns-suffix,
	// dns-server-list, pause, test-webserver), /coredns, and sh -c probe
	// loops of seq, dig, test, getent, echo, sleep; cat /etc/resolv.conf.
	for _, p := range []string{"/agnhost", "/coredns", "/usr/bin/sh", "/usr/bin/dig", "/usr/bin/getent", "/usr/bin/seq",
		"/usr/bin/test", "/usr/bin/sleep", "/usr/bin/cat", "/usr/bin/echo", "/usr/lib64/ld-linux-x86-64.so.2",
		"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libnss_dns.so.2", "/usr/lib/x86_64-linux-gnu/libnss_files.so.2"} {
		if h := hdrs[p]; h == nil || h.Typeflag != tar.TypeReg {
			t.Errorf("%s missing", p)
		}
	}
	for p, target := range map[string]string{"/agnhost-2": "agnhost", "/bin": "usr/bin", "/lib64": "usr/lib64", "/lib": "usr/lib"} {
		if h := hdrs[p]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != target {
			t.Errorf("%s should link to %s: %+v", p, target, h)
		}
	}
	if !strings.Contains(data["/etc/group"], "group-defined-in-image:x:50000:user-defined-in-image") ||
		!strings.Contains(data["/etc/nsswitch.conf"], "hosts: files dns") {
		t.Errorf("/etc/group %q, nsswitch.conf %q", data["/etc/group"], data["/etc/nsswitch.conf"])
	}
	if !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/agnhost"}) || !reflect.DeepEqual(cfg.Config.Cmd, []string{"pause"}) {
		t.Errorf("config = %+v", cfg.Config)
	}
}
