package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/stack"
)

// clusterdnsReadyTimeout bounds the start of a record service (its initial
// list of the API server included) and of a frontend.
const clusterdnsReadyTimeout = 5 * time.Minute

// RecordService is a running clusterdns record service.
type RecordService struct {
	*Process
	// Addr is the gRPC address; MetricsAddr serves /metrics.
	Addr, MetricsAddr string
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
	addr, err := FreeTCPAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	metrics, err := FreeTCPAddr(addr)
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
	return &RecordService{Process: p, Addr: addr, MetricsAddr: metrics, Sync: sync}, nil
}

// Frontend is a running clusterdns frontend.
type Frontend struct {
	*Process
	// Addr is the DNS address (UDP and TCP); MetricsAddr serves /metrics.
	Addr, MetricsAddr string
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
	metrics, err := FreeTCPAddr(addr)
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
	return &Frontend{Process: p, Addr: addr, MetricsAddr: metrics}, nil
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

// clusterdnsCounters are the counters of a frontend and its record service
// that say where the frontend's replies came from.
type clusterdnsCounters struct {
	// hits and absent are the frontend's cache hits, and those of them
	// that were NXDOMAIN answers proved by a namespace's directory.
	hits, absent float64
	// lookups are the questions the record service answered.
	lookups float64
}

// scrapeClusterDNS reads the counters of fe and rs.
func scrapeClusterDNS(ctx context.Context, fe *Frontend, rs *RecordService) (clusterdnsCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fm, err := stack.Scrape(ctx, fe.MetricsAddr)
	if err != nil {
		return clusterdnsCounters{}, err
	}
	rm, err := stack.Scrape(ctx, rs.MetricsAddr)
	if err != nil {
		return clusterdnsCounters{}, err
	}
	return clusterdnsCounters{
		hits:    fm.Sum("clusterdns_frontend_cache_hits_total"),
		absent:  fm.Sum("clusterdns_frontend_cache_absent_hits_total"),
		lookups: rm.Sum("clusterdns_recordsvc_lookups_total"),
	}, nil
}

// since describes the run between before and c, in which completed
// queries were answered.
func (c clusterdnsCounters) since(before clusterdnsCounters, completed int64) string {
	pct := func(v float64) float64 { return 100 * v / math.Max(float64(completed), 1) }
	hits, absent, lookups := c.hits-before.hits, c.absent-before.absent, c.lookups-before.lookups
	return fmt.Sprintf("%.0f of %d replies (%.1f%%) were cache hits, %.0f of them (%.1f%%) NXDOMAIN answers "+
		"proved absent by a namespace's directory; the record service answered %.0f Lookups (%.1f%%)",
		hits, completed, pct(hits), absent, pct(absent), lookups, pct(lookups))
}
