package forward

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// TestHealthCheck follows an upstream that stops answering: a failed query and a failed probe mark it down,
// queries skip it while it is down, probes keep going, and it is used again once it answers.
func TestHealthCheck(t *testing.T) {
	flaky := startUpstream(t, answerA("192.0.2.1"))
	backup := startUpstream(t, answerA("192.0.2.2"))
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	f, err := New(Config{
		Upstreams:           []string{flaky.addr, backup.addr},
		Policy:              PolicySequential,
		Timeout:             testTimeout,
		HealthCheckInterval: 20 * time.Millisecond,
		Metrics:             metrics,
	}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	healthy := func(addr string) float64 {
		v, _ := metricValue(t, reg, "clusterdns_forward_upstream_healthy", map[string]string{"upstream": addr})
		return v
	}
	forward := func(wantIP string) {
		t.Helper()
		got, err := f.Forward(context.Background(), query("a.example.", dns.TypeA, 1))
		if err != nil {
			t.Fatalf("Forward: %v", err)
		}
		if ips := answerIPs(got); !slices.Equal(ips, []string{wantIP}) {
			t.Fatalf("answers %v, want %s", ips, wantIP)
		}
	}

	forward("192.0.2.1")
	if healthy(flaky.addr) != 1 || healthy(backup.addr) != 1 {
		t.Fatal("upstreams not reported healthy at start")
	}

	flaky.silent.Store(true)
	forward("192.0.2.2") // the flaky upstream times out, the backup answers
	eventually(t, "the silent upstream marked down", func() bool { return upstreamDown(f, flaky.addr) })
	if healthy(flaky.addr) != 0 {
		t.Error("health gauge of the down upstream is not 0")
	}
	if v, _ := metricValue(t, reg, "clusterdns_forward_upstream_errors_total", map[string]string{"upstream": flaky.addr, "reason": reasonTimeout}); v < 1 {
		t.Errorf("timeout errors of the silent upstream = %v, want >= 1", v)
	}

	before := len(flaky.received())
	forward("192.0.2.2")
	if n := len(flaky.received()); n != before {
		t.Errorf("a down upstream got %d queries", n-before)
	}

	flaky.silent.Store(false)
	eventually(t, "the upstream marked up after answering a probe", func() bool { return !upstreamDown(f, flaky.addr) })
	if healthy(flaky.addr) != 1 {
		t.Error("health gauge of the recovered upstream is not 1")
	}
	forward("192.0.2.1")
	if v, _ := metricValue(t, reg, "clusterdns_forward_upstream_duration_seconds", map[string]string{"upstream": flaky.addr, "rcode": "NOERROR"}); v < 2 {
		t.Errorf("latency samples of the recovered upstream = %v, want >= 2", v)
	}
}

func TestNewMetricsRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the collectors twice on one registry succeeded")
	}
}
