package dnsschema

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const zone = "cluster.local"
	ip := netip.MustParseAddr
	tests := []struct {
		qname   string
		want    Name
		wantErr ParseErrorKind // zero: no error
	}{
		// Apex and fixed names.
		{qname: "cluster.local.", want: Name{Kind: KindApex}},
		{qname: "cluster.local", want: Name{Kind: KindApex}},
		{qname: "CLUSTER.Local.", want: Name{Kind: KindApex}},
		{qname: "dns-version.cluster.local.", want: Name{Kind: KindDNSVersion}},
		{qname: "DNS-Version.cluster.local", want: Name{Kind: KindDNSVersion}},
		{qname: "x.dns-version.cluster.local.", wantErr: Malformed},
		{qname: "dns.cluster.local.", want: Name{Kind: KindDNSParent}},
		{qname: "ns.dns.cluster.local.", want: Name{Kind: KindNameserver}},
		{qname: "NS.DNS.cluster.local.", want: Name{Kind: KindNameserver}},
		{qname: "x.dns.cluster.local.", wantErr: Malformed},
		{qname: "a.ns.dns.cluster.local.", wantErr: Malformed},
		{qname: "svc.cluster.local.", want: Name{Kind: KindServiceRoot}},
		{qname: "pod.cluster.local.", want: Name{Kind: KindPodRoot}},
		{qname: "foo.cluster.local.", wantErr: Malformed},
		{qname: "a.b.c.cluster.local.", wantErr: Malformed},

		// Services.
		{qname: "default.svc.cluster.local.", want: Name{Kind: KindServiceNamespace, Namespace: "default"}},
		{qname: "kubernetes.default.svc.cluster.local.", want: Name{Kind: KindService, Namespace: "default", Service: "kubernetes"}},
		{qname: "kubernetes.default.svc.cluster.local", want: Name{Kind: KindService, Namespace: "default", Service: "kubernetes"}},
		{qname: "KuBeRnEtEs.DEFAULT.SVC.Cluster.Local.", want: Name{Kind: KindService, Namespace: "default", Service: "kubernetes"}},
		{qname: "a1.b-2.svc.cluster.local.", want: Name{Kind: KindService, Namespace: "b-2", Service: "a1"}},
		{qname: "-a.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "a-.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "a_b.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "svc1.-ns.svc.cluster.local.", wantErr: Malformed},
		{qname: "*.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "svc1.*.svc.cluster.local.", wantErr: Malformed},
		{qname: "any.default.svc.cluster.local.", want: Name{Kind: KindService, Namespace: "default", Service: "any"}},
		{qname: strings.Repeat("a", 63) + ".default.svc.cluster.local.", want: Name{Kind: KindService, Namespace: "default", Service: strings.Repeat("a", 63)}},
		{qname: strings.Repeat("a", 64) + ".default.svc.cluster.local.", wantErr: Malformed},

		// Endpoints.
		{qname: "web-0.nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "web-0"}},
		{qname: "Web-0.Nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "web-0"}},
		{qname: "10-244-1-1.nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "10-244-1-1"}},
		{qname: "fd00-10-244--1.nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "fd00-10-244--1"}},
		{qname: "FD00-10-244--1.nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "fd00-10-244--1"}},
		{qname: "--1.nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "--1"}},
		{qname: "fd00--0.nginx.default.svc.cluster.local.", want: Name{Kind: KindEndpoint, Namespace: "default", Service: "nginx", Endpoint: "fd00--0"}},
		{qname: "a_b.nginx.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "_http.nginx.default.svc.cluster.local.", wantErr: Malformed},

		// SRV names.
		{qname: "_https._tcp.kubernetes.default.svc.cluster.local.", want: Name{Kind: KindPort, Namespace: "default", Service: "kubernetes", Port: "https", Protocol: "tcp"}},
		{qname: "_DNS._UDP.kube-dns.kube-system.svc.cluster.local", want: Name{Kind: KindPort, Namespace: "kube-system", Service: "kube-dns", Port: "dns", Protocol: "udp"}},
		{qname: "_dns-tcp._sctp.a.b.svc.cluster.local.", want: Name{Kind: KindPort, Namespace: "b", Service: "a", Port: "dns-tcp", Protocol: "sctp"}},
		{qname: "_x._quic.a.b.svc.cluster.local.", want: Name{Kind: KindPort, Namespace: "b", Service: "a", Port: "x", Protocol: "quic"}},
		{qname: "https.tcp.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "_https.tcp.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "https._tcp.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "_._tcp.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "_https._.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "__https._tcp.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "x._https._tcp.kubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: "_https._tcp.web-0.nginx.default.svc.cluster.local.", wantErr: Malformed},

		// Pods.
		{qname: "default.pod.cluster.local.", want: Name{Kind: KindPodNamespace, Namespace: "default"}},
		{qname: "10-244-1-5.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("10.244.1.5")}},
		{qname: "0-0-0-0.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("0.0.0.0")}},
		{qname: "255-255-255-255.ns.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "ns", IP: ip("255.255.255.255")}},
		{qname: "fd00-10-244--5.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("fd00:10:244::5")}},
		{qname: "FD00-10-244--5.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("fd00:10:244::5")}},
		{qname: "fd00-0010-0244-0-0-0-0-5.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("fd00:10:244::5")}},
		{qname: "--1.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("::1")}},
		{qname: "fd00--.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("fd00::")}},
		{qname: "fd00--0.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("fd00::")}},
		{qname: "256-0-0-1.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "010-0-0-1.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "10-0-0.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "10-0-0-1-2.default.pod.cluster.local.", wantErr: Malformed},
		// Not IPv4 (a "--"), so read as IPv6 10::0:1, as CoreDNS reads it.
		{qname: "10--0-1.default.pod.cluster.local.", want: Name{Kind: KindPod, Namespace: "default", IP: ip("10::1")}},
		{qname: "my-pod.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "--ffff-a00-1.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "fd00-10-244-5.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "x.10-244-1-5.default.pod.cluster.local.", wantErr: Malformed},
		{qname: "10-244-1-5.-bad.pod.cluster.local.", wantErr: Malformed},

		// Reverse names.
		{qname: "1.0.96.10.in-addr.arpa.", want: Name{Kind: KindReverse, IP: ip("10.96.0.1")}},
		{qname: "1.0.96.10.IN-ADDR.ARPA", want: Name{Kind: KindReverse, IP: ip("10.96.0.1")}},
		{qname: "255.255.255.255.in-addr.arpa.", want: Name{Kind: KindReverse, IP: ip("255.255.255.255")}},
		{qname: "0.0.0.0.in-addr.arpa.", want: Name{Kind: KindReverse, IP: ip("0.0.0.0")}},
		{qname: "0.96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "1.1.0.96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "256.0.96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "01.0.96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "a.0.96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "-1.0.96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "1..96.10.in-addr.arpa.", wantErr: NotAnAddress},
		{qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", want: Name{Kind: KindReverse, IP: ip("2001:db8::1")}},
		{qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.IP6.ARPA", want: Name{Kind: KindReverse, IP: ip("2001:db8::1")}},
		{qname: "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", want: Name{Kind: KindReverse, IP: ip("fd00:10:96::a")}},
		{qname: "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", want: Name{Kind: KindReverse, IP: ip("2001:db8::")}},
		{qname: "8.b.d.0.1.0.0.2.ip6.arpa.", wantErr: NotAnAddress},
		{qname: "ip6.arpa.", wantErr: NotAnAddress},
		{qname: "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", wantErr: NotAnAddress},
		{qname: "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", wantErr: NotAnAddress},
		{qname: "10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", wantErr: NotAnAddress},
		{qname: "arpa.", wantErr: OutOfZone},

		// Outside every zone.
		{qname: "example.com.", wantErr: OutOfZone},
		{qname: "www.example.com", wantErr: OutOfZone},
		{qname: "local.", wantErr: OutOfZone},
		{qname: "cluster.local.example.", wantErr: OutOfZone},
		{qname: "xcluster.local.", wantErr: OutOfZone},
		{qname: "kubernetes.default.svc.cluster.local.example.com.", wantErr: OutOfZone},
		{qname: ".", wantErr: OutOfZone},
		{qname: "", wantErr: OutOfZone},

		// Syntax: escapes, empty labels, length limits.
		{qname: `kubernetes.default.svc.cluster\.local.`, wantErr: OutOfZone},
		{qname: `a\.b.default.svc.cluster.local.`, wantErr: Malformed},
		{qname: `\107ubernetes.default.svc.cluster.local.`, want: Name{Kind: KindService, Namespace: "default", Service: "kubernetes"}},
		{qname: `kubernetes.default.svc.cluster.\076ocal.`, want: Name{Kind: KindService, Namespace: "default", Service: "kubernetes"}},
		{qname: `kubernetes.default.svc.cluster.local\.`, wantErr: OutOfZone},
		{qname: `bad\999.default.svc.cluster.local.`, wantErr: Malformed},
		{qname: `a\`, wantErr: OutOfZone},
		{qname: "kubernetes..svc.cluster.local.", wantErr: Malformed},
		{qname: "..cluster.local.", wantErr: Malformed},
		{qname: "\u212Aubernetes.default.svc.cluster.local.", wantErr: Malformed},
		{qname: strings.Repeat("a.", 120) + "cluster.local.", wantErr: Malformed}, // 255 octets: valid, but too many labels
		{qname: strings.Repeat("a.", 125) + "cluster.local.", wantErr: Malformed},
		{qname: strings.Repeat("a.", 125) + "example.com.", wantErr: OutOfZone},
	}
	for _, tc := range tests {
		t.Run(tc.qname, func(t *testing.T) {
			got, err := Parse(zone, tc.qname)
			if tc.wantErr != 0 {
				var perr *ParseError
				if !errors.As(err, &perr) {
					t.Fatalf("Parse(%q) = %+v, %v; want %s error", tc.qname, got, err, tc.wantErr)
				}
				if perr.Kind != tc.wantErr {
					t.Fatalf("Parse(%q) error %v; want kind %s", tc.qname, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.qname, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v; want %+v", tc.qname, got, tc.want)
			}
		})
	}
}

func TestParseOtherZones(t *testing.T) {
	tests := []struct {
		zone, qname string
		want        Name
		wantErr     ParseErrorKind
	}{
		{zone: "example.org", qname: "web.prod.svc.example.org.", want: Name{Kind: KindService, Namespace: "prod", Service: "web"}},
		{zone: "example.org.", qname: "web.prod.svc.Example.ORG", want: Name{Kind: KindService, Namespace: "prod", Service: "web"}},
		{zone: "example.org", qname: "web.prod.svc.cluster.local.", wantErr: OutOfZone},
		{zone: "k8s", qname: "k8s.", want: Name{Kind: KindApex}},
		{zone: "k8s", qname: "dns-version.k8s.", want: Name{Kind: KindDNSVersion}},
		// The zone's own labels may look like grammar keywords.
		{zone: "svc.corp", qname: "a.b.svc.svc.corp.", want: Name{Kind: KindService, Namespace: "b", Service: "a"}},
		{zone: "a.b.c.d", qname: "10-1-2-3.ns.pod.a.b.c.d.", want: Name{Kind: KindPod, Namespace: "ns", IP: netip.MustParseAddr("10.1.2.3")}},
	}
	for _, tc := range tests {
		t.Run(tc.zone+"/"+tc.qname, func(t *testing.T) {
			got, err := Parse(tc.zone, tc.qname)
			if tc.wantErr != 0 {
				var perr *ParseError
				if !errors.As(err, &perr) || perr.Kind != tc.wantErr {
					t.Fatalf("Parse = %+v, %v; want %s error", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDashedIP(t *testing.T) {
	tests := []struct {
		ip, want string
	}{
		{"10.244.1.1", "10-244-1-1"},
		{"0.0.0.0", "0-0-0-0"},
		{"fd00:10:244::1", "fd00-10-244--1"},
		{"FD00:0010:0244:0000:0000:0000:0000:0001", "fd00-10-244--1"},
		{"2001:db8::", "2001-db8--0"},
		{"::1", "--1"},
		{"::", "--0"},
		{"fd00:1:2:3:4:5:6:7", "fd00-1-2-3-4-5-6-7"},
		{"::ffff:10.1.2.3", "10-1-2-3"},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		got := DashedIP(ip)
		if got != tc.want {
			t.Errorf("DashedIP(%s) = %q; want %q", tc.ip, got, tc.want)
		}
		back, ok := ParseDashedIP(got)
		if !ok || back != ip.Unmap() {
			t.Errorf("ParseDashedIP(%q) = %v, %v; want %s", got, back, ok, ip.Unmap())
		}
	}
}

func TestReverseName(t *testing.T) {
	tests := []struct {
		ip, want string
	}{
		{"10.96.0.1", "1.0.96.10.in-addr.arpa."},
		{"10.3.0.100", "100.0.3.10.in-addr.arpa."},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
		{"fd00:10:96::a", "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa."},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.ip)
		got := ReverseName(ip)
		if got != tc.want {
			t.Errorf("ReverseName(%s) = %q; want %q", tc.ip, got, tc.want)
		}
		name, err := Parse("cluster.local", got)
		if err != nil || name.Kind != KindReverse || name.IP != ip {
			t.Errorf("Parse(ReverseName(%s)) = %+v, %v", tc.ip, name, err)
		}
	}
}

func TestParsePodMode(t *testing.T) {
	for _, m := range []PodMode{PodsDisabled, PodsInsecure, PodsVerified} {
		got, err := ParsePodMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParsePodMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	for _, bad := range []string{"", "Insecure", "on", "verify"} {
		_, err := ParsePodMode(bad)
		if err == nil {
			t.Errorf("ParsePodMode(%q) succeeded", bad)
			continue
		}
		for _, v := range []string{"disabled", "insecure", "verified"} {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("ParsePodMode(%q) error %q does not name %q", bad, err, v)
			}
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		zone    string
		ttl     uint32
		pods    PodMode
		wantErr bool
	}{
		{name: "defaults", cfg: Config{}, zone: "cluster.local.", ttl: 30, pods: PodsInsecure},
		{name: "zone with dot and case", cfg: Config{Zone: "My.Cluster."}, zone: "my.cluster.", ttl: 30},
		{name: "single label zone", cfg: Config{Zone: "k8s", TTL: 5, Pods: PodsVerified}, zone: "k8s.", ttl: 5, pods: PodsVerified},
		{name: "empty label", cfg: Config{Zone: "a..b"}, wantErr: true},
		{name: "root", cfg: Config{Zone: "."}, wantErr: true},
		{name: "underscore", cfg: Config{Zone: "clus_ter.local"}, wantErr: true},
		{name: "leading hyphen", cfg: Config{Zone: "-a.local"}, wantErr: true},
		{name: "reverse zone", cfg: Config{Zone: "in-addr.arpa"}, wantErr: true},
		{name: "under reverse zone", cfg: Config{Zone: "10.in-addr.arpa"}, wantErr: true},
		{name: "too long", cfg: Config{Zone: strings.Repeat("a.", 127) + "b"}, wantErr: true},
		{name: "ttl too large", cfg: Config{TTL: 1 << 31}, wantErr: true},
		{name: "bad pod mode", cfg: Config{Pods: PodMode(7)}, wantErr: true},
		{name: "bad nameserver", cfg: Config{NameserverService: "kube-dns"}, wantErr: true},
		{name: "bad nameserver name", cfg: Config{NameserverService: "kube-system/kube_dns"}, wantErr: true},
		{name: "nameserver", cfg: Config{NameserverService: "dns/clusterdns"}, zone: "cluster.local.", ttl: 30},
		{name: "autopath needs verified pods", cfg: Config{Autopath: true}, wantErr: true},
		{name: "autopath with insecure pods", cfg: Config{Autopath: true, Pods: PodsInsecure}, wantErr: true},
		{name: "autopath", cfg: Config{Autopath: true, Pods: PodsVerified}, zone: "cluster.local.", ttl: 30, pods: PodsVerified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("New(%+v) succeeded", tc.cfg)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tc.cfg, err)
			}
			if s.Zone() != tc.zone || s.ttl != tc.ttl || s.pods != tc.pods {
				t.Fatalf("New(%+v) = zone %q ttl %d pods %v; want %q %d %v", tc.cfg, s.Zone(), s.ttl, s.pods, tc.zone, tc.ttl, tc.pods)
			}
		})
	}
}
