package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// kubeadmCorefile is the Corefile kubeadm writes into kube-system/coredns
// (Kubernetes 1.30 and later: the cache's disable lines came with 1.30).
const kubeadmCorefile = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
`

// kubeadmCorefileOld is kubeadm's Corefile of Kubernetes 1.12 to 1.14.
const kubeadmCorefileOld = `.:53 {
    errors
    health
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       upstream
       fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    proxy . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`

const testZone = `$ORIGIN example.internal.
@    3600 IN SOA ns.example.internal. hostmaster.example.internal. 1 7200 3600 1209600 300
@    3600 IN NS  ns
ns    300 IN A   10.3.0.53
www   300 IN A   10.3.0.1
`

// notCarriedRE picks the WHAT of each "not carried over" line of stderr.
var notCarriedRE = regexp.MustCompile(`(?m)^[^:]+(?::\d+)?: (.+): not carried over: `)

func notCarried(stderr string) []string {
	var out []string
	for _, m := range notCarriedRE.FindAllStringSubmatch(stderr, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

// TestImportCorefile imports Corefiles and checks the configuration it
// writes (read back with dnsconfig.Parse, against the one expected) and
// the list of what is not carried over.
func TestImportCorefile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		corefile string
		// files are written beside the Corefile.
		files map[string]string
		flags []string
		// want is the expected configuration file.
		want string
		// notCarried are the WHATs of the "not carried over" lines.
		notCarried []string
		// stderr are substrings of stderr.
		stderr []string
	}{
		{name: "kubeadm default", corefile: kubeadmCorefile,
			want:   "clusterDomain: cluster.local\ncache: {maxTTL: 30s, maxNegativeTTL: 30s}\n",
			stderr: []string{"Corefile:4: health lameduck 5s: built in:", "Corefile:13: forward . /etc/resolv.conf: built in:", "Corefile:22: loadbalance: built in"}},
		{name: "kubeadm 1.12", corefile: kubeadmCorefileOld,
			want:       "clusterDomain: cluster.local\ncache: {maxTTL: 30s, maxNegativeTTL: 30s}\n",
			notCarried: []string{"proxy . /etc/resolv.conf"},
			stderr:     []string{"kubernetes upstream: built in", "removed in CoreDNS 1.6"}},
		{name: "forward plain", corefile: `.:53 {
    kubernetes cluster.local in-addr.arpa ip6.arpa
    forward . 8.8.8.8 dns://1.1.1.1:5353 [2001:db8::1]:53 2001:db8::2 {
        policy sequential
        prefer_udp
        max_concurrent 500
        health_check 5s
    }
}`,
			want: `clusterDomain: cluster.local
upstreams:
  policy: sequential
  servers: [{address: "8.8.8.8:53"}, {address: "1.1.1.1:5353"}, {address: "[2001:db8::1]:53"}, {address: "[2001:db8::2]:53"}]
`,
			notCarried: []string{"forward health_check 5s", "forward max_concurrent 500"},
			stderr:     []string{"--max-concurrent-upstream 500", "forward prefer_udp: built in"}},
		{name: "forward tcp", corefile: ".:53 {\n forward . 10.0.0.53 {\n  force_tcp\n }\n}\n",
			want: "upstreams: {servers: [{address: \"10.0.0.53:53\", protocol: tcp}]}\n"},
		{name: "forward tls", corefile: `.:53 {
    forward . tls://9.9.9.9 tls://149.112.112.112:8853 {
        tls_servername dns.quad9.net
        tls
    }
}`,
			want: `upstreams:
  servers:
  - {address: "9.9.9.9:853", protocol: tls, serverName: dns.quad9.net}
  - {address: "149.112.112.112:8853", protocol: tls, serverName: dns.quad9.net}
`},
		{name: "forward tls without a server name, https and a client certificate", corefile: `.:53 {
    forward . tls://9.9.9.9 https://dns.example/dns-query 10.0.0.53 {
        tls cert.pem key.pem ca.pem
    }
}`,
			want:       "upstreams: {servers: [{address: \"10.0.0.53:53\"}]}\n",
			notCarried: []string{"forward https://dns.example/dns-query", "forward tls cert.pem key.pem ca.pem", "forward tls://9.9.9.9:853"}},
		{name: "stub domains", corefile: `corp.example:53 {
    errors
    cache 30
    forward . 10.1.0.53 10.1.0.54 {
        policy round_robin
    }
}
consul.local 10.in-addr.arpa {
    forward . 10.150.0.1:8600
}
.:53 {
    kubernetes cluster.local in-addr.arpa ip6.arpa
    forward . /etc/resolv.conf
    forward example.net 192.0.2.53
}`,
			want: `clusterDomain: cluster.local
