package images

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

// The users of every image with an /etc: root, nobody, and distroless's
// nonroot (65532), the uid clusterdns and CoreDNS run as.
const (
	basePasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\n"
	baseGroup = "root:x:0:\n" +
		"nogroup:x:65534:\n" +
		"nonroot:x:65532:\n"
	// glibc looks hosts up in /etc/hosts, then DNS; Go's resolver reads the
	// same file to choose its order.
	nsswitchConf = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n" +
		"networks: files\nprotocols: files\nservices: files\n"
	// kubelet mounts its own /etc/hosts; this one serves a container run
	// outside Kubernetes.
	etcHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
)

// addEtc adds /etc/passwd, group, nsswitch.conf, hosts, empty mount targets
// for the files the runtime mounts (resolv.conf, hostname), /tmp and the
// nonroot home.
func addEtc(l *ocilayout.Layer, passwd, group string) error {
	files := []struct {
		path, data string
	}{
		{"/etc/passwd", passwd},
		{"/etc/group", group},
		{"/etc/nsswitch.conf", nsswitchConf},
		{"/etc/hosts", etcHosts},
		{"/etc/resolv.conf", ""},
		{"/etc/hostname", ""},
	}
	for _, f := range files {
		if err := l.AddFile(f.path, 0o644, []byte(f.data)); err != nil {
			return err
		}
	}
	steps := []error{
		l.AddDir("/tmp", 0o777|os.ModeSticky),
		l.AddDir("/root", 0o700),
		l.Add(ocilayout.Entry{Path: "/home/nonroot", Type: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532}),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	return nil
}

// glibcTools are the Debian programs of the glibc userland: the DNS tools,
// a shell and what the conformance specs' probe scripts and people exploring
// a cluster run (test/e2e/network/dns_common.go: sh -c loops of seq, dig,
// test, getent, echo, sleep; cat /etc/resolv.conf).
func glibcTools() []string {
	return []string{
		"sh", "dash", "bash",
		"getent", "dig", "nslookup", "host",
		"cat", "echo", "sleep", "seq", "test", "[", "true", "false", "printf", "env",
		"ls", "head", "tail", "wc", "tr", "cut", "sort", "uniq", "tee", "expr",
		"basename", "dirname", "mkdir", "rm", "cp", "mv", "ln", "touch", "stat",
		"date", "id", "uname", "timeout", "hostname", "grep", "sed", "awk",
	}
}

// glibcNSS are what getaddrinfo and getent load at run time (not seen by
// ldd): the files and dns NSS modules and the resolver library.
func glibcNSS() []string {
	return []string{"libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2"}
}

const multiarchLibDir = "/usr/lib/x86_64-linux-gnu"

// mergedUsr adds Debian's /bin, /sbin, /lib and /lib64 links into /usr.
func mergedUsr(l *ocilayout.Layer) error {
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := l.AddSymlink("/"+d, "usr/"+d); err != nil {
			return err
		}
	}
	return l.AddDir("/usr/sbin", 0o755)
}

// glibcUserland is one layer with the host's glibc and the glibcTools, built
// once per Builder and shared by the images that use it.
func (b *Builder) glibcUserland(ctx context.Context) (*ocilayout.Layer, error) {
	if b.glibc != nil {
		return b.glibc, nil
	}
	l := ocilayout.NewLayer()
	if err := mergedUsr(l); err != nil {
		return nil, err
	}
	if err := addEtc(l, basePasswd, baseGroup); err != nil {
		return nil, err
	}
	for _, tool := range glibcTools() {
		host, err := lookTool(tool)
		if err != nil {
			return nil, err
		}
		dir, err := imagePath(host)
		if err != nil {
			return nil, err
		}
		// The tool's own name, its content dereferenced: awk is mawk
		// through /etc/alternatives on the host, sh is dash.
		if err := addHostBinary(ctx, l, host, filepath.Join(filepath.Dir(dir), tool)); err != nil {
			return nil, err
		}
	}
	for _, lib := range glibcNSS() {
		host := filepath.Join(multiarchLibDir, lib)
		if err := addHostBinary(ctx, l, host, host); err != nil {
			return nil, fmt.Errorf("glibc NSS: %w", err)
		}
	}
	b.glibc = l
	return l, nil
}

// busyboxUserland is /bin/busybox from Debian's busybox-static with a link
// per applet, as busybox --install lays it out.
func busyboxUserland(ctx context.Context, l *ocilayout.Layer) error {
	bb, err := lookTool("busybox")
	if err != nil {
		return err
	}
	libs, err := sharedLibs(ctx, bb)
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s is dynamically linked: install busybox-static (test/images/deps.sh)", bb)
	}
	if err := addHostFile(l, bb, "/bin/busybox"); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := l.AddSymlink("/bin/"+applet, "busybox"); err != nil {
			return err
		}
	}
	return nil
}
