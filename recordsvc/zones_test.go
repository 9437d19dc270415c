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

// TestDirectoryLimitFlag: --directory-limit reaches the schema, where 0
// (no directories) is a negative limit, since the schema's 0 is its
// default.
func TestDirectoryLimitFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 1000},
		{[]string{"--directory-limit", "0"}, -1},
		{[]string{"--directory-limit", "1"}, 1},
		{[]string{"--directory-limit", "20000"}, 20000},
	} {
		cfg, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := cfg.schemaConfig().DirectoryLimit; got != tc.want {
			t.Errorf("%v: schema DirectoryLimit %d, want %d", tc.args, got, tc.want)
		}
	}
}
