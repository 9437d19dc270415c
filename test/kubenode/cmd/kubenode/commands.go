package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
	"github.com/clusterdns/clusterdns/test/kubenode"
)

const (
	// supervisorLog and supervisorPID are the detached up's log and process.
	supervisorLog = "kubenode.log"
	supervisorPID = "kubenode.pid"
	// upTimeout bounds a detached start: image builds included, on two
	// loaded cores.
	upTimeout = 20 * time.Minute
)

// upForeground starts the node, prints the export line, and removes the node
// when ctx ends (SIGINT, SIGTERM).
func upForeground(ctx context.Context, o options, stdout io.Writer, log *slog.Logger) error {
	cfg := kubenode.DefaultConfig()
	cfg.StateDir, cfg.BinDir, cfg.ImageDir = o.state, o.bin, o.images
	n, err := kubenode.Up(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Config.StateDir, supervisorPID), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		log.Error("write pid file", "err", err)
	}
	for _, t := range n.Timings {
		log.Info("node up", "phase", t.Phase, "seconds", fmt.Sprintf("%.1f", t.Duration.Seconds()))
	}
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", n.Config.Kubeconfig())
	<-ctx.Done()
	log.Info("stopping the node")
	return n.Down(context.WithoutCancel(ctx))
}

// upDetached starts `kubenode up` in a session of its own with its log in
// the state directory and returns once the node is ready. A node already
// running there is left as it is.
func upDetached(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if c, err := kubenode.Running(ctx, o.state); err == nil {
		fmt.Fprintf(stderr, "kubenode: the node in %s is already running\n", c.StateDir)
		fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", c.Kubeconfig())
		return nil
	}
	if err := stopSupervisor(o.state); err != nil {
		return err
	}
	if err := kubenode.Down(ctx, o.state); err != nil {
		return err
	}
	if err := os.MkdirAll(o.state, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	logPath := filepath.Join(o.state, supervisorLog)
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("supervisor log: %w", err)
	}
	defer logFile.Close()
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	args := []string{"up", "-state", o.state}
	if o.bin != "" {
		args = append(args, "-bin", o.bin)
	}
	if o.images != "" {
		args = append(args, "-images", o.images)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(stderr, "kubenode: starting the node in %s (log %s)\n", o.state, logPath)
	deadline := time.After(upTimeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the node did not start (%v); log %s:\n%s", err, logPath, childproc.Tail(logPath, 40))
		case <-deadline:
			return fmt.Errorf("the node did not start within %v; log %s:\n%s", upTimeout, logPath, childproc.Tail(logPath, 40))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if c, err := kubenode.Running(ctx, o.state); err == nil {
			fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", c.Kubeconfig())
			return nil
		}
	}
}

// deploy applies the local overlay to the running node and waits for DNS.
func deploy(ctx context.Context, o options, stdout io.Writer) error {
	n, err := kubenode.Connect(ctx, o.state)
	if err != nil {
		return err
	}
	if err := n.DeployClusterDNS(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "clusterdns answers at %s (kube-dns) through kube-proxy\n", n.Config.ClusterDNS)
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", n.Config.Kubeconfig())
	return nil
}

// status reports whether the node runs and kube-dns answers.
func status(ctx context.Context, o options, stdout io.Writer) error {
	n, err := kubenode.Connect(ctx, o.state)
	if err != nil {
		return err
	}
	out, err := n.Kubectl(ctx, "get", "nodes,pods", "-A", "-o", "wide")
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, out)
	dnsCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name := "kubernetes.default.svc." + n.Config.ClusterDomain
	if err := kubenode.CheckDNS(dnsCtx, n.Config.ClusterDNS, name, kubernetesServiceIP(n)); err != nil {
		fmt.Fprintf(stdout, "kube-dns at %s: %v\n", n.Config.ClusterDNS, err)
	} else {
		fmt.Fprintf(stdout, "kube-dns at %s answers %s over UDP and TCP\n", n.Config.ClusterDNS, name)
	}
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", n.Config.Kubeconfig())
	return nil
}

// kubernetesServiceIP is the first address of the Service CIDR.
func kubernetesServiceIP(n *kubenode.Node) netip.Addr {
	return n.Config.ServiceCIDR.Masked().Addr().Next()
}

// down stops a detached supervisor (which removes its node) and then removes
// whatever is left.
func down(ctx context.Context, o options, stdout io.Writer) error {
	if err := stopSupervisor(o.state); err != nil {
		return err
	}
	if err := kubenode.Down(ctx, o.state); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(o.state, supervisorLog))
	_ = os.Remove(filepath.Join(o.state, supervisorPID))
	_ = os.Remove(o.state)
	fmt.Fprintf(stdout, "the node in %s is gone\n", o.state)
	return nil
}

// stopSupervisor sends SIGTERM to the detached `kubenode up` of the state
// directory, if one runs, and waits for it to remove its node.
func stopSupervisor(state string) error {
	data, err := os.ReadFile(filepath.Join(state, supervisorPID))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("supervisor pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return nil
	}
	// The pid may have been reused since: only a kubenode process counts.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "kubenode") {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return nil
}
