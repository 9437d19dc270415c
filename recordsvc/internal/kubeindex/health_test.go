package kubeindex

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileSourceHealth checks that the file source reports failing while
// its file cannot be read, and healthy again once it can.
func TestFileSourceHealth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	doc := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	fs := NewFileSource(FileSourceConfig{Path: path, PollInterval: 20 * time.Millisecond}, New(Config{}),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := fs.Load(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- fs.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitHealth := func(failing bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for (fs.Health().FailingFor(time.Now()) > 0) != failing {
			if time.Now().After(deadline) {
				t.Fatalf("failing = %v, want %v", !failing, failing)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHealth(false)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitHealth(true)
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	waitHealth(false)
}

func TestSourceHealthPeriod(t *testing.T) {
	var h SourceHealth
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name string
		do   func()
		at   time.Time
		want time.Duration
	}{
		{"healthy", func() {}, t0, 0},
		{"first failure", func() { h.failed(t0) }, t0.Add(time.Second), time.Second},
		{"later failure keeps the start", func() { h.failed(t0.Add(5 * time.Second)) }, t0.Add(10 * time.Second), 10 * time.Second},
		{"success", h.succeeded, t0.Add(11 * time.Second), 0},
	}
	for _, st := range steps {
		st.do()
		if got := h.FailingFor(st.at); got != st.want {
			t.Fatalf("%s: FailingFor %v, want %v", st.name, got, st.want)
		}
	}
}
