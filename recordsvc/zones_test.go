package main

import (
	"io"
	"strings"
	"testing"
)

func TestMulticlusterZoneFlag(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    string
		wantErr string // a part of the error; "" for none
	}{
		{"off by default", nil, "", ""},
		{"clusterset.local", []string{"--multicluster-zone", "clusterset.local"}, "clusterset.local", ""},
		{"any case, trailing dot", []string{"--multicluster-zone", "ClusterSet.Local."}, "clusterset.local", ""},
		{"another zone", []string{"--multicluster-zone", "example.org"}, "", "--multicluster-zone"},
		{"file source", []string{"--multicluster-zone", "clusterset.local", "--source", "file:/nonexistent.yaml"}, "", "--source"},
		{"with a visibility policy", []string{"--multicluster-zone", "clusterset.local", "--pods", "verified", "--visibility-policy", "/nonexistent.yaml"},
			"clusterset.local", ""},
		{"overlapping cluster domain", []string{"--multicluster-zone", "clusterset.local", "--cluster-domain", "local"}, "", "overlaps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--multicluster-zone") {
					t.Fatalf("err = %v, want one naming --multicluster-zone and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MulticlusterZone != tc.want || cfg.schemaConfig().MulticlusterZone != tc.want {
				t.Errorf("MulticlusterZone = %q (schema %q), want %q", cfg.MulticlusterZone, cfg.schemaConfig().MulticlusterZone, tc.want)
			}
		})
	}
}
