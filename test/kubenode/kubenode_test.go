package kubenode

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "state dir too general", mutate: func(c *Config) { c.StateDir = "/tmp" }, wantErr: true},
		{name: "node CIDR outside pod CIDR", mutate: func(c *Config) { c.NodePodCIDR = netip.MustParsePrefix("10.1.0.0/24") }, wantErr: true},
		{name: "cluster DNS outside Service CIDR", mutate: func(c *Config) { c.ClusterDNS = netip.MustParseAddr("10.97.0.10") }, wantErr: true},
		{name: "pod and Service CIDR overlap", mutate: func(c *Config) { c.ServiceCIDR = netip.MustParsePrefix("10.0.0.0/8") }, wantErr: true},
		{name: "IPv6 pod CIDR", mutate: func(c *Config) { c.PodCIDR = netip.MustParsePrefix("fd00::/48") }, wantErr: true},
		{name: "bridge name too long", mutate: func(c *Config) { c.Bridge = "a-very-long-bridge-name" }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{StateDir: t.TempDir()}
			tt.mutate(&c)
			got, err := c.withDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("withDefaults() error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (got.Gateway() != netip.MustParseAddr("10.244.0.1") || got.probeAddr() != netip.MustParseAddr("10.244.0.2")) {
				t.Fatalf("gateway %s, probe %s", got.Gateway(), got.probeAddr())
			}
		})
	}
}

func TestUpstreamAnswers(t *testing.T) {
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantRR    string
	}{
		{name: "A", qname: UpstreamName, qtype: dns.TypeA, wantRcode: dns.RcodeSuccess, wantRR: UpstreamA.String()},
		{name: "AAAA", qname: "WWW.External.Test.", qtype: dns.TypeAAAA, wantRcode: dns.RcodeSuccess, wantRR: UpstreamAAAA.String()},
		{name: "NODATA", qname: UpstreamName, qtype: dns.TypeMX, wantRcode: dns.RcodeSuccess},
		{name: "NXDOMAIN in the zone", qname: "nope." + UpstreamZone, qtype: dns.TypeA, wantRcode: dns.RcodeNameError},
		{name: "REFUSED outside the zone", qname: "example.com.", qtype: dns.TypeA, wantRcode: dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := new(dns.Msg)
			req.SetQuestion(tt.qname, tt.qtype)
			resp := upstreamAnswer(req)
			if resp.Rcode != tt.wantRcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			switch {
			case tt.wantRR == "" && len(resp.Answer) != 0:
				t.Fatalf("answers %v, want none", resp.Answer)
			case tt.wantRR != "" && (len(resp.Answer) != 1 || !containsAddr(resp.Answer[0], tt.wantRR)):
				t.Fatalf("answers %v, want %s", resp.Answer, tt.wantRR)
			}
		})
	}
}

func containsAddr(rr dns.RR, addr string) bool {
	switch v := rr.(type) {
	case *dns.A:
		return v.A.String() == addr
	case *dns.AAAA:
		return v.AAAA.String() == addr
	}
	return false
}

func TestSplitRule(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{line: "-A INPUT -j KUBE-FIREWALL", want: []string{"-A", "INPUT", "-j", "KUBE-FIREWALL"}},
		{
			line: `-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
			want: []string{"-A", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		},
		{line: `-A X -m comment --comment "a \"q\"" -j ACCEPT`, want: []string{"-A", "X", "-m", "comment", "--comment", `a "q"`, "-j", "ACCEPT"}},
		{line: "", want: nil},
	}
	for _, tt := range tests {
		if got := splitRule(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("splitRule(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestOwnedJumps(t *testing.T) {
	tests := []struct {
		rule string
		want bool
	}{
		{rule: "-A FORWARD -j KUBE-FORWARD", want: true},
		{rule: "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT", want: true},
		{rule: "-A FORWARD -j DOCKER-USER", want: false},
		{rule: "-A FORWARD -j ACCEPT", want: false},
	}
	for _, tt := range tests {
		if got := jumpsToOwned(splitRule(tt.rule)); got != tt.want {
			t.Errorf("jumpsToOwned(%q) = %v, want %v", tt.rule, got, tt.want)
		}
	}
}

func TestHoldsAddrIn(t *testing.T) {
	out := "1: lo    inet 127.0.0.1/8 scope host lo\n3: eth0    inet 10.244.0.17/24 brd 10.244.0.255 scope global eth0\n"
	if !holdsAddrIn(out, netip.MustParsePrefix("10.244.0.0/24")) {
		t.Error("10.244.0.17 not found in 10.244.0.0/24")
	}
	if holdsAddrIn(out, netip.MustParsePrefix("10.245.0.0/24")) {
		t.Error("an address found in 10.245.0.0/24")
	}
}

func TestLinkName(t *testing.T) {
	for line, want := range map[string]string{
		"7: veth1234@if3: <BROADCAST,MULTICAST,UP> mtu 1500": "veth1234",
		"2: cdns0: <BROADCAST> mtu 1500":                     "cdns0",
		"":                                                   "",
	} {
		if got := linkName(line); got != want {
			t.Errorf("linkName(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestOnlyLoopback(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want bool
	}{
		{"empty sandbox", "1: lo    inet 127.0.0.1/8 scope host lo\n", true},
		{"nothing", "", true},
		{"pod address", "1: lo    inet 127.0.0.1/8 scope host lo\n3: eth0    inet 10.244.0.17/24 scope global eth0\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onlyLoopback(tt.out); got != tt.want {
				t.Errorf("onlyLoopback = %v, want %v", got, tt.want)
			}
		})
	}
}
