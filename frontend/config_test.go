package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/forward"
)

// writeConfig writes content to a frontend.yaml of the test's and returns
// its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "frontend.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFileMerge checks what a --config file sets: each case's file
// with args must give the configuration the equivalent flags (same) give
// alone, so a field the file sets is used unless its flag was given, and an
// absent field keeps the flag's default.
func TestConfigFileMerge(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string // given with --config
		same []string // the flags the merge must be equal to
	}{
		{"empty file sets nothing", "", nil, nil},
		{"log level", "logLevel: debug\n", nil, []string{"--log-level", "debug"}},
		{"a flag wins over its field", "logLevel: debug\n", []string{"--log-level", "warn"}, []string{"--log-level", "warn"}},
		{"a flag given as its default still wins", "cache:\n  size: 1024\n", []string{"--cache-size=67108864"}, nil},
		{"one cache field, the others keep their defaults", "cache:\n  minTTL: 5s\n", nil, []string{"--cache-min-ttl", "5s"}},
		{"every cache field",
			"cache:\n  size: 1048576\n  clusterTTL: 1m\n  minTTL: 2s\n  maxTTL: 10m\n  maxNegativeTTL: 1m\n  serveStale: 0s\n  staleTTL: 10s\n",
			nil, []string{"--cache-size", "1048576", "--cluster-cache-ttl", "1m", "--cache-min-ttl", "2s", "--cache-max-ttl", "10m",
				"--cache-max-negative-ttl", "1m", "--serve-stale", "0s", "--stale-ttl", "10s"}},
		{"cache fields, one overridden", "cache:\n  maxTTL: 10m\n  serveStale: 5m\n", []string{"--serve-stale", "1m"},
			[]string{"--cache-max-ttl", "10m", "--serve-stale", "1m"}},
		{"cluster domain, normalised like the flag", "clusterDomain: Example.ORG.\n", nil, []string{"--cluster-domain", "example.org"}},
		{"cluster domain from a flag", "clusterDomain: example.org\n", []string{"--cluster-domain", "corp.example"},
			[]string{"--cluster-domain", "corp.example"}},
		{"upstreams of every protocol, policy, timeout",
			"upstreams:\n  policy: sequential\n  timeout: 500ms\n  servers:\n  - address: 127.0.0.1\n  - address: 127.0.0.2:5353\n    protocol: tcp\n" +
				"  - address: 127.0.0.3\n    protocol: tls\n    serverName: dns.example\n",
			nil, []string{"--upstream-policy", "sequential", "--upstream-timeout", "500ms", "--upstream", "127.0.0.1:53",
				"--upstream", "tcp://127.0.0.2:5353", "--upstream", "tls://127.0.0.3:853#dns.example"}},
		{"--upstream wins over upstreams.servers, the policy still applies",
			"upstreams:\n  policy: round_robin\n  servers:\n  - address: 127.0.0.1:5353\n", []string{"--upstream", "127.0.0.9:53"},
			[]string{"--upstream-policy", "round_robin", "--upstream", "127.0.0.9:53"}},
		{"upstreams without servers keep the resolv.conf default", "upstreams:\n  policy: sequential\n", nil,
			[]string{"--upstream-policy", "sequential"}},
		{"stub domains", "stubDomains:\n- zone: corp.example\n  servers:\n  - address: 127.0.0.1:5353\n  - address: 127.0.0.2\n    protocol: tcp\n" +
			"- zone: lab.example.\n  servers:\n  - address: 127.0.0.3:53\n",
			nil, []string{"--stub-domain", "corp.example=127.0.0.1:5353,tcp://127.0.0.2:53", "--stub-domain", "lab.example=127.0.0.3:53"}},
		{"--stub-domain replaces the file's stub domains",
			"stubDomains:\n- zone: corp.example\n  servers:\n  - address: 127.0.0.1:5353\n", []string{"--stub-domain", "lab.example=127.0.0.3:53"},
			[]string{"--stub-domain", "lab.example=127.0.0.3:53"}},
		{"hosts, zones and rewrites change no flag",
			"hosts:\n  entries:\n  - addresses: [192.0.2.1]\n    names: [db.example]\nrewrites:\n- match: exact\n  from: a.example\n  to: b.example\n",
			nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			want, err := parseFlags(tt.same, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"--config", path}, tt.args...)
			got, err := parseFlags(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			f := got.File
			if f.Path != path || f.ReloadInterval != 2*time.Second || string(f.data) != tt.file || !reflect.DeepEqual(f.args, args) {
				t.Fatalf("File %+v: want path %s, interval 2s, the content and the command line %q", f, path, args)
			}
			want.File = got.File
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestConfigFileLocal checks that the file's hosts entries, static zones and
// rewrites are built at start: the table answers and the rewriter rewrites.
func TestConfigFileLocal(t *testing.T) {
	path := writeConfig(t, `hosts:
  ttl: 30s
  entries:
  - addresses: [192.0.2.1, "2001:db8::1"]
    names: [db.example, db-alias.example]
zones:
- origin: static.example
  records: |
    @   3600 IN SOA ns.static.example. hostmaster.static.example. 1 7200 1800 86400 60
    www 300  IN A   192.0.2.80
rewrites:
- match: suffix
  from: old.example
  to: new.example
`)
	cfg, err := parseFlags([]string{"--config", path, "--config-reload-interval", "100ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File.ReloadInterval != 100*time.Millisecond {
		t.Errorf("reload interval %s, want 100ms", cfg.File.ReloadInterval)
	}
	l := cfg.File.local
	if l == nil || l.Table == nil || l.Rewriter == nil {
		t.Fatalf("local %+v: want a table and a rewriter", l)
	}
	tests := []struct {
		name  string
		qtype uint16
		want  string // the first answer record; "" for none
	}{
		{"db.example.", dns.TypeA, "db.example.\t30\tIN\tA\t192.0.2.1"},
		{"DB-Alias.Example.", dns.TypeAAAA, "DB-Alias.Example.\t30\tIN\tAAAA\t2001:db8::1"},
		{"www.static.example.", dns.TypeA, "www.static.example.\t300\tIN\tA\t192.0.2.80"},
		{"nothing.static.example.", dns.TypeA, ""},
	}
	for _, tt := range tests {
		m, ok := l.Table.Answer(new(dns.Msg).SetQuestion(tt.name, tt.qtype))
		if !ok {
			t.Errorf("%s %s: not answered by the table", tt.name, dns.TypeToString[tt.qtype])
			continue
		}
		got := ""
		if len(m.Answer) > 0 {
			got = m.Answer[0].String()
		}
		if got != tt.want {
			t.Errorf("%s %s: answer %q, want %q", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
	if _, ok := l.Table.Answer(new(dns.Msg).SetQuestion("www.example.org.", dns.TypeA)); ok {
		t.Error("www.example.org. answered by the table")
	}
	if to, ok := l.Rewriter.Rewrite("host.old.example."); !ok || to != "host.new.example." {
		t.Errorf("rewrite of host.old.example.: %q %v, want host.new.example.", to, ok)
	}

	// Without hosts, zones or rewrites nothing is built: the handler keeps
	// its fast path.
	cfg, err = parseFlags([]string{"--config", writeConfig(t, "logLevel: warn\n")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File.local != nil {
		t.Errorf("local %+v for a file without hosts, zones or rewrites; want nil", cfg.File.local)
	}
}

// TestConfigFileErrors checks that a start with a bad file fails, naming
// the file and the field the way the file spells it.
func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // "-": no file at that path
		args []string
		want []string
	}{
		{"missing file", "-", nil, []string{"--config: ", "no such file"}},
		{"bad YAML", "cache: [size\n", nil, []string{"frontend.yaml: parse: "}},
		{"unknown field", "logLevel: info\ncache:\n  sise: 1\n", nil, []string{"frontend.yaml: parse: ", `unknown field "sise"`}},
		{"unknown top-level field", "upstream: 127.0.0.1\n", nil, []string{`unknown field "upstream"`}},
		{"bad log level", "logLevel: loud\n", nil, []string{`logLevel: "loud": want debug, info, warn or error`}},
		{"upstream name instead of address", "upstreams:\n  servers:\n  - address: dns.example\n", nil,
			[]string{"upstreams.servers[0].address: ", "a name would need a resolver"}},
		{"upstream port 0", "upstreams:\n  servers:\n  - address: 127.0.0.1:53\n  - address: 127.0.0.1:0\n", nil,
			[]string{"upstreams.servers[1].address: ", "port 0"}},
		{"tls upstream without server name", "upstreams:\n  servers:\n  - address: 127.0.0.1\n    protocol: tls\n", nil,
			[]string{"upstreams.servers[0].serverName: required for protocol tls"}},
		{"stub domain without servers", "stubDomains:\n- zone: corp.example\n  servers: []\n", nil,
			[]string{"stubDomains[0].servers: at least one server is required"}},
		{"hosts address", "hosts:\n  entries:\n  - addresses: [192.0.2.300]\n    names: [db.example]\n", nil,
			[]string{"hosts.entries[0].addresses[0]: \"192.0.2.300\": not an IP address"}},
		{"zone without SOA", "zones:\n- origin: static.example\n  records: \"www 60 IN A 192.0.2.1\"\n", nil,
			[]string{"zones[0].records: want exactly one SOA"}},
		{"rewrite match", "rewrites:\n- match: glob\n  from: a\n  to: b\n", nil, []string{`rewrites[0].match: "glob"`}},
		{"every bad field at once", "logLevel: loud\ncache:\n  size: -1\n", nil,
			[]string{"logLevel: ", "cache.size: -1: must be 0 or more bytes"}},
		{"a file value against a flag", "cache:\n  minTTL: 2h\n", []string{"--cache-max-ttl", "1h"},
			[]string{"--cache-min-ttl 2h0m0s: above --cache-max-ttl 1h0m0s"}},
		{"a bad flag with a good file", "logLevel: debug\n", []string{"--upstream", "dns.example:53"}, []string{"--upstream: "}},
		{"negative reload interval", "", []string{"--config-reload-interval", "-1s"}, []string{"--config-reload-interval -1s: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "frontend.yaml")
			if tt.file != "-" {
				path = writeConfig(t, tt.file)
			}
			_, err := parseFlags(append([]string{"--config", path}, tt.args...), io.Discard)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestConfigRestartNeeded checks which changes of a reload are reported as
// taking effect only after a restart, the rest being applied.
func TestConfigRestartNeeded(t *testing.T) {
	const base = "clusterDomain: cluster.local\nupstreams:\n  servers:\n  - address: 127.0.0.1:5353\n"
	tests := []struct {
		name       string
		args       []string
		forwarding bool // the forwarder was started
		file       string
		want       string
	}{
		{"same", nil, true, base, ""},
		{"log level, cache lifetimes and size, upstreams", nil, true,
			"logLevel: debug\ncache:\n  size: 1024\n  maxTTL: 1m\nupstreams:\n  servers:\n  - address: 127.0.0.2:5353\n", ""},
		{"hosts and rewrites", nil, true, base + "hosts:\n  entries:\n  - addresses: [192.0.2.1]\n    names: [db.example]\n", ""},
		{"cluster domain", nil, true, "clusterDomain: example.org\n", "clusterDomain"},
		{"cluster domain spelled differently", nil, true, "clusterDomain: Cluster.Local.\n", ""},
		{"cluster domain given by a flag", []string{"--cluster-domain", "cluster.local"}, true, "clusterDomain: example.org\n", ""},
		{"cache off", nil, true, base + "cache:\n  size: 0\n", "cache.size (turning the cache on or off)"},
		{"cache off and cluster domain", nil, true, "clusterDomain: example.org\ncache:\n  size: 0\n",
			"clusterDomain, cache.size (turning the cache on or off)"},
		{"upstreams when forwarding was off", nil, false, base, "upstreams (forwarding was off at start)"},
		{"stub domains when forwarding was off", nil, false,
			"stubDomains:\n- zone: corp.example\n  servers:\n  - address: 127.0.0.1:5353\n", "upstreams (forwarding was off at start)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := parseFlags(append([]string{"--config", writeConfig(t, base)}, tt.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			next, err := parseFlagsFile(run.File.args, io.Discard, []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r := &reloader{cur: run}
			if tt.forwarding {
				// Only its presence matters to restartNeeded.
				r.fwd = &forward.Forwarder{}
			}
			if got := strings.Join(r.restartNeeded(next), ", "); got != tt.want {
				t.Errorf("restart needed for %q: %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

// TestConfigNoFile checks that without --config nothing is read or built
// and the log level stays the flag's.
func TestConfigNoFile(t *testing.T) {
	cfg, err := parseFlags([]string{"--log-level", "warn", "--config-reload-interval", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.File; f.Path != "" || f.data != nil || f.local != nil || cfg.LogLevel != slog.LevelWarn {
		t.Fatalf("File %+v, level %v: want no file and the --log-level", f, cfg.LogLevel)
	}
}
