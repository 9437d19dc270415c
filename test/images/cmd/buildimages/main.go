// Command buildimages builds the test images of package images and writes
// each as an OCI image layout tar, DIR/<key>.tar, for
// `ctr -n k8s.io images import --all-platforms DIR/<key>.tar`:
//
//	go run ./test/images/cmd/buildimages -out DIR [-only KEY,...]
//
// Run it from the repository root after test/images/deps.sh (and make
// test-deps for bin/coredns and bin/agnhost). For each image it prints one
// line to stdout, "<image reference> <tar path>", and logs progress, sizes
// and times to stderr. -list prints "<key> <image reference>" per image and
// builds nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/clusterdns/clusterdns/test/images"
	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "buildimages:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("buildimages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for the image tars (required)")
	only := fs.String("only", "", "comma-separated image keys to build (default: all)")
	repo := fs.String("repo", ".", "repository root")
	coredns := fs.String("coredns", "", "CoreDNS binary (default REPO/bin/coredns)")
	agnhost := fs.String("agnhost", "", "agnhost binary (default REPO/bin/agnhost)")
	list := fs.Bool("list", false, "print the image keys and references, build nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var keys []string
	if *only != "" {
		keys = strings.Split(*only, ",")
	}
	specs, err := images.Select(keys)
	if err != nil {
		return err
	}
	if *list {
		for _, s := range specs {
			fmt.Fprintln(stdout, s.Key, s.Name)
		}
		return nil
	}
	if *out == "" {
		return fmt.Errorf("-out is required")
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		return fmt.Errorf("repository root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "test/images/dnsloop/dnsloop.c")); err != nil {
		return fmt.Errorf("-repo %s is not the clusterdns repository: %w", root, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create -out: %w", err)
	}
	work, err := os.MkdirTemp("", "buildimages-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	b := images.NewBuilder(root, work, log)
	if *coredns != "" {
		b.CoreDNS = *coredns
	}
	if *agnhost != "" {
		b.Agnhost = *agnhost
	}
	began := time.Now()
	for _, s := range specs {
		t0 := time.Now()
		img, err := b.Build(ctx, s)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, s.Key+".tar")
		size, err := writeTar(path, img)
		if err != nil {
			return err
		}
		log.Info("image written", "image", s.Name, "path", path, "bytes", size, "took", time.Since(t0).Round(time.Millisecond))
		fmt.Fprintln(stdout, s.Name, path)
	}
	log.Info("done", "images", len(specs), "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// writeTar writes the image layout to a temporary file renamed into place,
// so that a reader never sees half an archive.
func writeTar(path string, img ocilayout.Image) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".buildimages-*")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := ocilayout.Write(tmp, img); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return fi.Size(), nil
}
