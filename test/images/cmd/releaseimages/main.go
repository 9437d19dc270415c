// Command releaseimages writes the release images of frontend and recordsvc,
// each an OCI image layout directory OUT/<command>/ holding one image index
// for linux/amd64 and linux/arm64 (package release says how):
//
//	go run ./test/images/cmd/releaseimages -out bin/images -version V -revision R
//
// `make images` runs it with the Makefile's VERSION and REVISION. Files and
// configs are dated SOURCE_DATE_EPOCH when it is set, else the time of the
// checked-out commit, so two builds of one commit are identical. For each
// image it prints "<image reference> <layout directory> <index digest>" to
// stdout and logs progress to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterdns/clusterdns/test/images/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "releaseimages:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("releaseimages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bin/images", "directory for the image layouts, one per command")
	repo := fs.String("repo", ".", "repository root")
	repository := fs.String("repository", "clusterdns", "image name prefix: REPOSITORY/<command>:VERSION")
	version := fs.String("version", "", "version stamped into the binaries and annotations (required)")
	revision := fs.String("revision", "", "revision stamped into the binaries and annotations (required)")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "creation time in Unix seconds (default $SOURCE_DATE_EPOCH, else the commit time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || *revision == "" {
		return errors.New("-version and -revision are required")
	}
	created, err := creationTime(ctx, *repo, *epoch)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "releaseimages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	imgs, err := release.Build(ctx, release.Options{
		RepoDir: *repo, OutDir: *out, WorkDir: work, Repository: *repository,
		Version: *version, Revision: *revision, Created: created,
		Log: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return err
	}
	for _, img := range imgs {
		fmt.Fprintln(stdout, img.Name, img.Dir, img.Digest)
	}
	return nil
}

// creationTime is SOURCE_DATE_EPOCH when given, else the committer time of
// HEAD: either is the same on every build of one commit, unlike the clock.
func creationTime(ctx context.Context, repo, epoch string) (time.Time, error) {
	if epoch == "" {
		cmd := exec.CommandContext(ctx, "git", "-C", repo, "log", "-1", "--format=%ct")
		b, err := cmd.Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("no SOURCE_DATE_EPOCH and no commit time from git: %w", err)
		}
		epoch = strings.TrimSpace(string(b))
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("-source-date-epoch (or SOURCE_DATE_EPOCH) %q: want Unix seconds", epoch)
	}
	return time.Unix(sec, 0).UTC(), nil
}
