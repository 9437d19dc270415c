package forward

import (
	"slices"
	"strings"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "10.0.0.53", want: "10.0.0.53:53"},
		{in: " 10.0.0.53:5353 ", want: "10.0.0.53:5353"},
		{in: "fd00::53", want: "[fd00::53]:53"},
		{in: "[fd00::53]", want: "[fd00::53]:53"},
		{in: "[fd00::53]:5353", want: "[fd00::53]:5353"},
		{in: "fe80::1%eth0", want: "[fe80::1%eth0]:53"},
		{in: "", wantErr: "empty upstream"},
		{in: "dns.example", wantErr: "want IP or IP:PORT"},
		{in: "dns.example:53", wantErr: "want IP or IP:PORT"},
		{in: "10.0.0.53:0", wantErr: "port 0"},
		{in: "10.0.0.53:65536", wantErr: "want IP or IP:PORT"},
		{in: "10.0.0.53:dns", wantErr: "want IP or IP:PORT"},
		{in: "10.0.0.256", wantErr: "want IP or IP:PORT"},
		{in: "fd00::53:5353:", wantErr: "want IP or IP:PORT"},
		{in: "udp://10.0.0.53", want: "10.0.0.53:53"},
		{in: "tcp://10.0.0.53", want: "tcp://10.0.0.53:53"},
		{in: "tcp://[fd00::53]:5353", want: "tcp://[fd00::53]:5353"},
		{in: "tls://10.0.0.53#DNS.Example.", want: "tls://10.0.0.53:853#dns.example"},
		{in: "tls://10.0.0.53:8853#dns.example", want: "tls://10.0.0.53:8853#dns.example"},
		{in: "tls://10.0.0.53", wantErr: "want tls://IP[:PORT]#SERVER-NAME"},
		{in: "tls://10.0.0.53#", wantErr: "want tls://IP[:PORT]#SERVER-NAME"},
		{in: "https://10.0.0.53", wantErr: "protocol must be"},
		{in: "tcp://dns.example", wantErr: "want IP or IP:PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUpstream(tt.in)
			checkParse(t, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("ParseUpstream(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseStubDomain(t *testing.T) {
	tests := []struct {
		in       string
		wantZone string
		wantUps  []string
		wantErr  string
	}{
		{in: "corp.example=10.0.0.53:53", wantZone: "corp.example.", wantUps: []string{"10.0.0.53:53"}},
		{in: "Corp.Example.=10.0.0.53,10.0.0.54:5353", wantZone: "corp.example.", wantUps: []string{"10.0.0.53:53", "10.0.0.54:5353"}},
		{in: " corp.example = 10.0.0.53 , [fd00::53]:53 ", wantZone: "corp.example.", wantUps: []string{"10.0.0.53:53", "[fd00::53]:53"}},
		{in: "corp.example=10.0.0.53,10.0.0.53:53", wantZone: "corp.example.", wantUps: []string{"10.0.0.53:53"}},
		{in: "10.in-addr.arpa=10.0.0.53", wantZone: "10.in-addr.arpa.", wantUps: []string{"10.0.0.53:53"}},
		{in: ".=10.0.0.53", wantZone: ".", wantUps: []string{"10.0.0.53:53"}},
		{in: "corp.example", wantErr: "want ZONE=HOST:PORT"},
		{in: "=10.0.0.53", wantErr: "empty zone"},
		{in: "corp..example=10.0.0.53", wantErr: "not a valid domain name"},
		{in: "corp.example=", wantErr: "empty upstream"},
		{in: "corp.example=10.0.0.53,", wantErr: "empty upstream"},
		{in: "corp.example=ns.corp.example", wantErr: `upstream "ns.corp.example"`},
		{in: "corp.example=10.0.0.53:99999", wantErr: `upstream "10.0.0.53:99999"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			zone, ups, err := ParseStubDomain(tt.in)
			checkParse(t, err, tt.wantErr)
			if zone != tt.wantZone || !slices.Equal(ups, tt.wantUps) {
				t.Errorf("ParseStubDomain(%q) = %q %v, want %q %v", tt.in, zone, ups, tt.wantZone, tt.wantUps)
			}
			if err != nil && !strings.Contains(err.Error(), tt.in) {
				t.Errorf("error %q does not quote the flag value", err)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{
			name: "typical node file",
			in:   "# generated\nsearch example.com\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:1 timeout:2\n",
			want: []string{"10.0.0.10:53", "10.0.0.11:53"},
		},
		{
			name: "IPv6 bracketed, comments and blanks skipped",
			in:   "; comment\n\n   nameserver   fd00::10  \n# nameserver 10.9.9.9\nnameserver fe80::1%eth0\n",
			want: []string{"[fd00::10]:53", "[fe80::1%eth0]:53"},
		},
		{name: "no nameserver", in: "search example.com\n", wantErr: "no nameserver"},
		{name: "empty", in: "", wantErr: "no nameserver"},
		{name: "nameserver without address", in: "nameserver 10.0.0.1\nnameserver\n", wantErr: "line 2"},
		{name: "nameserver not an IP", in: "nameserver dns.example\n", wantErr: `line 1: nameserver "dns.example" is not an IP address`},
		{name: "nameserver with a port", in: "nameserver 10.0.0.1:53\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResolvConf(strings.NewReader(tt.in))
			checkParse(t, err, tt.wantErr)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseResolvConf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseStubDomainsFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string
		wantErr string
	}{
		{
			name: "zones with comments",
			in:   "# stubs\ncorp.example=10.0.0.53 # main\n\n  lab.example=10.0.0.54,10.0.0.55:5353\n",
			want: map[string][]string{"corp.example.": {"10.0.0.53:53"}, "lab.example.": {"10.0.0.54:53", "10.0.0.55:5353"}},
		},
		{name: "empty file", in: "", want: map[string][]string{}},
		{name: "bad line", in: "corp.example=10.0.0.53\nlab.example\n", wantErr: "stubs:2: stub domain"},
		{name: "zone twice", in: "corp.example=10.0.0.53\nCORP.example.=10.0.0.54\n", wantErr: "stubs:2: zone corp.example. is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStubDomainsFile("stubs", []byte(tt.in))
			checkParse(t, err, tt.wantErr)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for zone, ups := range tt.want {
				if !slices.Equal(got[zone], ups) {
					t.Errorf("zone %s: %v, want %v", zone, got[zone], ups)
				}
			}
		})
	}
}

// checkParse fails t when err does not match wantErr ("" for no error, else a substring).
func checkParse(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("no error, want one containing %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error %q, want one containing %q", err, wantErr)
	}
}
