package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goBinary builds the main package pkg (relative to the repository root) as
// a static, stripped binary, as deploy/Dockerfile builds the releases:
// CGO_ENABLED=0 go build -trimpath -ldflags="-s -w". Built once per Builder.
func (b *Builder) goBinary(ctx context.Context, pkg, name string) (string, error) {
	out := filepath.Join(b.WorkDir, "go", name)
	return b.once(out, func() error {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
		cmd.Dir = b.RepoDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		return run(cmd)
	})
}

// cBinary compiles one C source of this directory tree with compiler (gcc or
// musl-gcc) and flags. Built once per Builder.
func (b *Builder) cBinary(ctx context.Context, compiler, src, name string, flags ...string) (string, error) {
	out := filepath.Join(b.WorkDir, "c", name)
	return b.once(out, func() error {
		cc, err := lookTool(compiler)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return fmt.Errorf("build %s: %w", name, err)
		}
		args := append(append([]string{}, flags...), "-o", out, filepath.Join(b.RepoDir, src))
		return run(exec.CommandContext(ctx, cc, args...))
	})
}

// Builds of the C programs: the glibc one links dynamically as Debian's
// programs do, so getaddrinfo loads libnss_* per nsswitch.conf; the musl
// ones are static, so they need nothing from the image.
func (b *Builder) dnsloopGlibc(ctx context.Context) (string, error) {
	return b.cBinary(ctx, "gcc", "test/images/dnsloop/dnsloop.c", "dnsloop-glibc", "-O2", "-s", "-pthread", "-Wall")
}

func (b *Builder) dnsloopMusl(ctx context.Context) (string, error) {
	return b.cBinary(ctx, "musl-gcc", "test/images/dnsloop/dnsloop.c", "dnsloop-musl", "-O2", "-s", "-static", "-pthread", "-Wall")
}

func (b *Builder) pause(ctx context.Context) (string, error) {
	return b.cBinary(ctx, "musl-gcc", "test/images/pause/pause.c", "pause", "-Os", "-s", "-static", "-Wall")
}

func (b *Builder) dnsloopGo(ctx context.Context) (string, error) {
	return b.goBinary(ctx, "./test/images/cmd/dnsloop-go", "dnsloop-go")
}

// once runs build the first time out is asked for and remembers its result.
func (b *Builder) once(out string, build func() error) (string, error) {
	if err, ok := b.built[out]; ok {
		return out, err
	}
	b.log().Info("building", "output", out)
	err := build()
	b.built[out] = err
	return out, err
}

func run(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
