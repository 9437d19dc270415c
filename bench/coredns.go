package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CoreDNSConfig selects the Corefile of a CoreDNS run.
type CoreDNSConfig struct {
	// Binary is the coredns executable.
	Binary string
	// Kubeconfig points the kubernetes plugin at the API server (its
	// current context).
	Kubeconfig string
	// Pods is the kubernetes plugin's pods mode: "insecure" (kubeadm's) or
	// "verified" (watches every Pod).
	Pods string
	// ClusterCache caches cluster answers 30 s, as NodeLocal DNSCache does.
	// Without it the Corefile is kubeadm's: `cache 30` with the cluster zone
	// excluded (`disable success` and `disable denial` for it), so cluster
	// answers always come from the plugin.
	ClusterCache bool
	// Upstream is the forward plugin's target, HOST:PORT.
	Upstream string
	// Domain is the cluster domain.
	Domain string
}

// corednsReadyTimeout bounds CoreDNS's start, the initial list of the API
// server included.
const corednsReadyTimeout = 5 * time.Minute

// Corefile renders kubeadm's Corefile (v1.3x) for cfg, serving on dnsAddr,
// with its health, ready and prometheus endpoints on the given addresses.
// The health plugin's lameduck is left out: it only delays shutdown.
func Corefile(cfg CoreDNSConfig, dnsAddr, healthAddr, readyAddr, metricsAddr string) string {
	cache := fmt.Sprintf(`    cache 30 {
        disable success %s
        disable denial %s
    }`, cfg.Domain, cfg.Domain)
	if cfg.ClusterCache {
		cache = "    cache 30"
	}
	return fmt.Sprintf(`.:%s {
    bind 127.0.0.1
    errors
    health %s
    ready %s
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods %s
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus %s
    forward . %s {
        max_concurrent 1000
    }
%s
    loop
    reload
    loadbalance
}
`, splitPort(dnsAddr), healthAddr, readyAddr, cfg.Domain, cfg.Kubeconfig, cfg.Pods, metricsAddr, cfg.Upstream, cache)
}

// CoreDNS is a running CoreDNS.
type CoreDNS struct {
	*Process
	// Addr is the DNS address (UDP and TCP).
	Addr string
	// Sync is the time from start to the ready plugin's 200, which waits
	// for the kubernetes plugin's initial sync.
	Sync time.Duration
}

// StartCoreDNS writes a Corefile for cfg into dir, starts CoreDNS pinned to
// cpu on free loopback ports and waits until its ready plugin reports ready.
func StartCoreDNS(ctx context.Context, name, dir string, cpu int, cfg CoreDNSConfig) (*CoreDNS, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dnsAddr, err := freeDNSAddr()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var http [3]string
	for i := range http {
		if http[i], err = FreeTCPAddr(append([]string{dnsAddr}, http[:i]...)...); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	corefile := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(corefile, []byte(Corefile(cfg, dnsAddr, http[0], http[1], http[2])), 0o644); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p, err := StartProcess(name, filepath.Join(dir, "coredns.log"), cpu, cfg.Binary, "-conf", corefile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, corednsReadyTimeout)
	defer cancel()
	sync, err := p.WaitReady(ctx, HTTPOK("http://"+http[1]+"/ready"))
	if err != nil {
		p.Stop()
		return nil, err
	}
	return &CoreDNS{Process: p, Addr: dnsAddr, Sync: sync}, nil
}
