// Package ctl runs the clusterdnsctl binary, as an operator or a script
// would, against real record services (on their file source, and on a real
// kube-apiserver) and a real frontend, checking its output and its exit
// codes.
//
// Run from the module root after `make test-deps`: go test ./test/ctl/
package ctl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	// runTimeout bounds one clusterdnsctl run that is not a watch.
	runTimeout = time.Minute
	// lineTimeout bounds the wait for a watch's next expected line.
	lineTimeout = 30 * time.Second
	// maxWatchLines bounds the lines a watch test reads looking for one.
	maxWatchLines = 1000
)

// TestMain builds the three binaries once for all tests.
func TestMain(m *testing.M) {
	os.Exit(stack.Main(m))
}

// result is how one clusterdnsctl run ended.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", r.code, r.stdout, r.stderr)
}

// ctl runs bins.Ctl with args to the end and returns its exit code and
// output.
func ctl(t *testing.T, bins stack.Binaries, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Ctl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("clusterdnsctl %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("clusterdnsctl %s did not end within %s", strings.Join(args, " "), runTimeout)
	}
	return r
}

// watcher is a clusterdnsctl watch running as a process; its output lines
// arrive on lines.
type watcher struct {
	cmd    *exec.Cmd
	lines  chan string
	done   chan struct{}
	mu     sync.Mutex
	stderr bytes.Buffer
}

// startWatch starts bins.Ctl with args; it is killed when the test ends.
func startWatch(t *testing.T, bins stack.Binaries, args ...string) *watcher {
	t.Helper()
	w := &watcher{cmd: exec.Command(bins.Ctl, args...), lines: make(chan string, maxWatchLines), done: make(chan struct{})}
	w.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.stderr.Write(b)
	})
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			select {
			case w.lines <- sc.Text():
			default:
				// A test that stopped reading: drop rather than block the
				// process on a full pipe.
			}
		}
		_ = w.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("clusterdnsctl %s stderr:\n%s", strings.Join(args, " "), w.errors())
		}
	})
	return w
}

func (w *watcher) errors() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}

// waitLine reads lines until match accepts one, and returns it; it fails t
// when none comes within lineTimeout or maxWatchLines lines.
func (w *watcher) waitLine(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.NewTimer(lineTimeout)
	defer deadline.Stop()
	for range maxWatchLines {
		select {
		case l := <-w.lines:
			if match(l) {
				return l
			}
		case <-w.done:
			t.Fatalf("watch exited before %s; stderr:\n%s", what, w.errors())
		case <-deadline.C:
			t.Fatalf("no line with %s within %s", what, lineTimeout)
		}
	}
	t.Fatalf("no line with %s in %d lines", what, maxWatchLines)
	return ""
}

// exitCode waits (at most runTimeout) for the watch to exit by itself.
func (w *watcher) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-w.done:
		return w.cmd.ProcessState.ExitCode()
	case <-time.After(runTimeout):
		t.Fatalf("watch did not exit within %s", runTimeout)
		return -1
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
