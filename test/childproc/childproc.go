// Package childproc runs the servers that tests and benchmarks start (etcd,
// kube-apiserver, CoreDNS, NSD, the clusterdns binaries): a child process
// whose output goes to a log file, killed if the parent dies, stopped with
// SIGTERM and then SIGKILL.
package childproc

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a running (or exited) child process.
type Process struct {
	// Name identifies the process in messages.
	Name string
	// LogPath holds the process's stdout and stderr.
	LogPath string
	// Started is when the process was started.
	Started time.Time

	cmd *exec.Cmd
	// exited is closed when the process has exited; err is then its exit error.
	exited chan struct{}
	err    error
}

// Start runs argv (argv[0] is the program) with its output appended to
// logPath, after a line showing the command. Pdeathsig kills the child if the
// parent dies without cleaning up.
func Start(name, logPath string, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("start %s: no command", name)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(logFile, "+ %s\n", strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	p := &Process{Name: name, LogPath: logPath, Started: started, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
// Stopping an exited process is a no-op.
func (p *Process) Stop(grace time.Duration) {
	if !p.Running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// ExitError describes how the process ended, for messages; nil while it runs.
func (p *Process) ExitError() error {
	if p.Running() {
		return nil
	}
	if p.err == nil {
		return fmt.Errorf("%s exited with status 0", p.Name)
	}
	return fmt.Errorf("%s exited: %w", p.Name, p.err)
}

// LogTail returns the last n lines of the process log.
func (p *Process) LogTail(n int) string { return Tail(p.LogPath, n) }

// Tail returns the last n lines of a file, or a note saying why it cannot.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines in %s)", len(lines)-n, path)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
