package forward

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestStubDomainRouting(t *testing.T) {
	def := startUpstream(t, answerA("192.0.2.1"))
	example := startUpstream(t, answerA("192.0.2.2"))
	corp := startUpstream(t, answerA("192.0.2.3"))
	f, err := New(Config{
		Upstreams: []string{def.addr},
		StubDomains: map[string][]string{
			"Example":       {example.addr},
			"corp.example.": {corp.addr},
		},
		Timeout: testTimeout,
	}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		name   string
		wantIP string
	}{
		{"host.corp.example.", "192.0.2.3"},
		{"HOST.CORP.Example.", "192.0.2.3"},
		{"corp.example.", "192.0.2.3"},
		{"a.b.corp.example.", "192.0.2.3"},
		{"xcorp.example.", "192.0.2.2"},
		{"www.example.", "192.0.2.2"},
		{"example.", "192.0.2.2"},
		{"example.org.", "192.0.2.1"},
		{"corp.example.org.", "192.0.2.1"},
		{".", "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Forward(context.Background(), query(tt.name, dns.TypeA, 1))
			if err != nil {
				t.Fatalf("Forward: %v", err)
			}
			if ips := answerIPs(got); !slices.Equal(ips, []string{tt.wantIP}) {
				t.Errorf("answers %v, want %s", ips, tt.wantIP)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write a temporary file and rename it, so a poll never reads a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestStubDomainsFileReload changes the stub domains file under a running forwarder: a good change is
// applied, a bad one is logged and the last good routes stay, and the file overrides a flag stub domain.
func TestStubDomainsFileReload(t *testing.T) {
	def := startUpstream(t, answerA("192.0.2.1"))
	first := startUpstream(t, answerA("192.0.2.2"))
	second := startUpstream(t, answerA("192.0.2.3"))
	flagged := startUpstream(t, answerA("192.0.2.4"))
	path := filepath.Join(t.TempDir(), "stub-domains")
	writeFile(t, path, fmt.Sprintf("# stub domains\n\ncorp.example=%s # the first\n", first.addr))

	logs := &syncBuffer{}
	f, err := New(Config{
		Upstreams:       []string{def.addr},
		StubDomains:     map[string][]string{"lab.example.": {flagged.addr}},
		StubDomainsFile: path,
		ReloadInterval:  20 * time.Millisecond,
		Timeout:         testTimeout,
	}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	answer := func(name string) string {
		t.Helper()
		got, err := f.Forward(context.Background(), query(name, dns.TypeA, 1))
		if err != nil {
			t.Fatalf("Forward %s: %v", name, err)
		}
		return strings.Join(answerIPs(got), ",")
	}
	steps := []struct {
		content string            // new file content, "" to leave it
		waitLog string            // log text showing the poll saw the change
		want    map[string]string // name -> answer
	}{
		{
			want: map[string]string{"a.corp.example.": "192.0.2.2", "a.lab.example.": "192.0.2.4", "a.other.": "192.0.2.1"},
		},
		{
			content: fmt.Sprintf("corp.example=%s\nlab.example=%s\n", second.addr, first.addr),
			waitLog: "stub domains reloaded",
			want:    map[string]string{"a.corp.example.": "192.0.2.3", "a.lab.example.": "192.0.2.2", "a.other.": "192.0.2.1"},
		},
		{
			content: "corp.example=not-an-ip\n",
			waitLog: path + ":1",
			want:    map[string]string{"a.corp.example.": "192.0.2.3", "a.lab.example.": "192.0.2.2"},
		},
		{
			content: "# nothing\n",
			waitLog: "zones=0",
			want:    map[string]string{"a.corp.example.": "192.0.2.1", "a.lab.example.": "192.0.2.4"},
		},
	}
	for i, step := range steps {
		if step.content != "" {
			writeFile(t, path, step.content)
			eventually(t, fmt.Sprintf("step %d: log %q", i, step.waitLog), func() bool { return strings.Contains(logs.String(), step.waitLog) })
		}
		for name, want := range step.want {
			if got := answer(name); got != want {
				t.Errorf("step %d: %s answered %s, want %s", i, name, got, want)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	badStubs := filepath.Join(dir, "bad-stubs")
	if err := os.WriteFile(badStubs, []byte("# ok\ncorp.example=10.0.0.53\nbroken line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodResolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(goodResolv, []byte("search example\nnameserver 10.0.0.10\nnameserver fd00::10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyResolv := filepath.Join(dir, "empty-resolv.conf")
	if err := os.WriteFile(emptyResolv, []byte("options ndots:5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for success
		wantUps []string
	}{
		{"upstreams from resolv.conf", Config{ResolvConf: goodResolv}, "", []string{"10.0.0.10:53", "[fd00::10]:53"}},
		{"upstreams from config win", Config{Upstreams: []string{"10.0.0.1", "10.0.0.1:53", "[fd00::1]:5353"}, ResolvConf: goodResolv}, "", []string{"10.0.0.1:53", "[fd00::1]:5353"}},
		{"missing resolv.conf", Config{ResolvConf: filepath.Join(dir, "none")}, "no upstreams configured", nil},
		{"resolv.conf without nameserver", Config{ResolvConf: emptyResolv}, "no nameserver", nil},
		{"bad upstream", Config{Upstreams: []string{"dns.example:53"}}, `upstream "dns.example:53"`, nil},
		{"bad policy", Config{Upstreams: []string{"10.0.0.1"}, Policy: "fastest"}, `policy "fastest"`, nil},
		{"bad stub zone", Config{Upstreams: []string{"10.0.0.1"}, StubDomains: map[string][]string{"a..b": {"10.0.0.2"}}}, "not a valid domain name", nil},
		{"stub without upstreams", Config{Upstreams: []string{"10.0.0.1"}, StubDomains: map[string][]string{"corp.": nil}}, "no upstreams", nil},
		{"bad stub upstream", Config{Upstreams: []string{"10.0.0.1"}, StubDomains: map[string][]string{"corp.": {"10.0.0.2:99999"}}}, "10.0.0.2:99999", nil},
		{"bad stub domains file names file and line", Config{Upstreams: []string{"10.0.0.1"}, StubDomainsFile: badStubs}, badStubs + ":3", nil},
		{"missing stub domains file", Config{Upstreams: []string{"10.0.0.1"}, StubDomainsFile: filepath.Join(dir, "none")}, "stub domains file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := f.Upstreams(); !slices.Equal(got, tt.wantUps) {
				t.Errorf("Upstreams = %v, want %v", got, tt.wantUps)
			}
		})
	}
}
