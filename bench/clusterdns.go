package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// clusterdnsReadyTimeout bounds the start of a record service (its initial
// list of the API server included) and of a frontend.
const clusterdnsReadyTimeout = 5 * time.Minute

// RecordService is a running clusterdns record service.
type RecordService struct {
	*Process
	// Addr is the gRPC address.
	Addr string
	// Sync is the time from start to gRPC health SERVING, which the record
	// service reports once its informers have synced.
	Sync time.Duration
}

// StartRecordService starts `recordsvc --kubeconfig kubeconfig --pods pods`
// pinned to cpu on free loopback ports and waits until it serves.
func StartRecordService(ctx context.Context, bin, name, dir string, cpu int, kubeconfig, pods, domain string) (*RecordService, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	addr, err := freeTCPAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	metrics, err := freeTCPAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p, err := StartProcess(name, filepath.Join(dir, name+".log"), cpu, bin,
		"--listen", addr, "--metrics-listen", metrics, "--kubeconfig", kubeconfig,
		"--cluster-domain", domain, "--ttl", "30", "--pods", pods, "--lameduck", "0s")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, clusterdnsReadyTimeout)
	defer cancel()
	sync, err := p.WaitReady(ctx, GRPCServing(addr))
	if err != nil {
		p.Stop()
		return nil, err
	}
	return &RecordService{Process: p, Addr: addr, Sync: sync}, nil
}

// Frontend is a running clusterdns frontend.
type Frontend struct {
	*Process
	// Addr is the DNS address (UDP and TCP).
	Addr string
}

// StartFrontend starts a frontend on the record service at recordsvc,
// forwarding to upstream when it is not empty, pinned to cpu on free
// loopback ports, and waits until it answers a cluster name.
func StartFrontend(ctx context.Context, bin, name, dir string, cpu int, recordsvc, upstream, domain string) (*Frontend, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	addr, err := freeDNSAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	metrics, err := freeTCPAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	args := []string{"--listen", addr, "--metrics-listen", metrics, "--recordsvc", recordsvc, "--cluster-domain", domain}
	if upstream != "" {
		args = append(args, "--upstream", upstream)
	}
	p, err := StartProcess(name, filepath.Join(dir, name+".log"), cpu, bin, args...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, clusterdnsReadyTimeout)
	defer cancel()
	if _, err := p.WaitReady(ctx, DNSRcode(addr, "kubernetes.default.svc."+domain+".", dns.TypeA, dns.RcodeSuccess)); err != nil {
		p.Stop()
		return nil, err
	}
	return &Frontend{Process: p, Addr: addr}, nil
}

// FrontendForwards reports whether the frontend binary has the --upstream
// flag (forwarding of names outside the cluster).
func FrontendForwards(ctx context.Context, bin string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--help")
	cmd.Stdout = &out
	cmd.Stderr = &out
	// --help exits non-zero with the flag package; the usage text is what
	// counts.
	_ = cmd.Run()
	if out.Len() == 0 {
		return false, fmt.Errorf("%s --help printed nothing", bin)
	}
	return strings.Contains(out.String(), "-upstream"), nil
}
