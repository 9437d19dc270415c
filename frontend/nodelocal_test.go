package main

import (
	"io"
	"strings"
	"testing"
)

func TestNodeLocalFlags(t *testing.T) {
	base := []string{"--listen", "169.254.20.10:53"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		// want is how many node-local addresses the config holds.
		want int
	}{
		{name: "off", args: nil},
		{name: "two addresses", args: []string{"--node-local-addresses", "169.254.20.10,10.96.0.10"}, want: 2},
		{name: "IPv6", args: []string{"--node-local-addresses", "fd00::a"}, want: 1},
		{name: "bad address", args: []string{"--node-local-addresses", "169.254.20"}, wantErr: "--node-local-addresses"},
		{name: "upstream loop", args: []string{"--node-local-addresses", "169.254.20.10,10.96.0.10", "--upstream", "10.96.0.10:53"}, wantErr: "--upstream 10.96.0.10:53"},
		{name: "port 0", args: []string{"--node-local-addresses", "169.254.20.10", "--listen", "169.254.20.10:0"}, wantErr: "fixed port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(append(append([]string{}, base...), tt.args...), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.NodeLocal.addrs) != tt.want || (tt.want > 0 && cfg.NodeLocal.port != 53) {
				t.Fatalf("node-local addresses %v port %d, want %d addresses on port 53", cfg.NodeLocal.addrs, cfg.NodeLocal.port, tt.want)
			}
		})
	}
}
