package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// Values of the deployment that make CoreDNS options built in: the record
// service's defaults and what deploy/frontend.yaml gives the frontends.
const (
	defaultClusterDomain = "cluster.local."
	defaultRecordTTL     = 30
	deployMetricsPort    = "9153"
	deployLameduck       = "12s"
	defaultMaxUpstream   = 1000
	defaultResolvConf    = "/etc/resolv.conf"
	coreDNSHostsTTL      = 3600
)

// importer maps a parsed Corefile onto the frontend's configuration and
// collects the notes.
type importer struct {
	file string
	// dir is the Corefile's directory: relative file paths start there.
	dir string
	// data is the ConfigMap's data when the Corefile came in one: files
	// the Corefile names by a path whose last element is a key of it
	// (k3s's NodeHosts) are read from there.
	data     map[string]string
	readFile func(path string) ([]byte, error)
	out      dnsconfig.Frontend
	notes    []note
	// clusterZone is the kubernetes plugin's zone, fully qualified.
	clusterZone string
	// podsVerified records kubernetes `pods verified`, for autopath's note.
	podsVerified bool
	autopath     bool
}

// block is the server block a directive is in.
type block struct {
	// label is the block's keys as written, for notes.
	label string
	zones []string
	root  bool
	// rootDir is the block's `root` directive: where relative zone files are.
	rootDir string
}

func (im *importer) note(line int, what string, builtIn bool, format string, args ...any) {
	im.notes = append(im.notes, note{file: im.file, line: line, what: what, builtIn: builtIn, why: fmt.Sprintf(format, args...)})
}

func (im *importer) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", im.file, line, fmt.Sprintf(format, args...))
}

// run maps every block. The kubernetes directives go first, wherever they
// are, because the cluster zone decides what other directives mean.
func (im *importer) run(cf *corefile) error {
	blocks := make([]*block, len(cf.blocks))
	rootBlocks := 0
	for i, sb := range cf.blocks {
		b, skip, err := im.serverBlock(sb, &rootBlocks)
		if err != nil {
			return err
		}
		if !skip {
			blocks[i] = b
		}
	}
	for i, sb := range cf.blocks {
		for _, d := range sb.directives {
			if blocks[i] != nil && d.name == "kubernetes" {
				if err := im.kubernetes(blocks[i], d); err != nil {
					return err
				}
			}
		}
	}
	for i, sb := range cf.blocks {
		b := blocks[i]
		if b == nil {
			continue
		}
		for _, d := range sb.directives {
			if d.name == "root" && len(d.args) == 1 {
				b.rootDir = d.args[0]
			}
		}
		for _, d := range sb.directives {
			if err := im.directive(b, d); err != nil {
				return err
			}
		}
	}
	if im.autopath && !im.podsVerified {
		im.note(0, "autopath", false, "needs verified pod records: record service flag --pods verified")
	}
	return nil
}

// serverBlock reads a block's addresses. skip says the block is not
// mapped (a transport or port the frontend does not serve this way).
func (im *importer) serverBlock(sb *serverBlock, rootBlocks *int) (*block, bool, error) {
	b := &block{label: strings.Join(sb.keys, " ")}
	ports := map[string]bool{}
	for _, k := range sb.keys {
		scheme, rest := "dns", k
		if s, r, ok := strings.Cut(k, "://"); ok {
			scheme, rest = strings.ToLower(s), r
		}
		if scheme != "dns" {
			im.note(sb.line, b.label, false, "%s:// serving (DNS over TLS, HTTPS, gRPC or QUIC) is not supported; the block is left out", scheme)
			return nil, true, nil
		}
		zone, port := rest, "53"
		if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[:i], ":") {
			zone, port = rest[:i], rest[i+1:]
		}
		z, err := blockZone(zone)
		if err != nil {
			return nil, false, im.errorf(sb.line, "server block address %q: %v", k, err)
		}
		b.zones = append(b.zones, z)
		ports[port] = true
		if z == "." {
			b.root = true
		}
	}
	if b.root {
		*rootBlocks++
		if *rootBlocks > 1 {
			im.note(sb.line, b.label, false, "a second server block for the root zone; the frontend serves one: only the first is carried over")
			return nil, true, nil
		}
	}
	for p := range ports {
		if p != "53" {
			im.note(sb.line, b.label, false, "port %s: the port is the frontend's flag --listen (deploy/ listens on 53)", p)
		}
	}
	return b, false, nil
}

