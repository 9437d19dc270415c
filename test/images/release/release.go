// Package release builds the release images of frontend and recordsvc for
// linux/amd64 and linux/arm64 without a Docker engine: each binary is
// cross-compiled as deploy/Dockerfile compiles it, stamped with the version
// and revision, and laid on an empty base; each image is written as an OCI
// image layout directory holding one multi-platform image index.
//
// The build is reproducible: the same source, Go toolchain, version,
// revision and creation time give the same bytes, hence the same digests,
// because the layers are written by package ocilayout (sorted entries, owner
// 0:0, fixed modes, every file dated Created) and the binaries are built with
// -trimpath and -buildvcs=false.
package release

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/test/images"
	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

// buildInfoPkg is the package whose version and revision the linker sets,
// as the Makefile's LDFLAGS do.
const buildInfoPkg = "github.com/clusterdns/clusterdns/internal/buildinfo"

// Commands are the binaries that get a release image, by main package
// directory.
func Commands() []string { return []string{"frontend", "recordsvc"} }

// Architectures are the linux architectures every image is built for.
func Architectures() []string { return []string{"amd64", "arm64"} }

// Options says what to build and where.
type Options struct {
	// RepoDir is the repository root (the main module).
	RepoDir string
	// OutDir receives one layout directory per command, OutDir/<command>.
	OutDir string
	// WorkDir receives the compiled binaries.
	WorkDir string
	// Repository prefixes the image names: Repository/<command>:Version.
	Repository string
	// Version and Revision are stamped into the binaries and the annotations.
	Version, Revision string
	// Created dates the files, configs and annotations (SOURCE_DATE_EPOCH).
	Created time.Time
	// Log reports each step; nil discards.
	Log *slog.Logger
}

// Image is one written release image.
type Image struct {
	Command string
	Name    string // e.g. clusterdns/frontend:v1.2.0
	Dir     string // the OCI layout directory
	// Digest is the image index's digest, what a registry would serve the
	// tag as.
	Digest string
}

// Build compiles both commands for both architectures and writes their
// images, in Commands order.
func Build(ctx context.Context, o Options) ([]Image, error) {
	if o.RepoDir == "" || o.OutDir == "" || o.WorkDir == "" || o.Repository == "" || o.Version == "" || o.Revision == "" {
		return nil, fmt.Errorf("release images: repository dir, output dir, work dir, repository, version and revision are all required")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, arch := range Architectures() {
		log.Info("compiling", "arch", arch, "version", o.Version, "revision", o.Revision)
		if err := compile(ctx, o, arch); err != nil {
			return nil, err
		}
	}
	var out []Image
	for _, cmd := range Commands() {
		img, err := writeImage(o, cmd)
		if err != nil {
			return nil, err
		}
		log.Info("wrote image", "name", img.Name, "dir", img.Dir, "digest", img.Digest)
		out = append(out, img)
	}
	return out, nil
}

// LDFlags are the linker flags of deploy/Dockerfile and the Makefile: a
// stripped binary with the version and revision set.
func LDFlags(version, revision string) string {
	return fmt.Sprintf("-s -w -X %s.version=%s -X %s.revision=%s", buildInfoPkg, version, buildInfoPkg, revision)
}

// compile builds every command for arch into WorkDir/<arch>/ in one go
// build, so that the packages the two share compile once.
func compile(ctx context.Context, o Options, arch string) error {
	dir := filepath.Join(o.WorkDir, arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("compile for %s: %w", arch, err)
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", LDFlags(o.Version, o.Revision), "-o", dir + string(filepath.Separator)}
	for _, cmd := range Commands() {
		args = append(args, "./"+cmd)
	}
	c := exec.CommandContext(ctx, "go", args...)
	c.Dir = o.RepoDir
	c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var output bytes.Buffer
	c.Stdout, c.Stderr = &output, &output
	if err := c.Run(); err != nil {
		return fmt.Errorf("compile for %s: go %s: %w\n%s", arch, strings.Join(args, " "), err, strings.TrimSpace(output.String()))
	}
	return nil
}

// writeImage lays each architecture's binary of cmd on an empty base, with
// deploy/Dockerfile's entrypoint, user and ports, and writes the index.
func writeImage(o Options, cmd string) (Image, error) {
	name := fmt.Sprintf("%s/%s:%s", o.Repository, cmd, o.Version)
	created := o.Created.UTC().Truncate(time.Second)
	annotations := map[string]string{
		ocilayout.AnnotationCreated:  created.Format(time.RFC3339),
		ocilayout.AnnotationVersion:  o.Version,
		ocilayout.AnnotationRevision: o.Revision,
		ocilayout.AnnotationTitle:    cmd,
	}
	mi := ocilayout.MultiImage{Name: name, Created: created, Annotations: annotations}
	// The config's labels repeat the annotations for tools that show only
	// the config of a pulled image.
	cfg := images.ClusterDNSConfig(cmd)
	cfg.Labels = annotations
	for _, arch := range Architectures() {
		data, err := os.ReadFile(filepath.Join(o.WorkDir, arch, cmd))
		if err != nil {
			return Image{}, fmt.Errorf("image %s: %w", name, err)
		}
		l := ocilayout.NewLayerAt(created)
		if err := l.AddFile("/"+cmd, 0o755, data); err != nil {
			return Image{}, fmt.Errorf("image %s: %w", name, err)
		}
		mi.Platforms = append(mi.Platforms, ocilayout.PlatformImage{
			Platform: ocilayout.Platform{OS: "linux", Architecture: arch},
			Config:   cfg,
			Layers:   []*ocilayout.Layer{l},
		})
	}
	dir := filepath.Join(o.OutDir, cmd)
	d, err := ocilayout.WriteDir(dir, mi)
	if err != nil {
		return Image{}, fmt.Errorf("image %s: %w", name, err)
	}
	return Image{Command: cmd, Name: name, Dir: dir, Digest: d.Digest}, nil
}
