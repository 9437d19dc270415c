package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
	"github.com/clusterdns/clusterdns/recordsvc/internal/recordserver"
)

func TestProbes(t *testing.T) {
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	tests := []struct {
		name     string
		synced   bool
		age      time.Duration
		lameduck bool
		healthz  int
		readyz   int
	}{
		{"syncing", false, time.Second, false, http.StatusOK, http.StatusServiceUnavailable},
		{"never synced", false, time.Hour, false, http.StatusServiceUnavailable, http.StatusServiceUnavailable},
		{"synced", true, time.Hour, false, http.StatusOK, http.StatusOK},
		{"lameduck", true, time.Hour, true, http.StatusOK, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := kubeindex.New(kubeindex.Config{})
			if tt.synced {
				ix.MarkSynced()
			}
			srv := recordserver.New(schema, ix, logger)
			defer srv.Shutdown()
			if tt.lameduck {
				srv.Lameduck()
			}
			p := probes{srv: srv, ix: ix, source: &kubeindex.SourceHealth{}, started: start.Add(-tt.age),
				syncTimeout: time.Minute, sourceFailure: time.Minute}
			for path, want := range map[string]int{"/healthz": tt.healthz, "/readyz": tt.readyz} {
				rec := httptest.NewRecorder()
				if path == "/healthz" {
					p.healthz(rec, httptest.NewRequest("GET", path, nil))
				} else {
					p.readyz(rec, httptest.NewRequest("GET", path, nil))
				}
				if rec.Code != want {
					t.Errorf("%s: %d %q, want %d", path, rec.Code, rec.Body.String(), want)
				}
			}
		})
	}
}

func TestLameduckAndHealthzFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--lameduck", "-1s"}, "--lameduck"},
		{[]string{"--lameduck", "soon"}, "lameduck"},
		{[]string{"--healthz-sync-timeout", "0s"}, "--healthz-sync-timeout"},
		{[]string{"--healthz-source-failure", "-5m"}, "--healthz-source-failure"},
		{[]string{"--lameduck", "0s", "--healthz-sync-timeout", "1m", "--healthz-source-failure", "30s"}, ""},
	}
	for _, tt := range tests {
		cfg, err := parseFlags(tt.args, io.Discard)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want one naming %s", tt.args, err, tt.wantErr)
		case tt.wantErr == "" && (cfg.Lameduck != 0 || cfg.HealthzSyncTimeout != time.Minute || cfg.HealthzSourceFailure != 30*time.Second):
			t.Errorf("%v: parsed %+v", tt.args, cfg)
		}
	}
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || cfg.Lameduck != 10*time.Second || cfg.HealthzSyncTimeout != 10*time.Minute || cfg.HealthzSourceFailure != 5*time.Minute {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}
