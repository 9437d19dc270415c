package kubenode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/clusterdns/clusterdns/test/childproc"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Node is a running one-machine Kubernetes node.
type Node struct {
	// Config is the node's configuration with defaults filled in.
	Config Config
	// RESTConfig and Client hold admin credentials.
	RESTConfig *rest.Config
	Client     kubernetes.Interface
	// Timings says how long each phase of Up took.
	Timings []Timing

	log      *slog.Logger
	bins     binaries
	upstream *upstream
	// procs are the started components in start order.
	procs []*childproc.Process
}

// Timing is the duration of one phase of Up.
type Timing struct {
	Phase    string
	Duration time.Duration
}

// readyFile marks a node that finished Up; status and make cluster-up wait
// for it.
const readyFile = "ready"

// Up starts a node as cfg says. A state directory left by an earlier run is
// cleaned with Down first. On failure everything made so far is removed and
// the error carries the tail of the failing component's log.
func Up(ctx context.Context, cfg Config, log *slog.Logger) (*Node, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = discardLogger()
	}
	if reason := CannotRun(); reason != "" {
		return nil, errors.New(reason)
	}
	bins, err := findBinaries(c.BinDir)
	if err != nil {
		return nil, err
	}
	// Only a directory with a saved config held a node: anything else (a
	// fresh directory, or one holding just the supervisor's log) is kept.
	if _, err := os.Stat(c.path(stateFile)); err == nil {
		if err := Down(ctx, c.StateDir); err != nil {
			return nil, fmt.Errorf("clean the previous node: %w", err)
		}
	}
	if err := preflight(ctx, c); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	if err := recordNetnsBefore(c); err != nil {
		return nil, err
	}
	n := &Node{Config: c, log: log, bins: bins}
	if err := n.up(ctx); err != nil {
		n.logTails()
		if derr := n.Down(context.WithoutCancel(ctx)); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	if err := os.WriteFile(c.path(readyFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return n, fmt.Errorf("mark ready: %w", err)
	}
	return n, nil
}

// up runs the phases of Up in order.
func (n *Node) up(ctx context.Context) error {
	c := n.Config
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"host network", func(ctx context.Context) error { return setupHostNetwork(ctx, c) }},
		{"certificates and config files", func(context.Context) error {
			if err := writePKI(c); err != nil {
				return err
			}
			return writeConfigFiles(c)
		}},
		{"upstream resolver", func(context.Context) error {
			u, err := startUpstream(c.Gateway())
			n.upstream = u
			return err
		}},
		{"etcd and kube-apiserver", n.startControlPlane},
		{"containerd", n.startContainerd},
		{"images", n.importImages},
		{"controllers, kubelet and kube-proxy", n.startNodeComponents},
		{"node ready", n.waitNodeReady},
	}
	for _, p := range phases {
		start := time.Now()
		n.log.Info("node: " + p.name)
		if err := p.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		n.Timings = append(n.Timings, Timing{Phase: p.name, Duration: time.Since(start)})
	}
	return nil
}

// Down stops the node's components in reverse order, then removes
// everything else it made (see the package function Down).
func (n *Node) Down(ctx context.Context) error {
	// The components that act on pods stop together first, so none of them
	// restarts what the next step removes.
	var wg sync.WaitGroup
	for _, p := range n.procs {
		switch p.Name {
		case "kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager":
			wg.Go(func() { p.Stop(5 * time.Second) })
		}
	}
	wg.Wait()
	for i := len(n.procs) - 1; i >= 0; i-- {
		p := n.procs[i]
		if p.Name == "containerd" {
			// Containers go through containerd while it still runs.
			removeContainers(ctx, n.Config)
		}
		p.Stop(5 * time.Second)
	}
	n.procs = nil
	if n.upstream != nil {
		n.upstream.stop()
		n.upstream = nil
	}
	return Down(ctx, n.Config.StateDir)
}

// start runs a component with its output in logs/NAME.log.
func (n *Node) start(name string, argv ...string) (*childproc.Process, error) {
	p, err := childproc.Start(name, n.Config.path("logs", name+".log"), argv...)
	if err != nil {
		return nil, err
	}
	n.procs = append(n.procs, p)
	return p, nil
}

// logTails logs the end of every component log, for a failed Up.
func (n *Node) logTails() {
	for _, p := range n.procs {
		n.log.Error("node: log of "+p.Name, "tail", p.LogTail(30))
	}
}

// Kubectl runs kubectl with the admin kubeconfig and returns its output.
func (n *Node) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, n.bins.kubectl, append([]string{"--kubeconfig", n.Config.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %v: %w: %s", args, err, out)
	}
	return string(out), nil
}

// LogPath is the log file of a component (etcd, kube-apiserver, containerd,
// kubelet, ...).
func (n *Node) LogPath(component string) string { return n.Config.path("logs", component+".log") }

// adminClient builds the admin clientset from the kubeconfig.
func adminClient(c Config) (*rest.Config, kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("clientset: %w", err)
	}
	return rc, cs, nil
}

// Running returns the config of a node that finished Up in stateDir and
// whose API server still answers, or an error saying what is missing.
func Running(ctx context.Context, stateDir string) (Config, error) {
	c, err := LoadConfig(stateDir)
	if err != nil {
		return Config{}, err
	}
	if _, err := os.Stat(filepath.Join(c.StateDir, readyFile)); err != nil {
		return c, fmt.Errorf("the node in %s has not finished starting", c.StateDir)
	}
	_, cs, err := adminClient(c)
	if err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return c, fmt.Errorf("the API server of the node in %s does not answer: %w", c.StateDir, err)
	}
	return c, nil
}

// discardLogger drops everything.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