// blockZone normalizes a server block zone; a CIDR (10.0.0.0/8) is its
// reverse zone, as CoreDNS reads it, when the prefix falls on a label.
func blockZone(s string) (string, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		bits := 8
		if p.Addr().Is6() {
			bits = 4
		}
		if p.Bits()%bits != 0 {
			return "", fmt.Errorf("the prefix length of %s is not a multiple of %d", s, bits)
		}
		rev, err := dns.ReverseAddr(p.Masked().Addr().String())
		if err != nil {
			return "", err
		}
		labels := dns.SplitDomainName(rev)
		// The labels of the prefix, then in-addr.arpa or ip6.arpa.
		keep := p.Bits()/bits + 2
		return strings.Join(labels[len(labels)-keep:], ".") + ".", nil
	}
	return normalizeZone(s)
}

// normalizeZone returns a zone lower-cased and fully qualified.
func normalizeZone(s string) (string, error) {
	z := strings.ToLower(dns.Fqdn(s))
	if _, ok := dns.IsDomainName(z); !ok {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	return z, nil
}

// directive maps one directive of block b.
func (im *importer) directive(b *block, d *directive) error {
	what := d.name
	switch d.name {
	case "kubernetes", "root":
		// kubernetes went first; root is read with the block.
	case "forward":
		return im.forward(b, d)
	case "cache":
		return im.cache(b, d)
	case "hosts":
		return im.hostsDirective(b, d)
	case "rewrite":
		return im.rewrite(b, d)
	case "file":
		return im.fileDirective(b, d)
	case "autopath":
		if len(d.args) == 1 && d.args[0] == "@kubernetes" {
			im.autopath = true
			im.note(d.line, joinWords(what, d.args[0]), false, "a record service flag: --autopath (with --pods verified)")
			return nil
		}
		im.note(d.line, joinWords(append([]string{what}, d.args...)...), false,
			"only autopath @kubernetes has an equivalent (the record service's --autopath)")
	case "errors":
		im.note(d.line, what, true, "the frontend logs its errors itself (--log-level)")
		im.subOptionsNotCarried(d, "errors", "the frontend's error log has no options")
	case "health":
		im.note(d.line, what, true, "/health on the frontend's --metrics-listen address (deploy/ probes :%s)", deployMetricsPort)
		for _, o := range d.block {
			if o.name == "lameduck" {
				im.note(o.line, joinWords(what, o.name, strings.Join(o.args, " ")), true,
					"the frontend's flag --lameduck (deploy/ sets %s, longer on purpose: deploy/README.md, \"Cutover from CoreDNS\")", deployLameduck)
				continue
			}
			im.note(o.line, joinWords(what, o.name), false, "unknown health option")
		}
	case "ready":
		im.note(d.line, what, true, "/ready on the frontend's --metrics-listen address (ready when the record service answers)")
	case "prometheus":
		addr := ":9153"
		if len(d.args) > 0 {
			addr = d.args[0]
		}
		if _, port, err := net.SplitHostPort(addr); err == nil && port == deployMetricsPort {
			im.note(d.line, joinWords(what, addr), true, "the frontend's --metrics-listen (deploy/ sets 0.0.0.0:%s); /metrics carries CoreDNS's metric names too", deployMetricsPort)
			return nil
		}
		im.note(d.line, joinWords(what, addr), false, "the frontend's flag --metrics-listen %s", addr)
	case "loop":
		im.note(d.line, what, true, "the frontend detects forwarding loops itself")
	case "reload":
		im.note(d.line, what, true, "the frontend reloads its --config file when it changes")
	case "loadbalance":
		if len(d.args) > 0 && d.args[0] != "round_robin" {
			im.note(d.line, joinWords(append([]string{what}, d.args...)...), false, "only round_robin (the frontend rotates A and AAAA answers)")
			return nil
		}
		im.note(d.line, what, true, "the frontend rotates A and AAAA answers")
	case "log":
		im.note(d.line, joinWords(append([]string{what}, d.args...)...), false, "the frontend's flag --query-log (one line per query, its own format)")
	case "proxy":
		im.note(d.line, joinWords(append([]string{what}, d.args...)...), false, "removed in CoreDNS 1.6: rewrite it as forward and import again")
	case "bind":
		im.note(d.line, joinWords(append([]string{what}, d.args...)...), false, "the frontend's flag --listen")
	default:
		im.note(d.line, what, false, "no equivalent in clusterdns")
	}
	return nil
}

// subOptionsNotCarried notes every option of d's block.
func (im *importer) subOptionsNotCarried(d *directive, what, why string) {
	for _, o := range d.block {
		im.note(o.line, joinWords(what, o.name), false, "%s", why)
	}
	if len(d.args) > 0 {
		im.note(d.line, joinWords(append([]string{what}, d.args...)...), false, "%s", why)
	}
}

// kubernetes maps the kubernetes plugin: its zone is the cluster domain,
// its options are the record service's flags.
func (im *importer) kubernetes(b *block, d *directive) error {
	zones := b.zones
	if len(d.args) > 0 {
		zones = nil
		for _, a := range d.args {
			z, err := normalizeZone(a)
			if err != nil {
				return im.errorf(d.line, "kubernetes zone: %v", err)
			}
			zones = append(zones, z)
		}
	}
	for _, z := range zones {
		switch {
		case isReverse(z):
			// The frontend sends every reverse name to the record service.
		case im.clusterZone == "":
			im.clusterZone = z
			im.out.ClusterDomain = trimDot(z)
			if z != defaultClusterDomain {
				im.note(d.line, joinWords("kubernetes", z), false, "also a record service flag: --cluster-domain %s", trimDot(z))
			}
		default:
			im.note(d.line, joinWords("kubernetes", z), false, "one cluster domain only (%s is the first)", im.clusterZone)
		}
	}
	if im.clusterZone == "" {
		return im.errorf(d.line, "kubernetes: no cluster zone among %s", strings.Join(zones, " "))
	}
	for _, o := range d.block {
		what := joinWords(append([]string{"kubernetes", o.name}, o.args...)...)
		switch o.name {
		case "pods":
			mode := strings.Join(o.args, " ")
			switch mode {
			case "insecure":
				im.note(o.line, what, true, "the record service's default (--pods insecure)")
			case "verified", "disabled":
				im.podsVerified = mode == "verified"
				im.note(o.line, what, false, "a record service flag: --pods %s", mode)
			default:
				return im.errorf(o.line, "kubernetes pods %q: want disabled, insecure or verified", mode)
			}
		case "fallthrough":
			if len(o.args) > 0 && allReverse(o.args) {
				im.note(o.line, what, true, "reverse names the record service does not know go on to the upstreams")
				continue
			}
			im.note(o.line, what, false, "only reverse names fall through; names in the cluster zone never leave the record service")
		case "ttl":
			n, err := strconv.Atoi(strings.Join(o.args, " "))
			if err != nil || n < 0 || n > 3600 {
				return im.errorf(o.line, "kubernetes ttl %q: want seconds from 0 to 3600", strings.Join(o.args, " "))
			}
			if n == defaultRecordTTL {
				im.note(o.line, what, true, "the record service's default (--ttl %d)", defaultRecordTTL)
				continue
			}
			im.note(o.line, what, false, "a record service flag: --ttl %d", n)
		case "upstream":
			im.note(o.line, what, true, "the frontend resolves ExternalName targets through its upstreams")
		case "kubeconfig", "endpoint", "tls":
			im.note(o.line, what, false, "the record service's flag --kubeconfig (default: the in-cluster config)")
		default:
			im.note(o.line, what, false, "no equivalent in the record service")
		}
	}
	return nil
}

func isReverse(z string) bool {
	return dns.IsSubDomain("in-addr.arpa.", z) || dns.IsSubDomain("ip6.arpa.", z)
}

func allReverse(zones []string) bool {
	return !slices.ContainsFunc(zones, func(z string) bool { return !isReverse(strings.ToLower(dns.Fqdn(z))) })
}
