package dnsconfig

import (
	"strings"
	"testing"
	"time"
)

const full = `
logLevel: debug
clusterDomain: cluster.local
cache:
  size: 1048576
  clusterTTL: 5m
  minTTL: 0s
  maxTTL: 1h
  maxNegativeTTL: 30m
  serveStale: 1h
  staleTTL: 30s
upstreams:
  policy: sequential
  timeout: 2s
  servers:
  - address: 10.0.0.53:53
  - address: 10.0.0.54
    protocol: tcp
  - address: "[fd00::55]"
    protocol: tls
    serverName: dns.example.net
stubDomains:
- zone: corp.example
  servers:
  - address: 10.1.0.53:53
hosts:
  ttl: 60s
  fallthrough: true
  entries:
  - addresses: [10.2.0.5, "fd00::5"]
    names: [db.corp.example, db]
zones:
- origin: example.internal
  records: |
    @   3600 IN SOA ns.example.internal. hostmaster.example.internal. 1 7200 3600 1209600 300
    @   3600 IN NS  ns.example.internal.
    www  300 IN A   10.3.0.1
rewrites:
- match: exact
  from: foo.example.com
  to: foo.default.svc.cluster.local
- match: regex
  from: (.*)\.old\.example\.
  to: $1.new.example.
`

