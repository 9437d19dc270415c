package images

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

// Builder builds the catalog's images. Binaries and the glibc userland layer
// are built once and shared by the images that need them, so a Builder is
// for one goroutine.
type Builder struct {
	// RepoDir is the repository root (the main module).
	RepoDir string
	// WorkDir receives the compiled binaries.
	WorkDir string
	// CoreDNS and Agnhost are the binaries make test-deps builds into bin/.
	CoreDNS, Agnhost string
	// Log reports each build step; nil discards.
	Log *slog.Logger

	built map[string]error
	glibc *ocilayout.Layer
}

// NewBuilder returns a builder for the repository at repoDir that compiles
// into workDir and takes CoreDNS and agnhost from repoDir/bin.
func NewBuilder(repoDir, workDir string, log *slog.Logger) *Builder {
	return &Builder{
		RepoDir: repoDir, WorkDir: workDir,
		CoreDNS: filepath.Join(repoDir, "bin", "coredns"), Agnhost: filepath.Join(repoDir, "bin", "agnhost"),
		Log: log, built: map[string]error{},
	}
}

func (b *Builder) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

// Build assembles the image of a catalog entry.
func (b *Builder) Build(ctx context.Context, s Spec) (ocilayout.Image, error) {
	var (
		img ocilayout.Image
		err error
	)
	switch s.Key {
	case "frontend":
		img, err = b.clusterdns(ctx, "frontend")
	case "recordsvc":
		img, err = b.clusterdns(ctx, "recordsvc")
	case "pause":
		img, err = b.pauseImage(ctx)
	case "coredns":
		img, err = b.coreDNSImage(ctx)
	case "dnsclient-glibc":
		img, err = b.glibcClient(ctx)
	case "dnsclient-musl":
		img, err = b.muslClient(ctx)
	case "dnsclient-go":
		img, err = b.goClient(ctx)
	case "agnhost":
		img, err = b.agnhostImage(ctx)
	case "glibc-dns-testing":
		img, err = b.glibcDNSTesting(ctx)
	default:
		return ocilayout.Image{}, fmt.Errorf("no image %q", s.Key)
	}
	if err != nil {
		return ocilayout.Image{}, fmt.Errorf("image %s: %w", s.Name, err)
	}
	img.Name = s.Name
	return img, nil
}

// clusterdns is deploy/Dockerfile's image: the static binary alone on an
// empty base, run as 65532:65532, no shell.
func (b *Builder) clusterdns(ctx context.Context, cmd string) (ocilayout.Image, error) {
	bin, err := b.goBinary(ctx, "./"+cmd, cmd)
	if err != nil {
		return ocilayout.Image{}, err
	}
	l := ocilayout.NewLayer()
	if err := addHostFile(l, bin, "/"+cmd); err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{Layers: []*ocilayout.Layer{l}, Config: ClusterDNSConfig(cmd)}, nil
}

// ClusterDNSConfig is the config of deploy/Dockerfile's stage for cmd (a test
// holds the two in step).
func ClusterDNSConfig(cmd string) ocilayout.Config {
	ports := []string{"9090/tcp", "9153/tcp"}
	if cmd == "frontend" {
		ports = []string{"53/udp", "53/tcp", "9153/tcp"}
	}
	return ocilayout.Config{Entrypoint: []string{"/" + cmd}, User: "65532:65532", ExposedPorts: ports}
}

