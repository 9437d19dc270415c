package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

func TestParseFlags(t *testing.T) {
	defaults := Config{
		Listen:                 "127.0.0.1:1053",
		RecordService:          "127.0.0.1:9090",
		ClusterDomain:          "cluster.local",
		CacheSize:              67108864,
		ClusterCacheTTL:        5 * time.Minute,
		ServeStale:             time.Hour,
		StaleTTL:               30 * time.Second,
		MetricsListen:          "",
		LogLevel:               slog.LevelInfo,
		LookupTimeout:          2 * time.Second,
		LogFormat:              "text",
		ResolvConf:             "/etc/resolv.conf",
		MaxConcurrentUpstream:  1000,
		MaxConcurrentMisses:    1000,
		UpstreamPolicy:         "random",
		UpstreamTimeout:        2 * time.Second,
		CacheMaxTTL:            time.Hour,
		CacheMaxNegativeTTL:    30 * time.Minute,
		EDNSBufferSize:         1232,
		MaxUDPSize:             4096,
		TCPIdleTimeout:         10 * time.Second,
		MaxTCPConnections:      1000,
		MaxTCPConnectionsPerIP: 100,
		MaxTCPQueries:          128,
		Lameduck:               5 * time.Second,
		ReadyFailOpen:          30 * time.Second,
	}
	with := func(change func(*Config)) Config {
		c := defaults
		change(&c)
		return c
	}
	tests := []struct {
		name    string
		args    []string
		want    Config
		wantErr string // substring; the flag's name for bad values
	}{
		{"defaults", nil, defaults, ""},
		{"all flags", []string{
			"--listen", "0.0.0.0:53", "--recordsvc", "dns:///recordsvc.kube-system.svc:9090",
			"--cluster-domain", "Example.Internal.", "--cache-size", "0", "--cluster-cache-ttl", "0s",
			"--metrics-listen", ":9153", "--log-level", "debug", "--lookup-timeout", "500ms",
			"--log-format", "json", "--query-log",
			"--upstream", "10.0.0.1", "--upstream", "[fd00::1]:5353",
			"--resolv-conf", "/tmp/resolv.conf",
			"--stub-domain", "Corp.Example=10.0.0.53:53,10.0.0.54", "--stub-domain", "lab.=192.0.2.1:5300",
			"--stub-domains-file", "/etc/stubs", "--max-concurrent-upstream", "50",
			"--max-concurrent-misses", "64",
			"--upstream-policy", "round_robin", "--upstream-timeout", "1s",
			"--cache-max-ttl", "10m", "--cache-min-ttl", "5s", "--cache-max-negative-ttl", "1m",
			"--edns-buffer-size", "1400", "--max-udp-size", "1400",
			"--tcp-idle-timeout", "3s", "--max-tcp-connections", "10", "--max-tcp-queries", "-1",
			"--max-tcp-connections-per-ip", "4",
			"--lameduck", "0s", "--serve-stale", "0s", "--stale-ttl", "10s",
		}, Config{
			Listen: "0.0.0.0:53", RecordService: "dns:///recordsvc.kube-system.svc:9090",
			ClusterDomain: "example.internal", CacheSize: 0, ClusterCacheTTL: 0,
			MetricsListen: ":9153", LogLevel: slog.LevelDebug, LookupTimeout: 500 * time.Millisecond,
			LogFormat: "json", QueryLog: true,
			Upstreams:  []string{"10.0.0.1:53", "[fd00::1]:5353"},
			ResolvConf: "/tmp/resolv.conf",
			StubDomains: map[string][]string{
				"corp.example.": {"10.0.0.53:53", "10.0.0.54:53"},
				"lab.":          {"192.0.2.1:5300"},
			},
			StubDomainsFile: "/etc/stubs", MaxConcurrentUpstream: 50, MaxConcurrentMisses: 64,
			UpstreamPolicy: "round_robin", UpstreamTimeout: time.Second,
			CacheMaxTTL: 10 * time.Minute, CacheMinTTL: 5 * time.Second, CacheMaxNegativeTTL: time.Minute,
			EDNSBufferSize: 1400, MaxUDPSize: 1400,
			TCPIdleTimeout: 3 * time.Second, MaxTCPConnections: 10, MaxTCPConnectionsPerIP: 4, MaxTCPQueries: -1,
			Lameduck: 0, ReadyFailOpen: 30 * time.Second, ServeStale: 0, StaleTTL: 10 * time.Second,
		}, ""},
		{"recordsvc replica list", []string{"--recordsvc", "10.0.0.1:9090,recordsvc-1.example:9090, [fd00::1]:9090"},
			with(func(c *Config) { c.RecordService = "10.0.0.1:9090,recordsvc-1.example:9090, [fd00::1]:9090" }), ""},
		{"serve stale 10m", []string{"--serve-stale", "10m"}, with(func(c *Config) { c.ServeStale = 10 * time.Minute }), ""},
		{"single dash and equals", []string{"-listen=[::1]:1053", "-log-level=WARN"},
			with(func(c *Config) { c.Listen = "[::1]:1053"; c.LogLevel = slog.LevelWarn }), ""},
		{"listen port 0", []string{"--listen", "127.0.0.1:0"}, with(func(c *Config) { c.Listen = "127.0.0.1:0" }), ""},
		{"udp sockets", []string{"--udp-sockets", "4"}, with(func(c *Config) { c.UDPSockets = 4 }), ""},
		{"udp sockets negative", []string{"--udp-sockets", "-1"}, Config{}, "--udp-sockets"},

		{"listen without port", []string{"--listen", "127.0.0.1"}, Config{}, "--listen"},
		{"listen bad port", []string{"--listen", "127.0.0.1:99999"}, Config{}, "--listen"},
		{"recordsvc empty", []string{"--recordsvc", ""}, Config{}, "--recordsvc"},
		{"recordsvc without host", []string{"--recordsvc", ":9090"}, Config{}, "--recordsvc"},
		{"recordsvc bad uri", []string{"--recordsvc", "dns:///"}, Config{}, "--recordsvc"},
		{"recordsvc list with empty element", []string{"--recordsvc", "10.0.0.1:9090,"}, Config{}, "--recordsvc"},
		{"recordsvc list without port", []string{"--recordsvc", "10.0.0.1:9090,10.0.0.2"}, Config{}, "--recordsvc"},
		{"recordsvc list twice the same", []string{"--recordsvc", "10.0.0.1:9090,10.0.0.1:9090"}, Config{}, "--recordsvc"},
		{"serve stale negative", []string{"--serve-stale", "-1s"}, Config{}, "--serve-stale"},
		{"stale ttl zero", []string{"--stale-ttl", "0s"}, Config{}, "--stale-ttl"},
		{"stale ttl fraction", []string{"--stale-ttl", "1500ms"}, Config{}, "--stale-ttl"},
		{"cluster domain empty", []string{"--cluster-domain", ""}, Config{}, "--cluster-domain"},
		{"cluster domain root", []string{"--cluster-domain", "."}, Config{}, "--cluster-domain"},
		{"cluster domain malformed", []string{"--cluster-domain", "a..b"}, Config{}, "--cluster-domain"},
		{"cache size negative", []string{"--cache-size", "-1"}, Config{}, "--cache-size"},
		{"cache size not a number", []string{"--cache-size", "64MiB"}, Config{}, "cache-size"},
		{"cluster cache ttl negative", []string{"--cluster-cache-ttl", "-1s"}, Config{}, "--cluster-cache-ttl"},
		{"cluster cache ttl garbage", []string{"--cluster-cache-ttl", "soon"}, Config{}, "cluster-cache-ttl"},
		{"metrics listen bad", []string{"--metrics-listen", "9153"}, Config{}, "--metrics-listen"},
		{"pprof without metrics", []string{"--pprof"}, Config{}, "--pprof"},
		{"log level bad", []string{"--log-level", "loud"}, Config{}, "--log-level"},
		{"lookup timeout zero", []string{"--lookup-timeout", "0s"}, Config{}, "--lookup-timeout"},
		{"lookup timeout garbage", []string{"--lookup-timeout", "2"}, Config{}, "lookup-timeout"},
		{"upstream not an IP", []string{"--upstream", "dns.google:53"}, Config{}, "--upstream"},
		{"upstream port 0", []string{"--upstream", "10.0.0.1:0"}, Config{}, "--upstream"},
		{"resolv conf empty", []string{"--resolv-conf", ""}, Config{}, "--resolv-conf"},
		{"stub domain without upstream", []string{"--stub-domain", "corp.example"}, Config{}, "--stub-domain"},
		{"stub domain bad upstream", []string{"--stub-domain", "corp.example=ns.corp:53"}, Config{}, "--stub-domain"},
		{"stub domain twice", []string{"--stub-domain", "a.example=10.0.0.1", "--stub-domain", "A.example.=10.0.0.2"}, Config{}, "--stub-domain"},
		{"max concurrent upstream zero", []string{"--max-concurrent-upstream", "0"}, Config{}, "--max-concurrent-upstream"},
		{"max concurrent misses zero", []string{"--max-concurrent-misses", "0"}, Config{}, "--max-concurrent-misses"},
		{"upstream policy bad", []string{"--upstream-policy", "fastest"}, Config{}, "--upstream-policy"},
		{"upstream timeout zero", []string{"--upstream-timeout", "0s"}, Config{}, "--upstream-timeout"},
		{"cache max ttl zero", []string{"--cache-max-ttl", "0s"}, Config{}, "--cache-max-ttl"},
		{"cache min ttl negative", []string{"--cache-min-ttl", "-1s"}, Config{}, "--cache-min-ttl"},
		{"cache min ttl above max", []string{"--cache-min-ttl", "2h"}, Config{}, "--cache-min-ttl"},
		{"cache max negative ttl zero", []string{"--cache-max-negative-ttl", "0s"}, Config{}, "--cache-max-negative-ttl"},
		{"edns buffer size small", []string{"--edns-buffer-size", "100"}, Config{}, "--edns-buffer-size"},
		{"max udp size large", []string{"--max-udp-size", "70000"}, Config{}, "--max-udp-size"},
		{"tcp idle timeout zero", []string{"--tcp-idle-timeout", "0s"}, Config{}, "--tcp-idle-timeout"},
		{"max tcp connections zero", []string{"--max-tcp-connections", "0"}, Config{}, "--max-tcp-connections"},
		{"max tcp connections per ip", []string{"--max-tcp-connections-per-ip", "5"}, with(func(c *Config) { c.MaxTCPConnectionsPerIP = 5 }), ""},
		{"max tcp connections per ip zero", []string{"--max-tcp-connections-per-ip", "0"}, Config{}, "--max-tcp-connections-per-ip"},
		{"max tcp queries zero", []string{"--max-tcp-queries", "0"}, Config{}, "--max-tcp-queries"},
		{"lameduck negative", []string{"--lameduck", "-1s"}, Config{}, "--lameduck"},
		{"ready fail-open negative", []string{"--ready-fail-open", "-1s"}, Config{}, "--ready-fail-open"},
		{"log format bad", []string{"--log-format", "xml"}, Config{}, "--log-format"},
		{"unknown flag", []string{"--forward", "1.1.1.1:53"}, Config{}, "forward"},
		{"stray argument", []string{"extra"}, Config{}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseFlags([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"listen", "recordsvc", "cluster-domain", "cache-size", "cluster-cache-ttl", "metrics-listen",
		"log-level", "lookup-timeout", "log-format", "query-log", "upstream", "resolv-conf", "stub-domain", "stub-domains-file",
		"max-concurrent-upstream", "max-concurrent-misses", "upstream-policy", "upstream-timeout", "cache-max-ttl", "cache-min-ttl",
		"cache-max-negative-ttl", "edns-buffer-size", "max-udp-size", "tcp-idle-timeout", "max-tcp-connections",
		"max-tcp-queries", "lameduck", "serve-stale", "stale-ttl", "max-tcp-connections-per-ip", "recordsvc-tls-cert",
		"recordsvc-tls-key", "recordsvc-tls-ca", "recordsvc-tls-server-name", "ready-fail-open"} {
		if !strings.Contains(out.String(), "-"+name) {
			t.Errorf("--help does not list --%s", name)
		}
	}
}

// TestParseRecordServiceTLSFlags: the --recordsvc-tls-* flags come in the
// combinations TLS needs, name existing files, and the server name defaults
// to the host of --recordsvc.
func TestParseRecordServiceTLSFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	authority, err := mtls.NewCA("test CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := mtls.Issue(authority, mtls.CertSpec{Identity: "frontend", Client: true, Lifetime: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string][]byte{cert: kp.CertPEM, key: kp.KeyPEM, ca: authority.CertPEM} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.crt")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantFiles  mtls.Files
		wantServer string
		wantErr    string
	}{
		{"none: plaintext", nil, mtls.Files{}, "", ""},
		{"mutual TLS, name from --recordsvc",
			[]string{"--recordsvc", "recordsvc.kube-system.svc:9090", "--recordsvc-tls-cert", cert, "--recordsvc-tls-key", key, "--recordsvc-tls-ca", ca},
			mtls.Files{Cert: cert, Key: key, CA: ca}, "recordsvc.kube-system.svc", ""},
		{"name from a dns target",
			[]string{"--recordsvc", "dns:///recordsvc.kube-system.svc:9090", "--recordsvc-tls-ca", ca},
			mtls.Files{CA: ca}, "recordsvc.kube-system.svc", ""},
		{"name from the first replica",
			[]string{"--recordsvc", "10.0.0.1:9090,10.0.0.2:9090", "--recordsvc-tls-ca", ca},
			mtls.Files{CA: ca}, "10.0.0.1", ""},
		{"name given",
			[]string{"--recordsvc-tls-ca", ca, "--recordsvc-tls-server-name", "recordsvc"},
			mtls.Files{CA: ca}, "recordsvc", ""},
		{"cert without key", []string{"--recordsvc-tls-cert", cert, "--recordsvc-tls-ca", ca}, mtls.Files{}, "", "--recordsvc-tls-key"},
		{"key without cert", []string{"--recordsvc-tls-key", key, "--recordsvc-tls-ca", ca}, mtls.Files{}, "", "--recordsvc-tls-cert"},
		{"cert without CA", []string{"--recordsvc-tls-cert", cert, "--recordsvc-tls-key", key}, mtls.Files{}, "", "--recordsvc-tls-ca"},
		{"server name without CA", []string{"--recordsvc-tls-server-name", "recordsvc"}, mtls.Files{}, "", "--recordsvc-tls-server-name"},
		{"missing cert file", []string{"--recordsvc-tls-cert", missing, "--recordsvc-tls-key", key, "--recordsvc-tls-ca", ca}, mtls.Files{}, "", "--recordsvc-tls-cert"},
		{"missing CA file", []string{"--recordsvc-tls-ca", missing}, mtls.Files{}, "", "--recordsvc-tls-ca"},
		{"CA file without a certificate", []string{"--recordsvc-tls-ca", garbage}, mtls.Files{}, "", "--recordsvc-tls-ca"},
		{"key that is not a key", []string{"--recordsvc-tls-cert", cert, "--recordsvc-tls-key", garbage, "--recordsvc-tls-ca", ca}, mtls.Files{}, "", "--recordsvc-tls-key"},
		{"key of another certificate", []string{"--recordsvc-tls-cert", ca, "--recordsvc-tls-key", key, "--recordsvc-tls-ca", ca}, mtls.Files{}, "", "--recordsvc-tls-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			if got.RecordServiceTLS != tt.wantFiles || got.RecordServiceServerName != tt.wantServer {
				t.Errorf("TLS files %+v, server name %q; want %+v, %q", got.RecordServiceTLS, got.RecordServiceServerName, tt.wantFiles, tt.wantServer)
			}
		})
	}
}

