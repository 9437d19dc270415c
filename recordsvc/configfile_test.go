package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/svcconfig"
)

// writeConfig writes content to a file of the test's and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "recordsvc.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFileMerge checks what a --config file sets and that flags given
// on the command line win over it.
func TestConfigFileMerge(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want func(c *config) // edits the defaults into the expected config
	}{
		{"empty file sets nothing", "", nil, func(*config) {}},
		{"log level and TTL", "logLevel: debug\nttl: 5\n", nil,
			func(c *config) { c.LogLevel, c.TTL = slog.LevelDebug, 5 }},
		{"a flag overrides its field", "logLevel: debug\nttl: 5\n", []string{"--ttl", "7"},
			func(c *config) { c.LogLevel, c.TTL = slog.LevelDebug, 7 }},
		{"a flag given as its default still overrides", "ttl: 5\n", []string{"--ttl=30"}, func(*config) {}},
		{"pods and autopath", "pods: verified\nautopath: true\nzoneAware: true\n", nil,
			func(c *config) { c.Pods, c.Autopath, c.ZoneAware = dnsschema.PodsVerified, true, true }},
		{"autopath from the file, pods from a flag", "autopath: true\n", []string{"--pods", "verified"},
			func(c *config) { c.Pods, c.Autopath = dnsschema.PodsVerified, true }},
		{"false turns a default off", "queryLog: false\nzoneAware: false\n", nil, func(*config) {}},
		{"zone, nameserver, policies", "clusterDomain: example.org\nnameserverService: dns/frontend\npods: verified\n" +
			"visibilityPolicy: /v.yaml\nqueryLog: true\n", nil,
			func(c *config) {
				c.ClusterDomain, c.NameserverService, c.Pods = "example.org", "dns/frontend", dnsschema.PodsVerified
				c.VisibilityPolicy, c.QueryLog = "/v.yaml", true
			}},
		{"durations", "lameduck: 3s\nhealthz:\n  syncTimeout: 2m\n  sourceFailure: 1m\n", nil,
			func(c *config) {
				c.Lameduck, c.HealthzSyncTimeout, c.HealthzSourceFailure = 3*time.Second, 2*time.Minute, time.Minute
			}},
		{"limits, one overridden", "limits:\n  maxConnections: 10\n  maxConnectionsPerIP: 2\n  maxStreamsPerConnection: 3\n" +
			"  maxStreams: 0\n  maxStreamsPerClient: 5\n", []string{"--max-streams-per-client", "6"},
			func(c *config) {
				c.Limits = limits{MaxConnections: 10, MaxConnectionsPerIP: 2, MaxStreamsPerConnection: 3, MaxStreams: 0, MaxStreamsPerClient: 6}
			}},
		{"authz policy with TLS flags", "authzPolicy: /p.yaml\n", []string{"--tls-cert=/c", "--tls-key=/k", "--tls-client-ca=/ca"},
			func(c *config) {
				c.AuthzPolicy = "/p.yaml"
				c.TLS.Cert, c.TLS.Key, c.TLS.CA = "/c", "/k", "/ca"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			want, err := parseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.want(&want)
			got, err := parseFlags(append([]string{"--config", path}, tt.args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got.File == nil || got.File.Path != path || got.File.ReloadInterval != 2*time.Second ||
				string(got.File.data) != tt.file || got.File.level.Level() != got.LogLevel {
				t.Fatalf("File %+v, want path %s, interval 2s, the content and level %s", got.File, path, got.LogLevel)
			}
			if got.logLevel().Level() != got.LogLevel {
				t.Errorf("logger level %s, want %s", got.logLevel().Level(), got.LogLevel)
			}
			want.File = got.File
			if got != want {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConfigFileMergeErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // "-": no file at that path
		args []string
		want []string
	}{
		{"missing file", "-", nil, []string{"--config: ", "no such file"}},
		{"unknown field", "tll: 5\n", nil, []string{"recordsvc.yaml: parse: unknown field \"tll\""}},
		{"field value", "ttl: 0\n", nil, []string{"recordsvc.yaml: ttl: 0: must be 1..2147483647"}},
		{"every bad field", "ttl: 0\npods: maybe\n", nil, []string{"ttl: 0", "pods: invalid pod mode"}},
		{"autopath against a flag", "autopath: true\n", []string{"--pods", "insecure"}, []string{"--autopath: requires --pods verified"}},
		{"a bad flag still fails", "ttl: 5\n", []string{"--ttl", "0"}, []string{"--ttl: must be 1..2147483647"}},
		{"authz policy without TLS", "authzPolicy: /p.yaml\n", nil, []string{"--authz-policy: needs --tls-cert"}},
		{"negative reload interval", "", []string{"--config-reload-interval", "-1s"}, []string{"--config-reload-interval: must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "recordsvc.yaml")
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

func TestNoConfigFile(t *testing.T) {
	cfg, err := parseFlags([]string{"--log-level", "warn"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != nil || cfg.logLevel() != slog.LevelWarn {
		t.Fatalf("File %+v, level %v: want none and the fixed --log-level", cfg.File, cfg.logLevel())
	}
}

// TestRestartNeeded checks which reloads take effect only after a restart:
// every field but the log level, named as the file spells it.
func TestRestartNeeded(t *testing.T) {
	base := "ttl: 30\n"
	tests := []struct {
		name string
		file string
		want string
	}{
		{"same", base, ""},
		{"only the log level", base + "logLevel: debug\n", ""},
		{"a flag overrides the change", "ttl: 30\nmaxStreams: 1\n", ""},
		{"TTL", "ttl: 31\n", "ttl"},
		{"pods and autopath", "pods: verified\nautopath: true\n", "pods autopath"},
		{"limits and lameduck", "lameduck: 1s\nlimits:\n  maxConnections: 1\n", "lameduck limits"},
		{"zone and query log", "clusterDomain: example.org\nqueryLog: true\nzoneAware: true\n", "clusterDomain zoneAware queryLog"},
	}
	args := []string{"--max-streams", "7"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, base)
			run, err := parseFlags(append([]string{"--config", path}, args...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			file := strings.Replace(tt.file, "maxStreams: 1\n", "limits:\n  maxStreams: 1\n", 1)
			next, err := parseFlagsFile(run.File.args, io.Discard, []byte(file))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(restartNeeded(run, next), " "); got != tt.want {
				t.Errorf("restart needed for %q: %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

// TestDeployConfigFile checks deploy/recordsvc.yaml: its ConfigMap
// clusterdns-recordsvc holds a file this version accepts together with the
// Deployment's flags, mounted where --config points.
func TestDeployConfigFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "deploy", "recordsvc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		dep  *appsv1.Deployment
		file string
	)
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Deployment":
			dep = &appsv1.Deployment{}
			if err := yaml.UnmarshalStrict([]byte(doc), dep); err != nil {
				t.Fatal(err)
			}
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict([]byte(doc), &cm); err != nil {
				t.Fatal(err)
			}
			if cm.Name == "clusterdns-recordsvc" {
				file = cm.Data["recordsvc.yaml"]
			}
		}
	}
	if dep == nil || file == "" {
		t.Fatalf("Deployment found %v, ConfigMap clusterdns-recordsvc with recordsvc.yaml found %v", dep != nil, file != "")
	}
	if _, err := svcconfig.Parse([]byte(file)); err != nil {
		t.Fatalf("ConfigMap clusterdns-recordsvc, recordsvc.yaml: %v", err)
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	const arg = "--config=/etc/clusterdns/config/recordsvc.yaml"
	if !slices.Contains(ctr.Args, arg) {
		t.Fatalf("args %q lack %s", ctr.Args, arg)
	}
	mounted := slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "config" && m.MountPath == "/etc/clusterdns/config"
	})
	fromCM := slices.ContainsFunc(dep.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "config" && v.ConfigMap != nil && v.ConfigMap.Name == "clusterdns-recordsvc"
	})
	if !mounted || !fromCM {
		t.Fatalf("/etc/clusterdns/config mounted %v, from ConfigMap clusterdns-recordsvc %v; want both", mounted, fromCM)
	}
	// The Deployment's flags with the file, certificate paths aside, pass
	// the start's checks.
	path := writeConfig(t, file)
	args := []string{"--config=" + path}
	for _, a := range ctr.Args {
		if !strings.HasPrefix(a, "--config=") {
			args = append(args, a)
		}
	}
	if _, err := parseFlags(args, io.Discard); err != nil {
		t.Fatalf("the Deployment's flags with its file: %v", err)
	}
}