func TestParseFull(t *testing.T) {
	f, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if f.LogLevel != "debug" || *f.Cache.Size != 1<<20 || f.Cache.ClusterTTL.D() != 5*time.Minute {
		t.Errorf("log level / cache: %+v %+v", f.LogLevel, f.Cache)
	}
	if f.Cache.MinTTL == nil || f.Cache.MinTTL.D() != 0 {
		t.Errorf("minTTL 0s should be present and zero: %v", f.Cache.MinTTL)
	}
	for i, want := range []string{"10.0.0.53:53", "10.0.0.54:53", "[fd00::55]:853"} {
		ap, err := f.Upstreams.Servers[i].AddrPort()
		if err != nil || ap.String() != want {
			t.Errorf("server %d: %v %v, want %s", i, ap, err, want)
		}
	}
	if f.Upstreams.Servers[0].Proto() != ProtocolUDP || !f.Hosts.Fallthrough || len(f.Rewrites) != 2 {
		t.Errorf("parsed: %+v", f)
	}
	// What Marshal writes, Parse reads back to the same thing.
	out, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	again, _ := Marshal(g)
	if string(again) != string(out) {
		t.Errorf("round trip differs:\n%s\n---\n%s", out, again)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "{}"} {
		f, err := Parse([]byte(in))
		if err != nil || f.Cache != nil || f.Upstreams != nil || f.StubDomains != nil {
			t.Errorf("Parse(%q) = %+v, %v", in, f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown top", "logLevl: info", `unknown field "logLevl"`},
		{"unknown nested", "cache:\n  sise: 1", `unknown field "sise"`},
		{"duplicate field", "logLevel: info\nlogLevel: debug", `"logLevel" already set`},
		{"bad type", "cache:\n  size: big", "cache.size"},
		{"duration number", "cache:\n  maxTTL: 30", `want a string such as "30s"`},
		{"duration text", "cache:\n  maxTTL: soon", `"soon"`},
		{"log level", "logLevel: loud", `logLevel: "loud": want debug`},
		{"cluster domain", "clusterDomain: .", "clusterDomain:"},
		{"cache size", "cache:\n  size: -1", "cache.size: -1"},
		{"max ttl", "cache:\n  maxTTL: 0s", "cache.maxTTL: 0s: must be 1s or more"},
		{"stale ttl fraction", "cache:\n  staleTTL: 1500ms", "cache.staleTTL: 1.5s: want whole seconds"},
		{"min above max", "cache:\n  minTTL: 2h\n  maxTTL: 1h", "cache.minTTL: 2h0m0s: above cache.maxTTL"},
		{"policy", "upstreams:\n  policy: fastest", "upstreams.policy"},
		{"timeout", "upstreams:\n  timeout: 0s", "upstreams.timeout: 0s: must be positive"},
		{"tls server name", "upstreams:\n  servers:\n  - address: 10.0.0.1\n  - address: 10.0.0.2\n  - address: 10.0.0.3\n    protocol: tls",
			"upstreams.servers[2].serverName: required for protocol tls"},
		{"server name on udp", "upstreams:\n  servers:\n  - address: 10.0.0.1\n    serverName: x.example", "upstreams.servers[0].serverName: only for protocol tls"},
		{"protocol", "upstreams:\n  servers:\n  - address: 10.0.0.1\n    protocol: https", `upstreams.servers[0].protocol: "https"`},
		{"address name", "upstreams:\n  servers:\n  - address: dns.example:53", "upstreams.servers[0].address"},
		{"address port 0", "upstreams:\n  servers:\n  - address: 10.0.0.1:0", "port 0"},
		{"address missing", "upstreams:\n  servers:\n  - protocol: tcp", "upstreams.servers[0].address: empty address"},
		{"duplicate server", "upstreams:\n  servers:\n  - address: 10.0.0.1\n  - address: 10.0.0.1:53", "upstreams.servers[1].address: udp://10.0.0.1:53 is also upstreams.servers[0]"},
		{"stub zone", "stubDomains:\n- servers:\n  - address: 10.0.0.1", "stubDomains[0].zone: required"},
		{"stub no servers", "stubDomains:\n- zone: corp.example", "stubDomains[0].servers: at least one server"},
		{"stub duplicate", "stubDomains:\n- zone: corp.example\n  servers: [{address: 10.0.0.1}]\n- zone: CORP.example.\n  servers: [{address: 10.0.0.2}]",
			"stubDomains[1].zone: corp.example. is also stubDomains[0]"},
		{"hosts address", "hosts:\n  entries:\n  - addresses: [10.0.0.300]\n    names: [a]", "hosts.entries[0].addresses[0]"},
		{"hosts names", "hosts:\n  entries:\n  - addresses: [10.0.0.3]", "hosts.entries[0].names: at least one"},
		{"hosts ttl", "hosts:\n  ttl: 0s", "hosts.ttl"},
		{"zone without soa", "zones:\n- origin: example.internal\n  records: 'www 300 IN A 10.0.0.1'", "zones[0].records: want exactly one SOA"},
		{"zone outside", "zones:\n- origin: example.internal\n  records: |\n    @ 3600 IN SOA ns hm 1 2 3 4 5\n    www.other. 300 IN A 10.0.0.1",
			"zones[0].records: www.other. A: outside the zone"},
		{"zone syntax", "zones:\n- origin: example.internal\n  records: 'www 300 IN A nope'", "zones[0].records:"},
		{"zone origin", "zones:\n- records: ''", "zones[0].origin: required"},
		{"rewrite match", "rewrites:\n- match: glob\n  from: a\n  to: b", `rewrites[0].match: "glob"`},
		{"rewrite regex", "rewrites:\n- match: regex\n  from: '('\n  to: b", "rewrites[0].from: error parsing regexp"},
		{"rewrite to", "rewrites:\n- match: exact\n  from: a.example", "rewrites[0].to: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestValidateAll reports every problem, not only the first.
func TestValidateAll(t *testing.T) {
	_, err := Parse([]byte("logLevel: loud\ncache:\n  size: -1\n"))
	if err == nil || !strings.Contains(err.Error(), "logLevel") || !strings.Contains(err.Error(), "cache.size") {
		t.Errorf("got %v, want both logLevel and cache.size", err)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	f := &Frontend{Upstreams: &Upstreams{Servers: []Server{{Address: "10.0.0.1", Protocol: ProtocolTLS}}}}
	if _, err := Marshal(f); err == nil || !strings.Contains(err.Error(), "serverName") {
		t.Errorf("Marshal: %v", err)
	}
	f.Upstreams.Servers[0].ServerName = "dns.example"
	f.Cache = &Cache{MaxTTL: NewDuration(90 * time.Second)}
	out, err := Marshal(f)
	if err != nil || !strings.Contains(string(out), "maxTTL: 1m30s") || strings.Contains(string(out), "hosts") {
		t.Errorf("Marshal: %s, %v", out, err)
	}
}
