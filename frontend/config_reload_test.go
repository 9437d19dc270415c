package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The series of the --config reloads (internal/configwatch).
const (
	reloadsOK       = `clusterdns_frontend_config_reloads_total{result="success"}`
	reloadsFailed   = `clusterdns_frontend_config_reloads_total{result="failure"}`
	lastReloadOK    = "clusterdns_frontend_config_last_reload_successful"
	restartPending  = "clusterdns_frontend_config_restart_pending"
	reloadWaitLimit = 15 * time.Second
)

// startConfigFrontend runs the frontend like main does with a --config
// file: its log level is a slog.LevelVar that a reload sets, returned to
// the test. --listen and --metrics-listen are added on free ports.
func startConfigFrontend(t *testing.T, args ...string) (*frontend, *slog.LevelVar) {
	t.Helper()
	fe := &frontend{done: make(chan error, 1), log: &logBuffer{}}
	listen := freePort(t)
	args = append(args, "--listen", listen, "--metrics-listen", freePort(t, listen))
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(%q): %v", args, err)
	}
	fe.dns, fe.ops = cfg.Listen, cfg.MetricsListen
	cfg.File.level = new(slog.LevelVar)
	cfg.File.level.Set(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(fe.log, &slog.HandlerOptions{Level: cfg.File.level}))
	ctx, cancel := context.WithCancel(context.Background())
	fe.cancel = cancel
	go func() { fe.done <- run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-fe.done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("frontend log:\n%s", fe.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := &dns.Client{Net: "tcp", Timeout: time.Second}
		_, _, err := c.Exchange(new(dns.Msg).SetQuestion(kubernetesName, dns.TypeTXT), fe.dns)
		if err == nil {
			return fe, cfg.File.level
		}
		select {
		case err := <-fe.done:
			t.Fatalf("frontend ended: %v\n%s", err, fe.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("frontend not answering: %v\n%s", err, fe.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replaceFile gives path new content the way a ConfigMap update does: a
// new file renamed over the old one, so that no read sees half of it.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitMetric polls /metrics until sample has the value want and returns
// that scrape.
func (fe *frontend) waitMetric(t *testing.T, sample string, want float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(reloadWaitLimit)
	for {
		m := fe.scrape(t)
		if v, ok := m[sample]; ok && v == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after %s, want %v", sample, m[sample], reloadWaitLimit, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog polls the frontend's log until it holds every one of parts on
// one line.
func (fe *frontend) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(reloadWaitLimit)
	for {
		for line := range strings.SplitSeq(fe.log.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q", parts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectA asks name over UDP and TCP and wants one A record, ip, under the
// asked name.
func (fe *frontend) expectA(t *testing.T, name, ip string) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		resp := fe.ask(t, network, name, dns.TypeA)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Errorf("%s %s: %v, want one A %s", network, name, resp, ip)
			continue
		}
		a, ok := resp.Answer[0].(*dns.A)
		if !ok || a.A.String() != ip || !strings.EqualFold(a.Hdr.Name, name) {
			t.Errorf("%s %s: answer %v, want %s A %s", network, name, resp.Answer[0], name, ip)
		}
	}
}

// cachedTTL asks name twice over UDP and returns the TTL of the second
// answer, which comes from the cache.
func (fe *frontend) cachedTTL(t *testing.T, name string) uint32 {
	t.Helper()
	fe.ask(t, "udp", name, dns.TypeA)
	resp := fe.ask(t, "udp", name, dns.TypeA)
	if len(resp.Answer) != 1 {
		t.Fatalf("%s: %v", name, resp)
	}
	return resp.Answer[0].Header().Ttl
}

// counted wraps h and counts the questions it gets, by lower-case name.
func counted(h dns.HandlerFunc) (dns.HandlerFunc, func(name string) int) {
	var (
		mu sync.Mutex
		n  = make(map[string]int)
	)
	count := func(w dns.ResponseWriter, r *dns.Msg) {
		if len(r.Question) == 1 {
			mu.Lock()
			n[strings.ToLower(r.Question[0].Name)]++
			mu.Unlock()
		}
		h(w, r)
	}
	asked := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return n[name]
	}
	return count, asked
}

// Parts of the test's configuration file.
const (
	staticZone = "zones:\n- origin: static.example\n  records: |\n" +
		"    @   3600 IN SOA ns.static.example. hostmaster.static.example. 1 7200 1800 86400 60\n" +
		"    www 300  IN A   %s\n"
	hostsDB   = "hosts:\n  entries:\n  - addresses: [192.0.2.50]\n    names: [db.hosts.test]\n"
	hostsDB2  = "  - addresses: [192.0.2.51]\n    names: [db2.hosts.test]\n"
	rewriteTo = "rewrites:\n- match: exact\n  from: api.example\n  to: kubernetes.default.svc.cluster.local\n"
)

// TestConfigReload runs the frontend with a --config file read every 100ms
// and edits the file while it serves, asking over UDP and TCP after each
// edit: good edits (hosts, upstreams, zones, stub domains, rewrites, cache
// lifetimes, log level) apply, each bad one is refused with the last good
// configuration serving on, an edit mixing a start-only field with a good
// one applies the good one and reports the restart, and a fix is counted.
func TestConfigReload(t *testing.T) {
	checkGoroutines(t)
	rs := startReplica(t, "rs-1", "10.96.0.5", "127.0.0.1:0")
	upA := startDNS(t, answerWith("192.0.2.1"))
	handlerB, askedB := counted(answerWith("192.0.2.2"))
	upB := startDNS(t, handlerB)
	upstreams := func(addr string) string { return "upstreams:\n  servers:\n  - address: " + addr + "\n" }

	file := "logLevel: info\n" + upstreams(upA) + fmt.Sprintf(staticZone, "192.0.2.80")
	path := filepath.Join(t.TempDir(), "frontend.yaml")
	replaceFile(t, path, file)
	fe, level := startConfigFrontend(t, "--config", path, "--config-reload-interval", "100ms",
		"--recordsvc", rs.addr, "--lameduck", "0s")

	m := fe.waitMetric(t, lastReloadOK, 1)
	if m[reloadsOK] != 0 || m[reloadsFailed] != 0 || m[restartPending] != 0 {
		t.Fatalf("at start: reloads %v ok, %v failed, restart pending %v; want 0, 0, 0", m[reloadsOK], m[reloadsFailed], m[restartPending])
	}
	fe.expectA(t, "ext.example.", "192.0.2.1") // cached from upstream A
	fe.expectA(t, "www.static.example.", "192.0.2.80")
	fe.expectA(t, kubernetesName, "10.96.0.1") // cached from the record service
	if resp := fe.ask(t, "udp", "db.hosts.test.", dns.TypeA); len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("db.hosts.test. before its hosts entry: %v, want upstream A's answer", resp)
	}
	if ttl := fe.cachedTTL(t, "ttl-before.example."); ttl <= 10 {
		t.Fatalf("cached upstream TTL %d before cache.maxTTL was set, want the upstream's 60", ttl)
	}
	fe.ask(t, "udp", "info-level.default.svc.cluster.local.", dns.TypeA)
	if strings.Contains(fe.log.String(), "info-level.default.svc.cluster.local.") {
		t.Fatal("a debug line logged at level info")
	}

	var ok, failed float64 // the reload counters expected
	// good applies content and waits until the watcher counted it.
	good := func(t *testing.T, content string) {
		t.Helper()
		file = content
		replaceFile(t, path, content)
		ok++
		fe.waitMetric(t, reloadsOK, ok)
		// The gauge is set just after the counter.
		if m := fe.waitMetric(t, lastReloadOK, 1); m[reloadsFailed] != failed {
			t.Fatalf("after a good edit: %v failed reloads, want %v", m[reloadsFailed], failed)
		}
	}

	if !t.Run("good edits", func(t *testing.T) {
		steps := []struct {
			name  string
			edit  func(prev string) string
			check func(t *testing.T)
		}{
			{"hosts entry added", func(prev string) string { return prev + hostsDB }, func(t *testing.T) {
				fe.expectA(t, "db.hosts.test.", "192.0.2.50")
				fe.expectA(t, "ext.example.", "192.0.2.1")
			}},
			{"upstream A replaced by B", func(prev string) string { return strings.Replace(prev, upA, upB, 1) }, func(t *testing.T) {
				lookups := rs.lookupCount(kubernetesName)
				fe.waitLog(t, "upstreams changed", upB)
				// A's cached answer is retired; hosts, zone and cluster
				// answers stay, the latter from the cache.
				fe.expectA(t, "ext.example.", "192.0.2.2")
				fe.expectA(t, "db.hosts.test.", "192.0.2.50")
				fe.expectA(t, "www.static.example.", "192.0.2.80")
				fe.expectA(t, kubernetesName, "10.96.0.1")
				if n := rs.lookupCount(kubernetesName); n != lookups {
					t.Errorf("record service asked %d times for %s after the upstream change, want the cached answer", n-lookups, kubernetesName)
				}
			}},
			{"zone record changed, stub domain added", func(prev string) string {
				return strings.Replace(prev, "192.0.2.80", "192.0.2.81", 1) +
					"stubDomains:\n- zone: corp.example\n  servers:\n  - address: " + upA + "\n"
			}, func(t *testing.T) {
				fe.expectA(t, "www.static.example.", "192.0.2.81")
				fe.expectA(t, "host.corp.example.", "192.0.2.1")
				fe.expectA(t, "ext.example.", "192.0.2.2")
			}},
			{"stub domain moved to B", func(prev string) string {
				return strings.Replace(prev, "zone: corp.example\n  servers:\n  - address: "+upA, "zone: corp.example\n  servers:\n  - address: "+upB, 1)
			}, func(t *testing.T) {
				asked := askedB("ext.example.")
				fe.waitLog(t, "stub domains changed", "corp.example.")
				// Only the stub domain's cached answers are retired.
				fe.expectA(t, "host.corp.example.", "192.0.2.2")
				fe.expectA(t, "ext.example.", "192.0.2.2")
				if n := askedB("ext.example."); n != asked {
					t.Errorf("default upstream asked %d times for ext.example. after a stub domain change, want the cached answer", n-asked)
				}
			}},
			{"rewrite added", func(prev string) string { return prev + rewriteTo }, func(t *testing.T) {
				// Answered by the record service under the asked name.
				fe.expectA(t, "api.example.", "10.96.0.1")
				fe.expectA(t, "db.hosts.test.", "192.0.2.50")
			}},
			{"cache lifetime capped", func(prev string) string { return prev + "cache:\n  maxTTL: 10s\n" }, func(t *testing.T) {
				if ttl := fe.cachedTTL(t, "ttl-after.example."); ttl > 10 {
					t.Errorf("cached upstream TTL %d after cache.maxTTL 10s", ttl)
				}
			}},
			{"log level debug", func(prev string) string { return strings.Replace(prev, "logLevel: info", "logLevel: debug", 1) },
				func(t *testing.T) {
					if level.Level() != slog.LevelDebug {
						t.Fatalf("log level %s, want DEBUG", level.Level())
					}
					fe.ask(t, "udp", "debug-level.default.svc.cluster.local.", dns.TypeA)
					fe.waitLog(t, `msg="cache miss"`, "debug-level.default.svc.cluster.local.")
				}},
		}
		for _, s := range steps {
			if !t.Run(s.name, func(t *testing.T) {
				good(t, s.edit(file))
				s.check(t)
			}) {
				t.FailNow()
			}
		}
	}) {
		t.FailNow()
	}
	lastGood := file

	if !t.Run("bad edits", func(t *testing.T) {
		steps := []struct {
			name    string
			content string // "": the file is removed
			logged  string // in the rejection's log line
		}{
			{"file removed", "", "configuration file unreadable"},
			{"invalid YAML", lastGood + "upstreams: [\n", "parse: "},
			{"unknown field", lastGood + "upstreamz:\n  servers: []\n", "upstreamz"},
			{"upstream name for an address", strings.Replace(lastGood, upB, "upstream.example", 1),
				"upstreams.servers[0].address"},
			{"TLS upstream without server name", strings.Replace(lastGood, "  - address: "+upB+"\n",
				"  - address: "+upB+"\n    protocol: tls\n", 1), "upstreams.servers[0].serverName"},
			{"cache minimum above the maximum", strings.Replace(lastGood, "maxTTL: 10s", "maxTTL: 10s\n  minTTL: 1m", 1),
				"cache.minTTL"},
		}
		for _, s := range steps {
			if !t.Run(s.name, func(t *testing.T) {
				if s.content == "" {
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
				} else {
					replaceFile(t, path, s.content)
				}
				failed++
				fe.waitMetric(t, reloadsFailed, failed)
				if m := fe.waitMetric(t, lastReloadOK, 0); m[reloadsOK] != ok {
					t.Errorf("after a bad edit: %v good reloads, want %v", m[reloadsOK], ok)
				}
				fe.waitLog(t, "configuration", s.logged)
				// The last good configuration serves on.
				fe.expectA(t, "ext2.example.", "192.0.2.2")
				fe.expectA(t, "db.hosts.test.", "192.0.2.50")
				fe.expectA(t, "api.example.", "10.96.0.1")
				fe.expectA(t, "www.static.example.", "192.0.2.81")
				if level.Level() != slog.LevelDebug {
					t.Errorf("log level %s after a refused edit, want DEBUG", level.Level())
				}
			}) {
				t.FailNow()
			}
		}
	}) {
		t.FailNow()
	}

	if !t.Run("fixed", func(t *testing.T) {
		// Back to exactly the last good content: applied again.
		good(t, lastGood)
		fe.expectA(t, "db.hosts.test.", "192.0.2.50")
	}) {
		t.FailNow()
	}

	if !t.Run("partial: cluster domain needs a restart", func(t *testing.T) {
		good(t, "clusterDomain: example.org\n"+strings.Replace(lastGood, hostsDB, hostsDB+hostsDB2, 1))
		fe.waitMetric(t, restartPending, 1)
		fe.waitLog(t, "needs a restart", "clusterDomain")
		fe.expectA(t, "db2.hosts.test.", "192.0.2.51")
		// The cluster domain in effect is still the one of the start.
		fe.expectA(t, kubernetesName, "10.96.0.1")
		if resp := fe.ask(t, "tcp", "kubernetes.default.svc.example.org.", dns.TypeA); len(resp.Answer) != 1 ||
			resp.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
			t.Errorf("a name under the new cluster domain: %v, want the upstream's answer", resp)
		}
	}) {
		t.FailNow()
	}

	if !t.Run("restart no longer needed", func(t *testing.T) {
		good(t, strings.Replace(lastGood, hostsDB, hostsDB+hostsDB2, 1))
		fe.waitMetric(t, restartPending, 0)
		fe.expectA(t, "db2.hosts.test.", "192.0.2.51")
	}) {
		t.FailNow()
	}
}