// pauseImage is the pod sandbox: /pause, run as 65535 like the upstream
// pause image.
func (b *Builder) pauseImage(ctx context.Context) (ocilayout.Image, error) {
	bin, err := b.pause(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	l := ocilayout.NewLayer()
	if err := addHostFile(l, bin, "/pause"); err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{
		Layers: []*ocilayout.Layer{l},
		Config: ocilayout.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"},
	}, nil
}

// netBindServiceCap is the security.capability xattr of setcap
// cap_net_bind_service=+ep (VFS_CAP_REVISION_2 with the effective flag, bit
// 10 permitted): CoreDNS's release image sets it on /coredns so that the
// non-root process binds port 53 with the NET_BIND_SERVICE that kubeadm's
// Deployment adds (under no_new_privs, file capabilities are limited to the
// capabilities the process already has, which includes the added one).
const netBindServiceCap = "\x01\x00\x00\x02" + "\x00\x04\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// coreDNSImage lays bin/coredns out as CoreDNS's release image does: /coredns
// with the bind capability, CA certificates, a distroless-style /etc, user
// nonroot, entrypoint /coredns (run with -conf /etc/coredns/Corefile).
func (b *Builder) coreDNSImage(ctx context.Context) (ocilayout.Image, error) {
	if err := needFile(b.CoreDNS, "CoreDNS (make test-deps builds bin/coredns)"); err != nil {
		return ocilayout.Image{}, err
	}
	data, err := os.ReadFile(b.CoreDNS)
	if err != nil {
		return ocilayout.Image{}, fmt.Errorf("read coredns: %w", err)
	}
	l := ocilayout.NewLayer()
	if err := l.Add(ocilayout.Entry{Path: "/coredns", Type: tar.TypeReg, Mode: 0o755, Data: data,
		Xattrs: map[string]string{"security.capability": netBindServiceCap}}); err != nil {
		return ocilayout.Image{}, err
	}
	if err := addLibsOf(ctx, l, b.CoreDNS); err != nil {
		return ocilayout.Image{}, err
	}
	if err := addEtc(l, basePasswd, baseGroup); err != nil {
		return ocilayout.Image{}, err
	}
	const caBundle = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(caBundle); err == nil {
		if err := addHostFile(l, caBundle, caBundle); err != nil {
			return ocilayout.Image{}, err
		}
	}
	return ocilayout.Image{
		Layers: []*ocilayout.Layer{l},
		Config: ocilayout.Config{Entrypoint: []string{"/coredns"}, User: "65532:65532",
			ExposedPorts: []string{"53/tcp", "53/udp"}},
	}, nil
}

// sleepForever keeps a client pod up for kubectl exec when run without a
// command.
func sleepForever() []string { return []string{"sleep", "infinity"} }

// glibcClient is the glibc userland with the glibc dnsloop.
func (b *Builder) glibcClient(ctx context.Context) (ocilayout.Image, error) {
	base, err := b.glibcUserland(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	bin, err := b.dnsloopGlibc(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	top := ocilayout.NewLayer()
	if err := addHostBinary(ctx, top, bin, "/usr/local/bin/dnsloop"); err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{Layers: []*ocilayout.Layer{base, top}, Config: ocilayout.Config{Cmd: sleepForever()}}, nil
}

// muslClient is busybox with the static musl dnsloop.
func (b *Builder) muslClient(ctx context.Context) (ocilayout.Image, error) {
	bin, err := b.dnsloopMusl(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	l := ocilayout.NewLayer()
	if err := busyboxUserland(ctx, l); err != nil {
		return ocilayout.Image{}, err
	}
	if err := addEtc(l, basePasswd, baseGroup); err != nil {
		return ocilayout.Image{}, err
	}
	if err := addHostFile(l, bin, "/usr/local/bin/dnsloop"); err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{Layers: []*ocilayout.Layer{l}, Config: ocilayout.Config{Cmd: sleepForever()}}, nil
}

// goClient is the Go dnsloop with /pause to keep the pod up: no shell, no
// C library.
func (b *Builder) goClient(ctx context.Context) (ocilayout.Image, error) {
	loop, err := b.dnsloopGo(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	pause, err := b.pause(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	l := ocilayout.NewLayer()
	if err := addEtc(l, basePasswd, baseGroup); err != nil {
		return ocilayout.Image{}, err
	}
	if err := addHostFile(l, loop, "/usr/local/bin/dnsloop"); err != nil {
		return ocilayout.Image{}, err
	}
	if err := addHostFile(l, pause, "/pause"); err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{Layers: []*ocilayout.Layer{l}, Config: ocilayout.Config{Cmd: []string{"/pause"}}}, nil
}

// agnhostImage is what the e2e specs expect of agnhost 2.66.1: /agnhost (and
// agnhost-2) as entrypoint with "pause" as default argument, /coredns for the
// configurable-nameserver spec's server pod, and a userland with sh, dig and
// getent for the probe scripts. Upstream's is Alpine; this one is the glibc
// userland, whose dig has its own resolver either way.
func (b *Builder) agnhostImage(ctx context.Context) (ocilayout.Image, error) {
	if err := needFile(b.Agnhost, "agnhost (cd test/kubeapiserver && go build -o ../../bin/agnhost k8s.io/kubernetes/test/images/agnhost)"); err != nil {
		return ocilayout.Image{}, err
	}
	if err := needFile(b.CoreDNS, "CoreDNS (make test-deps builds bin/coredns)"); err != nil {
		return ocilayout.Image{}, err
	}
	base, err := b.glibcUserland(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	top := ocilayout.NewLayer()
	steps := []error{
		addHostBinary(ctx, top, b.Agnhost, "/agnhost"),
		top.AddSymlink("/agnhost-2", "agnhost"),
		addHostBinary(ctx, top, b.CoreDNS, "/coredns"),
		top.AddDir("/uploads", 0o755),
		// The user and group the SupplementalGroups e2e specs expect.
		addEtc(top, basePasswd+"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n",
			baseGroup+"user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"),
	}
	if err := errors.Join(steps...); err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{
		Layers: []*ocilayout.Layer{base, top},
		Config: ocilayout.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"},
			ExposedPorts: []string{"80/tcp", "8080/tcp", "8081/tcp", "9376/tcp", "5000/tcp"}},
	}, nil
}

// glibcDNSTesting is the e2e glibc-dns-testing 2.1.1 stand-in: the glibc
// userland alone.
func (b *Builder) glibcDNSTesting(ctx context.Context) (ocilayout.Image, error) {
	base, err := b.glibcUserland(ctx)
	if err != nil {
		return ocilayout.Image{}, err
	}
	return ocilayout.Image{Layers: []*ocilayout.Layer{base}, Config: ocilayout.Config{Cmd: sleepForever()}}, nil
}

func needFile(path, what string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is missing: %s", path, what)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %s is not a file", what, path)
	}
	return nil
}
