// Command kubenode runs the one-machine Kubernetes node of package kubenode:
//
//	kubenode up [-state DIR] [-bin DIR] [-images DIR] [-detach]
//	kubenode deploy [-state DIR]
//	kubenode status [-state DIR]
//	kubenode down [-state DIR]
//
// up starts the node and stays in the foreground until SIGINT or SIGTERM,
// then removes it; with -detach it starts itself in the background (log in
// DIR/kubenode.log) and returns once the node is ready. deploy applies
// deploy/overlays/local and waits until kube-dns answers. Each command that
// leaves a node running prints `export KUBECONFIG=...` as its last line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/clusterdns/clusterdns/test/kubenode"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// options are the flags every subcommand shares.
type options struct {
	state, bin, images string
	detach             bool
}

func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "kubenode:", err)
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintln(stderr, "kubenode:", err)
		return 1
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"missing command: up, deploy, status or down"}
	}
	cmd := args[0]
	fs := flag.NewFlagSet("kubenode "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.state, "state", kubenode.DefaultConfig().StateDir, "state directory of the node")
	if cmd == "up" {
		fs.StringVar(&o.bin, "bin", "", "directory of the Kubernetes binaries (default: bin/ of the module)")
		fs.StringVar(&o.images, "images", "", "directory of OCI image tars to import (default: build them with test/images/cmd/buildimages)")
		fs.BoolVar(&o.detach, "detach", false, "start the node in the background and return once it is ready")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", cmd, fs.Arg(0))}
	}
	if o.state == "" {
		return usageError{"-state must not be empty"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch cmd {
	case "up":
		if o.detach {
			return upDetached(ctx, o, stdout, stderr)
		}
		return upForeground(ctx, o, stdout, log)
	case "deploy":
		return deploy(ctx, o, stdout)
	case "status":
		return status(ctx, o, stdout)
	case "down":
		return down(ctx, o, stdout)
	default:
		return usageError{fmt.Sprintf("unknown command %q: want up, deploy, status or down", cmd)}
	}
}
