package images

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

// imagePath is where a host file goes in an image: its directory with
// symlinks resolved (Debian's /lib is /usr/lib), its own name kept, so that
// /lib64/ld-linux-x86-64.so.2 becomes /usr/lib64/ld-linux-x86-64.so.2 and the
// image's /lib64 -> usr/lib64 link finds it where the binaries expect it.
func imagePath(hostPath string) (string, error) {
	dir, err := filepath.EvalSymlinks(filepath.Dir(hostPath))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", hostPath, err)
	}
	return filepath.Join(dir, filepath.Base(hostPath)), nil
}

// addHostFile copies the content of hostPath (following symlinks) to
// imgPath in the layer, with the host file's permission bits.
func addHostFile(l *ocilayout.Layer, hostPath, imgPath string) error {
	fi, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("add %s: %w", hostPath, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("add %s: not a regular file", hostPath)
	}
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("add %s: %w", hostPath, err)
	}
	return l.AddFile(imgPath, fi.Mode().Perm(), data)
}

// sharedLibs lists the shared libraries a dynamic ELF file loads, the loader
// included, as ldd reports them; nil for a static one.
func sharedLibs(ctx context.Context, path string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "ldd", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if strings.Contains(stdout.String()+stderr.String(), "not a dynamic executable") ||
		strings.Contains(stdout.String(), "statically linked") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var libs []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", path, line)
		}
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or the
		// loader alone: "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has
		// no file.
		if _, after, ok := strings.Cut(line, "=>"); ok {
			line = strings.TrimSpace(after)
		}
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "/") {
			libs = append(libs, f[0])
		}
	}
	return libs, sc.Err()
}

// addHostBinary adds the host executable hostPath at imgPath and every shared
// library it needs at the library's own image path.
func addHostBinary(ctx context.Context, l *ocilayout.Layer, hostPath, imgPath string) error {
	if err := addHostFile(l, hostPath, imgPath); err != nil {
		return err
	}
	return addLibsOf(ctx, l, hostPath)
}

// addLibsOf adds the shared libraries of the ELF file hostPath.
func addLibsOf(ctx context.Context, l *ocilayout.Layer, hostPath string) error {
	libs, err := sharedLibs(ctx, hostPath)
	if err != nil {
		return err
	}
	for _, lib := range libs {
		p, err := imagePath(lib)
		if err != nil {
			return err
		}
		if l.Has(p) {
			continue
		}
		if err := addHostFile(l, lib, p); err != nil {
			return err
		}
	}
	return nil
}

// lookTool finds a command on the host's PATH, saying which Debian package
// provides it when it is missing.
func lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("%s is not installed (run test/images/deps.sh): %w", name, err)
		}
		return "", fmt.Errorf("find %s: %w", name, err)
	}
	return p, nil
}
