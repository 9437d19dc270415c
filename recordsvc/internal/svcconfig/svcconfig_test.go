package svcconfig

import (
	"strings"
	"testing"
)

const full = `
logLevel: debug
clusterDomain: example.org
ttl: 5
pods: verified
autopath: true
zoneAware: true
directoryLimit: 0
nameserverService: dns/frontend
queryLog: false
visibilityPolicy: /etc/clusterdns/visibility.yaml
authzPolicy: /etc/clusterdns/authz.yaml
lameduck: 3s
healthz:
  syncTimeout: 2m
  sourceFailure: 1m
limits:
  maxConnections: 10
  maxConnectionsPerIP: 2
  maxStreamsPerConnection: 3
  maxStreams: 0
  maxStreamsPerClient: 5
`

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []Setting
	}{
		{"empty", "", nil},
		{"comment only", "# nothing set\n", nil},
		{"log level only", "logLevel: warn\n", []Setting{{"logLevel", "log-level", "warn"}}},
		{"false is set", "autopath: false\nttl: 1\n",
			[]Setting{{"ttl", "ttl", "1"}, {"autopath", "autopath", "false"}}},
		{"largest TTL", "ttl: 2147483647\n", []Setting{{"ttl", "ttl", "2147483647"}}},
		{"pods insecure", "pods: insecure\n", []Setting{{"pods", "pods", "insecure"}}},
		{"full", full, []Setting{
			{"logLevel", "log-level", "debug"},
			{"clusterDomain", "cluster-domain", "example.org"},
			{"ttl", "ttl", "5"},
			{"pods", "pods", "verified"},
			{"autopath", "autopath", "true"},
			{"zoneAware", "zone-aware", "true"},
			{"directoryLimit", "directory-limit", "0"},
			{"nameserverService", "nameserver-service", "dns/frontend"},
			{"queryLog", "query-log", "false"},
			{"visibilityPolicy", "visibility-policy", "/etc/clusterdns/visibility.yaml"},
			{"authzPolicy", "authz-policy", "/etc/clusterdns/authz.yaml"},
			{"lameduck", "lameduck", "3s"},
			{"healthz.syncTimeout", "healthz-sync-timeout", "2m0s"},
			{"healthz.sourceFailure", "healthz-source-failure", "1m0s"},
			{"limits.maxConnections", "max-connections", "10"},
			{"limits.maxConnectionsPerIP", "max-connections-per-ip", "2"},
			{"limits.maxStreamsPerConnection", "max-streams-per-connection", "3"},
			{"limits.maxStreams", "max-streams", "0"},
			{"limits.maxStreamsPerClient", "max-streams-per-client", "5"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := f.Settings()
			if len(got) != len(tt.want) {
				t.Fatalf("settings\n got %v\nwant %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("setting %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // each must appear in the error
	}{
		{"unknown field", "logLevl: debug\n", []string{`unknown field "logLevl"`}},
		{"unknown nested field", "limits:\n  maxStream: 3\n", []string{`unknown field "maxStream"`}},
		{"repeated field", "ttl: 5\nttl: 6\n", []string{`"ttl"`}},
		{"not YAML", "ttl: [5\n", []string{"parse: "}},
		{"truncated", "limits:\n  maxConnections: 10\n maxStreams", []string{"parse: "}},
		{"list instead of map", "- ttl: 5\n", []string{"parse: "}},
		{"TTL type", "ttl: thirty\n", []string{"parse: ", "ttl"}},
		{"bare duration", "lameduck: 5\n", []string{"parse: ", "want a string"}},
		{"log level", "logLevel: loud\n", []string{`logLevel: "loud": want debug, info, warn or error`}},
		{"TTL zero", "ttl: 0\n", []string{"ttl: 0: must be 1..2147483647 seconds"}},
		{"directory limit negative", "directoryLimit: -5\n", []string{"directoryLimit: -5: must be 0..2147483647 Services"}},
		{"TTL too big", "ttl: 2147483648\n", []string{"ttl: 2147483648: must be 1..2147483647 seconds"}},
		{"pods", "pods: sometimes\n", []string{"pods: invalid pod mode"}},
		{"autopath without verified", "pods: insecure\nautopath: true\n", []string{"autopath: needs pods verified"}},
		{"visibility without verified", "pods: disabled\nvisibilityPolicy: /p\n", []string{"visibilityPolicy: needs pods verified"}},
		{"cluster domain", "clusterDomain: bad_domain.local\n", []string{"clusterDomain: "}},
		{"reverse zone", "clusterDomain: in-addr.arpa\n", []string{"clusterDomain: "}},
		{"nameserver service", "nameserverService: kube-dns\n", []string{"nameserverService: "}},
		{"policy path spaces", "authzPolicy: ' /p'\n", []string{"authzPolicy: "}},
		{"negative lameduck", "lameduck: -1s\n", []string{"lameduck: -1s: must not be negative"}},
		{"zero sync timeout", "healthz:\n  syncTimeout: 0s\n", []string{"healthz.syncTimeout: 0s: must be positive"}},
		{"negative limit", "limits:\n  maxConnections: -1\n", []string{"limits.maxConnections: -1: must be 0..2147483647"}},
		{"streams per connection", "limits:\n  maxStreamsPerConnection: 0\n", []string{"limits.maxStreamsPerConnection: 0: must be 1..2147483647"}},
		{"every problem", "ttl: 0\nlogLevel: loud\nlimits:\n  maxStreams: -2\n",
			[]string{"ttl: 0", "logLevel: \"loud\"", "limits.maxStreams: -2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
