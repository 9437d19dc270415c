package kubeindex

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const fileHeader = `# a comment-only document is skipped
---
apiVersion: v1
kind: Namespace
metadata:
  name: default
`

func TestParseObjects(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Snapshot
		wantErr string
	}{
		{
			name: "documents with implicit namespace",
			yaml: fileHeader + `---
apiVersion: v1
kind: Service
metadata: {name: kubernetes}
spec:
  clusterIP: 10.96.0.1
  ports: [{name: https, port: 443, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo}
spec:
  clusterIP: None
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: demo
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints:
- addresses: [10.244.0.1]
  hostname: db-0
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: demo}
status:
  phase: Running
  podIPs: [{ip: 10.244.0.1}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
`,
			want: Snapshot{
				Namespaces: []string{"default", "demo"},
				Services: []Service{
					{Namespace: "default", Name: "kubernetes", Type: "ClusterIP", ClusterIPs: ips("10.96.0.1"),
						Ports: []Port{{Name: "https", Protocol: "tcp", Port: 443}}},
					{Namespace: "demo", Name: "db", Type: "ClusterIP", Headless: true},
				},
				EndpointSlices: []EndpointSlice{{Namespace: "demo", Name: "db-1", Service: "db", Endpoints: []Endpoint{
					{Addresses: ips("10.244.0.1"), Hostname: "db-0", Ready: true, Serving: true,
						Ports: []Port{{Name: "pg", Protocol: "tcp", Port: 5432}}},
				}}},
				Pods: []Pod{{Namespace: "demo", Name: "db-0", IPs: ips("10.244.0.1")}},
			},
		},
		{
			name: "v1 List",
			yaml: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: x}
  spec: {clusterIP: 10.96.1.1}
- apiVersion: v1
  kind: Namespace
  metadata: {name: x}
`,
			want: Snapshot{
				Namespaces: []string{"x"},
				Services:   []Service{{Namespace: "x", Name: "a", Type: "ClusterIP", ClusterIPs: ips("10.96.1.1")}},
			},
		},
		{
			name:    "malformed YAML",
			yaml:    fileHeader + "---\napiVersion: v1\nkind: Service\nmetadata: [oops\n",
			wantErr: "cluster.yaml: document 3:",
		},
		{
			name:    "unknown kind",
			yaml:    fileHeader + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
			wantErr: "cluster.yaml: document 3:",
		},
		{
			name:    "duplicate",
			yaml:    fileHeader + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
			wantErr: "cluster.yaml: document 3: duplicate Namespace default (first in document 2)",
		},
		{
			name:    "service without cluster IP",
			yaml:    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n",
			wantErr: "cluster.yaml: document 1: Service default/a: spec.clusterIP is required",
		},
		{
			name:    "bad cluster IP",
			yaml:    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.300}\n",
			wantErr: `cluster.yaml: document 1: Service default/a: cluster IP "10.96.0.300"`,
		},
		{
			name:    "slice without service label",
			yaml:    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n",
			wantErr: "cluster.yaml: document 1: EndpointSlice default/s: missing label kubernetes.io/service-name",
		},
		{
			name:    "object without name",
			yaml:    "apiVersion: v1\nkind: Pod\nmetadata: {namespace: a}\n",
			wantErr: "cluster.yaml: document 1: Pod without metadata.name",
		},
		{
			name:    "bad item in a List",
			yaml:    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n",
			wantErr: "cluster.yaml: document 1, item 2: Service default/s: spec.clusterIP is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseObjects(strings.NewReader(tt.yaml), "cluster.yaml", discardLogger())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !snapshotEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func snapshotEqual(a, b Snapshot) bool {
	return slices.Equal(a.Namespaces, b.Namespaces) &&
		slices.EqualFunc(a.Services, b.Services, serviceEqual) &&
		slices.EqualFunc(a.EndpointSlices, b.EndpointSlices, sliceEqual) &&
		slices.EqualFunc(a.Pods, b.Pods, func(x, y Pod) bool {
			return x.Namespace == y.Namespace && x.Name == y.Name && slices.Equal(x.IPs, y.IPs)
		})
}

// TestExampleCluster loads the file `make run` serves.
func TestExampleCluster(t *testing.T) {
	path := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	ix := New(Config{})
	if err := NewFileSource(FileSourceConfig{Path: path}, ix, discardLogger()).Load(); err != nil {
		t.Fatal(err)
	}
	if !ix.Synced() {
		t.Fatalf("not synced after Load")
	}
	for _, ns := range []string{"default", "kube-system"} {
		if !ix.NamespaceExists(ns) {
			t.Errorf("namespace %s missing", ns)
		}
	}
	checks := []struct {
		ns, name string
		ips      []netip.Addr
		ports    []Port
	}{
		{"default", "kubernetes", ips("10.96.0.1"), []Port{{Name: "https", Protocol: "tcp", Port: 443}}},
		{"kube-system", "kube-dns", ips("10.96.0.10"), []Port{
			{Name: "dns", Protocol: "udp", Port: 53}, {Name: "dns-tcp", Protocol: "tcp", Port: 53},
			{Name: "metrics", Protocol: "tcp", Port: 9153}}},
	}
	for _, c := range checks {
		s, ok := ix.Service(c.ns, c.name)
		if !ok || !slices.Equal(s.ClusterIPs, c.ips) || !slices.Equal(s.Ports, c.ports) {
			t.Errorf("%s/%s: %+v (found %v)", c.ns, c.name, s, ok)
		}
	}
	var dualStack, headless, externalName bool
	for _, ip := range ix.byClusterIPKeys() {
		for _, s := range ix.ServicesByClusterIP(ip) {
			dualStack = dualStack || (len(s.ClusterIPs) == 2 && s.ClusterIPs[0].Is4() != s.ClusterIPs[1].Is4())
		}
	}
	for _, s := range ix.allServices() {
		if s.Headless && len(ix.Endpoints(s.Namespace, s.Name)) > 0 &&
			slices.ContainsFunc(ix.Endpoints(s.Namespace, s.Name), func(e Endpoint) bool { return e.Hostname != "" }) {
			headless = true
		}
		externalName = externalName || s.ExternalName != ""
	}
	if !dualStack || !headless || !externalName {
		t.Errorf("example lacks a dual-stack (%v), headless with hostnames (%v) or ExternalName (%v) service",
			dualStack, headless, externalName)
	}
}

func (ix *Index) byClusterIPKeys() []netip.Addr {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []netip.Addr
	for ip := range ix.byClusterIP {
		out = append(out, ip)
	}
	return out
}

func (ix *Index) allServices() []Service {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []Service
	for _, s := range ix.services {
		out = append(out, *s)
	}
	return out
}

// recordingHandler passes the messages of log records to a channel.
type recordingHandler struct {
	mu       sync.Mutex
	messages chan string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case h.messages <- r.Level.String() + " " + r.Message:
	default:
	}
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// waitLog waits for a log message starting with prefix.
func waitLog(t *testing.T, h *recordingHandler, prefix string) {
	t.Helper()
	// Generous: with -race on a loaded two-core machine a 20ms poll can
	// take seconds to come round.
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m := <-h.messages:
			if strings.HasPrefix(m, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no log %q within 60s", prefix)
		}
	}
}

// drainLogs discards the messages logged so far.
func drainLogs(h *recordingHandler) {
	for {
		select {
		case <-h.messages:
		default:
			return
		}
	}
}

const serviceDoc = "---\napiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {clusterIP: %s}\n"

// TestFileSourceReloads edits the file while the source runs: in-place
// writes, a rename over it, a bad edit and a removal. Bad states never reach
// the Index.
func TestFileSourceReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	replace := func(content string) {
		t.Helper()
		tmp := filepath.Join(dir, "cluster.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	svcDoc := func(name, ip string) string { return fmt.Sprintf(serviceDoc, name, ip) }

	write(fileHeader + svcDoc("a", "10.96.0.1"))
	logs := &recordingHandler{messages: make(chan string, 100)}
	ix := New(Config{StartRevision: 1})
	src := NewFileSource(FileSourceConfig{Path: path, PollInterval: 20 * time.Millisecond}, ix, slog.New(logs))
	if err := src.Load(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	sub := ix.Subscribe(ctx)
	defer sub.Close()

	steps := []struct {
		name    string
		edit    func()
		wantLog string   // a log line to wait for, when no change is expected
		want    []string // keys of the expected change
	}{
		{"service added in place", func() { write(fileHeader + svcDoc("a", "10.96.0.1") + svcDoc("b", "10.96.0.2")) },
			"", []string{"ip/10.96.0.2", "svc/default/b", "svcs/default"}},
		{"file replaced by rename", func() { replace(fileHeader + svcDoc("b", "10.96.0.2")) },
			"", []string{"ip/10.96.0.1", "svc/default/a", "svcs/default"}},
		// By rename: an in-place write passes through an empty file, and a
		// poller that sees only that state (the next step's content) logs once.
		{"bad edit keeps the last good state", func() { replace(fileHeader + "---\nkind: [\n") },
			"ERROR cluster file not reloaded", nil},
		{"empty file keeps the last good state", func() { write("") }, "ERROR cluster file not reloaded", nil},
		{"file removed keeps the last good state", func() { os.Remove(path) }, "WARN cluster file unreadable", nil},
		{"file back with a change", func() { write(fileHeader + svcDoc("b", "10.96.0.3")) },
			"", []string{"ip/10.96.0.2", "ip/10.96.0.3", "svc/default/b"}},
	}
	for _, step := range steps {
		before := ix.Revision()
		// A log of an earlier step's half-written file must not stand in
		// for this step's.
		drainLogs(logs)
		step.edit()
		if step.wantLog != "" {
			waitLog(t, logs, step.wantLog)
			if ix.Revision() != before || len(drain(sub)) != 0 {
				t.Fatalf("%s: index changed", step.name)
			}
			if _, ok := ix.Service("default", "b"); !ok {
				t.Fatalf("%s: service b lost", step.name)
			}
			continue
		}
		c := waitChange(t, sub)
		if c.Revision != before+1 || !slices.Equal(c.Keys, step.want) {
			t.Fatalf("%s: got %d %v, want %d %v", step.name, c.Revision, c.Keys, before+1, step.want)
		}
	}
}

func TestFileSourceLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "missing.yaml"), "missing.yaml: no such file"},
		{"bad object", bad, "bad.yaml: document 1: Service default/a"},
	}
	for _, tt := range tests {
		ix := New(Config{})
		err := NewFileSource(FileSourceConfig{Path: tt.path}, ix, discardLogger()).Load()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
		if ix.Synced() {
			t.Errorf("%s: index synced after a failed load", tt.name)
		}
	}
}
