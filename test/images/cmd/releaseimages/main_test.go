package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBadArguments checks that bad flags stop the command before it builds
// anything, with an error naming the flag.
func TestBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no version", []string{"-revision", "abc"}, "-version"},
		{"no revision", []string{"-version", "v1"}, "-revision"},
		{"epoch not a number", []string{"-version", "v1", "-revision", "abc", "-source-date-epoch", "yesterday"}, "-source-date-epoch"},
		{"negative epoch", []string{"-version", "v1", "-revision", "abc", "-source-date-epoch", "-5"}, "-source-date-epoch"},
		{"unknown flag", []string{"-platform", "linux/s390x"}, "-platform"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"-out", t.TempDir()}, tc.args...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Fatalf("run: %v (stderr %q), want an error naming %s", err, stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