func TestLoopbackTarget(t *testing.T) {
	tests := []struct {
		target string
		want   bool
	}{
		{"127.0.0.1:9090", true},
		{"[::1]:9090", true},
		{"localhost:9090", true},
		{"127.0.0.1:9090,127.0.0.2:9090", true},
		{"127.0.0.1:9090,10.0.0.2:9090", false},
		{"10.96.0.10:9090", false},
		{"recordsvc.kube-system.svc:9090", false},
		{"dns:///localhost:9090", true},
		{"dns:///recordsvc.kube-system.svc:9090", false},
	}
	for _, tt := range tests {
		if got := loopbackTarget(tt.target); got != tt.want {
			t.Errorf("loopbackTarget(%q) = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestReadyNow(t *testing.T) {
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		connected bool
		lastUp    time.Time
		now       time.Time
		failOpen  time.Duration
		want      bool
	}{
		{"connected", true, start, start.Add(time.Second), 30 * time.Second, true},
		{"never reached, just started", false, time.Time{}, start.Add(5 * time.Second), 30 * time.Second, false},
		{"never reached for the fail-open time", false, time.Time{}, start.Add(30 * time.Second), 30 * time.Second, true},
		{"lost a moment ago", false, start.Add(time.Hour), start.Add(time.Hour + 10*time.Second), 30 * time.Second, false},
		{"lost for longer than fail-open", false, start.Add(time.Hour), start.Add(time.Hour + 31*time.Second), 30 * time.Second, true},
		{"fail-open off", false, start, start.Add(24 * time.Hour), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readyNow(tt.connected, tt.lastUp, start, tt.now, tt.failOpen); got != tt.want {
				t.Errorf("readyNow = %v, want %v", got, tt.want)
			}
		})
	}
}