stubDomains:
- {zone: corp.example, servers: [{address: "10.1.0.53:53"}, {address: "10.1.0.54:53"}]}
- {zone: consul.local, servers: [{address: "10.150.0.1:8600"}]}
- {zone: 10.in-addr.arpa, servers: [{address: "10.150.0.1:8600"}]}
- {zone: example.net, servers: [{address: "192.0.2.53:53"}]}
`,
			notCarried: []string{"cache in corp.example:53", "forward . policy round_robin"}},
		{name: "hosts inline and file", corefile: `.:53 {
    hosts extra.hosts {
        10.2.0.5 db.corp.example db
        fd00::5  db.corp.example
        ttl 60
        reload 10s
        fallthrough
    }
    forward . /etc/resolv.conf
}`,
			files: map[string]string{"extra.hosts": "# a hosts file\n10.2.0.7 cache.corp.example cache # comment\nnot-an-ip x\n\n"},
			want: `hosts:
  ttl: 60s
  fallthrough: true
  entries:
  - {addresses: [10.2.0.7], names: [cache.corp.example, cache]}
  - {addresses: [10.2.0.5], names: [db.corp.example, db]}
  - {addresses: ["fd00::5"], names: [db.corp.example]}
`,
			notCarried: []string{"hosts " + "extra.hosts line 3", "hosts reload 10s"}},
		{name: "hosts default file and missing file, no fallthrough", corefile: `.:53 {
    hosts {
        10.2.0.5 db.corp.example
        no_reverse
    }
}
corp.example {
    hosts /nonexistent/hosts
}`,
			want:       "hosts:\n  ttl: 3600s\n  entries: [{addresses: [10.2.0.5], names: [db.corp.example]}]\n",
			notCarried: []string{"hosts", "hosts", "hosts /nonexistent/hosts", "hosts no_reverse", "hosts without fallthrough", "hosts without fallthrough"},
			stderr:     []string{"the CoreDNS container's /etc/hosts, which is not imported", "/nonexistent/hosts: no such file"}},
		{name: "rewrite", corefile: `.:53 {
    rewrite name foo.example.com foo.default.svc.cluster.local
    rewrite name suffix .corp.example .svc.cluster.local answer auto
    rewrite stop {
        name regex (.*)\.shop\.example\.$ {1}.shop.svc.cluster.local
        answer name (.*)\.shop\.svc\.cluster\.local {1}.shop.example
    }
    rewrite name substring $old $new
    rewrite continue name prefix old- new-
    rewrite type ANY HINFO
    rewrite name exact a.example b.example answer value b.example a.example
    kubernetes cluster.local
}`,
			want: `clusterDomain: cluster.local
