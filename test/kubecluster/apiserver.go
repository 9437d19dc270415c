package kubecluster

import (
	"net/http"
	"sync"
	"testing"

	"github.com/clusterdns/clusterdns/test/childproc"
)

// apiServer is the cluster's kube-apiserver together with what it takes to
// start it again with the same flags: the same port, etcd, tokens, keys and
// serving certificate.
type apiServer struct {
	bin     string
	args    []string
	logPath string
	// url is https://127.0.0.1:PORT.
	url string
	// header authenticates the /readyz probe.
	header http.Header

	mu sync.Mutex
	// proc is the current process; nil before the first start.
	proc *childproc.Process
}

// start starts a kube-apiserver process and waits until /readyz answers 200.
// On failure the process is stopped and the error says why (wrapping
// errPortTaken when another process took the port).
func (a *apiServer) start() error {
	p, err := childproc.Start("kube-apiserver", a.logPath, append([]string{a.bin}, a.args...)...)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proc = p
	a.mu.Unlock()
	err = waitHealthy(p, a.url+"/readyz", a.header, func(status int, _ string) bool {
		return status == http.StatusOK
	})
	if err != nil {
		p.Stop(stopGrace)
		return err
	}
	return nil
}

// stop stops the current process, if any is running.
func (a *apiServer) stop() {
	a.mu.Lock()
	p := a.proc
	a.mu.Unlock()
	if p != nil {
		p.Stop(stopGrace)
	}
}

// running reports whether the current process has not exited.
func (a *apiServer) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proc != nil && a.proc.Running()
}

// StopAPIServer stops the kube-apiserver (SIGTERM, then SIGKILL after a grace
// period) and leaves etcd running: clients, watches included, see the API
// server go away. StartAPIServer brings it back.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	c.apiServer.stop()
}

// StartAPIServer starts the kube-apiserver stopped by StopAPIServer again, on
// the same port and etcd with the same flags, and waits until it reports
// ready. Objects written before the stop are all there (they live in etcd);
// watchers reconnect and, when their resource version is gone from the new
// watch cache, relist. It fails t with the log tail when the API server does
// not come back.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	if c.apiServer.running() {
		t.Fatalf("kubecluster: StartAPIServer: kube-apiserver on %s is already running", c.Server)
	}
	if err := c.apiServer.start(); err != nil {
		t.Fatalf("kubecluster: kube-apiserver did not come back on %s: %v\nkube-apiserver log:\n%s",
			c.Server, err, childproc.Tail(c.apiServer.logPath, logTailLines))
	}
}

// RestartAPIServer stops the kube-apiserver and starts it again on the same
// port and etcd (StopAPIServer, then StartAPIServer).
func (c *Cluster) RestartAPIServer(t testing.TB) {
	t.Helper()
	c.StopAPIServer(t)
	c.StartAPIServer(t)
}