rewrites:
- {match: exact, from: foo.example.com, to: foo.default.svc.cluster.local}
- {match: suffix, from: .corp.example, to: .svc.cluster.local}
- {match: regex, from: '(.*)\.shop\.example\.$', to: '${1}.shop.svc.cluster.local'}
- {match: substring, from: $old, to: $new}
- {match: prefix, from: old-, to: new-}
- {match: exact, from: a.example, to: b.example}
`,
			notCarried: []string{"rewrite answer value b.example a.example", "rewrite continue", "rewrite type"},
			stderr:     []string{"rewrite answer auto: built in", "rewrite answer name (.*)\\.shop\\.svc\\.cluster\\.local {1}.shop.example: built in"}},
		{name: "cache", corefile: `.:53 {
    cache 600 . {
        success 9984 300 5
        denial 9984 60 2
        prefetch 10
        serve_stale 2h verify
        disable success example.org
    }
}`,
			want:       "cache: {maxTTL: 300s, minTTL: 5s, maxNegativeTTL: 60s, serveStale: 2h}\n",
			notCarried: []string{"cache denial 9984", "cache denial 9984 60 2", "cache disable success example.org", "cache prefetch 10", "cache success 9984"}},
		{name: "cache serve_stale immediate", corefile: ".:53 {\n cache {\n  serve_stale\n }\n}\n",
			want: "cache: {serveStale: 1h}\n", notCarried: []string{"cache serve_stale"}},
		{name: "autopath and record service flags", corefile: `.:53 {
    kubernetes my.cluster in-addr.arpa ip6.arpa other.zone {
        pods verified
        ttl 10
        endpoint_pod_names
        fallthrough
        kubeconfig /etc/kube.conf
    }
    autopath @kubernetes
    log
    whoami
}`,
			want: "clusterDomain: my.cluster\n",
			notCarried: []string{"autopath @kubernetes", "kubernetes endpoint_pod_names", "kubernetes fallthrough", "kubernetes kubeconfig /etc/kube.conf",
				"kubernetes my.cluster.", "kubernetes other.zone.", "kubernetes pods verified", "kubernetes ttl 10", "log", "whoami"},
			stderr: []string{"kubernetes pods verified: not carried over: a record service flag: --pods verified",
				"autopath @kubernetes: not carried over: a record service flag: --autopath", "--cluster-domain my.cluster", "--ttl 10"}},
		{name: "autopath without verified pods", corefile: ".:53 {\n kubernetes cluster.local\n autopath @kubernetes\n}\n",
			want: "clusterDomain: cluster.local\n", notCarried: []string{"autopath", "autopath @kubernetes"},
			stderr: []string{"needs verified pod records: record service flag --pods verified"}},
		{name: "file zones", corefile: `example.internal:53 {
    file db.example.internal {
        reload 30s
    }
}
broken.internal {
    file db.broken
}
gone.internal {
    file /nonexistent/db.gone
}`,
			files:      map[string]string{"db.example.internal": testZone, "db.broken": "www 300 IN A 10.0.0.1\n"},
			want:       "zones:\n- origin: example.internal\n  records: |\n" + indent(testZone, "    "),
			notCarried: []string{"file /nonexistent/db.gone", "file db.broken", "file reload 30s"},
			stderr:     []string{"zone broken.internal. not imported: want exactly one SOA"}},
		{name: "ports and transports", corefile: ".:1053 {\n forward . 10.0.0.53\n}\ntls://.:853 {\n forward . 10.0.0.54\n}\n.:5353 {\n forward . 10.0.0.55\n}\n",
			want:       "upstreams: {servers: [{address: \"10.0.0.53:53\"}]}\n",
			notCarried: []string{".:1053", ".:5353", "tls://.:853"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, text := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "Corefile")
			if err := os.WriteFile(path, []byte(tc.corefile), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCtl(t, append([]string{"import-corefile", path}, tc.flags...)...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			checkImported(t, stdout, tc.want)
			if got, want := notCarried(stderr), slices.Sorted(slices.Values(tc.notCarried)); !slices.Equal(got, want) {
				t.Errorf("not carried over:\n got %q\nwant %q\nstderr:\n%s", got, want, stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// checkImported parses the output and the expectation with dnsconfig and
// compares what they configure.
func checkImported(t *testing.T, out, want string) {
	t.Helper()
	got, err := dnsconfig.Parse([]byte(out))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	exp, err := dnsconfig.Parse([]byte(want))
	if err != nil {
		t.Fatalf("expectation does not parse: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("output:\n%s\nwant the equivalent of:\n%s", out, want)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// k3sConfigMap is a coredns ConfigMap whose Corefile reads a hosts file
// that is another key of the ConfigMap, as k3s ships it.
const k3sConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        errors
        hosts /etc/coredns/NodeHosts {
          ttl 60
          reload 15s
          fallthrough
        }
        kubernetes cluster.local in-addr.arpa ip6.arpa {
          pods insecure
          fallthrough in-addr.arpa ip6.arpa
        }
        forward . /etc/resolv.conf
        cache 30
    }
  NodeHosts: |
    172.18.0.2 k3d-server-0
`

const kubeDNSConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-dns
  namespace: kube-system
data:
  stubDomains: |
    {"acme.local": ["1.2.3.4"], "consul.local": ["10.150.0.1:8600", "10.150.0.2"]}
  upstreamNameservers: |
    ["8.8.8.8", "8.8.4.4"]
  federations: |
    {"myfederation": "example.com"}
`

// TestImportCorefileCommand covers the command's inputs, outputs and exit
// codes.
func TestImportCorefileCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kubeadm := write("Corefile", kubeadmCorefile)
	k3s := write("coredns.yaml", k3sConfigMap)
	kubeDNS := write("kube-dns.yaml", kubeDNSConfigMap)
	stubBlock := write("Corefile.stub", ".:53 {\n kubernetes cluster.local\n forward . 10.9.9.9\n}\nacme.local {\n forward . 10.8.8.8\n}\n")
	bad := write("Corefile.bad", ".:53 {\n  forward . 10.0.0.1\n")
	unsupported := write("Corefile.unsupported", ".:53 {\n  forward . 10.0.0.1\n  dnssec\n}\n")
	out := filepath.Join(dir, "frontend.yaml")

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		want   string // the configuration on stdout
		stderr string
	}{
		{name: "ConfigMap with NodeHosts", args: []string{k3s}, want: `clusterDomain: cluster.local
cache: {maxTTL: 30s, maxNegativeTTL: 30s}
hosts: {ttl: 60s, fallthrough: true, entries: [{addresses: [172.18.0.2], names: [k3d-server-0]}]}
`, stderr: "coredns.yaml (data.Corefile):5: hosts reload 15s: not carried over"},
		{name: "kube-dns ConfigMap", args: []string{"--kube-dns-configmap", kubeDNS}, want: `upstreams: {servers: [{address: "8.8.8.8:53"}, {address: "8.8.4.4:53"}]}
stubDomains:
- {zone: acme.local, servers: [{address: "1.2.3.4:53"}]}
- {zone: consul.local, servers: [{address: "10.150.0.1:8600"}, {address: "10.150.0.2:53"}]}
`, stderr: "kube-dns.yaml: data.federations: not carried over"},
		{name: "Corefile first, then kube-dns", args: []string{stubBlock, "--kube-dns-configmap", kubeDNS}, want: `clusterDomain: cluster.local
upstreams: {servers: [{address: "10.9.9.9:53"}]}
stubDomains:
- {zone: acme.local, servers: [{address: "10.8.8.8:53"}]}
- {zone: consul.local, servers: [{address: "10.150.0.1:8600"}, {address: "10.150.0.2:53"}]}
`, stderr: "data.stubDomains[acme.local]: not carried over: the Corefile already sets this stub domain"},
		{name: "strict passes kubeadm's", args: []string{kubeadm, "--strict"}, want: "clusterDomain: cluster.local\ncache: {maxTTL: 30s, maxNegativeTTL: 30s}\n"},
		{name: "strict refuses", args: []string{"--strict", unsupported}, code: exitNegative,
			stderr: "Corefile.unsupported:3: dnssec: not carried over: no equivalent in clusterdns\n1 directive(s) or option(s) not carried over\nclusterdnsctl: --strict: nothing written"},
		{name: "output file", args: []string{kubeadm, "--output-file", out}},
		{name: "no input", args: nil, code: exitUsage, stderr: "want a Corefile (FILE, - for stdin) or --kube-dns-configmap FILE"},
		{name: "two inputs", args: []string{kubeadm, kubeadm}, code: exitUsage, stderr: "got 2 argument(s)"},
		{name: "missing file", args: []string{filepath.Join(dir, "nope")}, code: exitUsage, stderr: "no such file"},
		{name: "syntax error", args: []string{bad}, code: exitUsage, stderr: "Corefile.bad:1: the { of this line is never closed"},
		{name: "not a ConfigMap", args: []string{"--kube-dns-configmap", kubeadm}, code: exitUsage, stderr: "not a ConfigMap"},
		{name: "ConfigMap without a Corefile", args: []string{kubeDNS}, code: exitUsage, stderr: "a ConfigMap without data.Corefile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCtl(t, append([]string{"import-corefile"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if code != exitOK && stdout != "" {
				t.Errorf("stdout after a failure:\n%s", stdout)
			}
			if tc.want != "" {
				checkImported(t, stdout, tc.want)
			}
		})
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkImported(t, string(data), "clusterDomain: cluster.local\ncache: {maxTTL: 30s, maxNegativeTTL: 30s}\n")
}
