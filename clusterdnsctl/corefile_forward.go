package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// forward maps the forward plugin: from the root zone in the root block it
// is the upstreams, anywhere else a stub domain.
func (im *importer) forward(b *block, d *directive) error {
	if len(d.args) < 2 {
		return im.errorf(d.line, "forward: want FROM TO..., got %q", strings.Join(d.args, " "))
	}
	from, err := normalizeZone(d.args[0])
	if err != nil {
		return im.errorf(d.line, "forward FROM: %v", err)
	}
	var servers []dnsconfig.Server
	var files []string
	for _, to := range d.args[1:] {
		s, file, skip, err := parseForwardTo(to)
		switch {
		case err != nil:
			return im.errorf(d.line, "forward %s: %v", to, err)
		case skip != "":
			im.note(d.line, joinWords("forward", to), false, "%s", skip)
		case file != "":
			files = append(files, file)
		default:
			servers = append(servers, s)
		}
	}
	opts, err := im.forwardOptions(d)
	if err != nil {
		return err
	}
	var kept []dnsconfig.Server
	for _, s := range servers {
		switch {
		case s.Protocol == dnsconfig.ProtocolTLS && opts.serverName == "":
			im.note(d.line, joinWords("forward", "tls://"+s.Address), false,
				"a TLS upstream needs the name its certificate carries: add tls_servername (serverName)")
			continue
		case s.Protocol == dnsconfig.ProtocolTLS:
			s.ServerName = opts.serverName
		case opts.forceTCP:
			s.Protocol = dnsconfig.ProtocolTCP
		}
		kept = append(kept, s)
	}
	toUpstreams := from == "." && b.root
	for _, f := range files {
		switch {
		case toUpstreams && f == defaultResolvConf && len(servers) == 0:
			im.note(d.line, joinWords("forward", from, f), true, "the frontend's default upstreams are the nameservers of %s", defaultResolvConf)
		case toUpstreams && len(servers) == 0:
			im.note(d.line, joinWords("forward", from, f), false, "the frontend's flag --resolv-conf %s", f)
		default:
			im.note(d.line, joinWords("forward", from, f), false, "the nameservers of a file are the frontend's default upstreams only (--resolv-conf); give addresses")
		}
	}
	if len(kept) == 0 {
		return nil
	}
	if toUpstreams {
		if im.out.Upstreams != nil {
			im.note(d.line, "forward .", false, "the upstreams are already set by an earlier forward")
			return nil
		}
		im.out.Upstreams = &dnsconfig.Upstreams{Policy: opts.policy, Servers: kept}
		return nil
	}
	if opts.policy != "" && opts.policy != "random" {
		im.note(d.line, joinWords("forward", from, "policy", opts.policy), false, "stub domains have no policy of their own")
	}
	zones := []string{from}
	if from == "." {
		zones = b.zones
	}
	for _, z := range zones {
		if im.hasStub(z) {
			im.note(d.line, joinWords("forward", z), false, "stub domain %s is already set by an earlier forward", z)
			continue
		}
		im.out.StubDomains = append(im.out.StubDomains, dnsconfig.StubDomain{Zone: trimDot(z), Servers: kept})
	}
	return nil
}

func (im *importer) hasStub(zone string) bool {
	for _, s := range im.out.StubDomains {
		if strings.EqualFold(dns.Fqdn(s.Zone), zone) {
			return true
		}
	}
	return false
}

// forwardOpts are the options of a forward block that the output carries.
type forwardOpts struct {
	policy, serverName string
	forceTCP           bool
}

func (im *importer) forwardOptions(d *directive) (forwardOpts, error) {
	var o forwardOpts
	for _, opt := range d.block {
		what := joinWords(append([]string{"forward", opt.name}, opt.args...)...)
		arg := strings.Join(opt.args, " ")
		switch opt.name {
		case "tls_servername":
			if len(opt.args) != 1 {
				return o, im.errorf(opt.line, "forward tls_servername: want one name, got %q", arg)
			}
			o.serverName = opt.args[0]
		case "policy":
			switch arg {
			case "random", "round_robin", "sequential":
				o.policy = arg
			default:
				return o, im.errorf(opt.line, "forward policy %q: want random, round_robin or sequential", arg)
			}
		case "force_tcp":
			o.forceTCP = true
		case "prefer_udp":
			im.note(opt.line, what, true, "the frontend asks over UDP and retries over TCP when the answer is truncated")
		case "tls":
			if len(opt.args) == 0 {
				im.note(opt.line, what, true, "TLS upstreams are verified against the system's CAs")
				continue
			}
			im.note(opt.line, what, false, "client certificates and private CAs for TLS upstreams are not supported (the system's CAs verify)")
		case "max_concurrent":
			if n, err := strconv.Atoi(arg); err == nil && n == defaultMaxUpstream {
				im.note(opt.line, what, true, "the frontend's default (--max-concurrent-upstream %d)", defaultMaxUpstream)
				continue
			}
			im.note(opt.line, what, false, "the frontend's flag --max-concurrent-upstream %s", arg)
		default:
			im.note(opt.line, what, false, "no equivalent in the frontend's forwarding")
		}
	}
	return o, nil
}

// parseForwardTo reads one TO of forward: an address with an optional
// dns:// or tls:// scheme, or a resolv.conf-style file (CoreDNS reads any
// TO that is not an address as one). skip says why a valid TO is not
// carried.
func parseForwardTo(to string) (s dnsconfig.Server, file, skip string, err error) {
	scheme, rest := "", to
	if sc, r, ok := strings.Cut(to, "://"); ok {
		scheme, rest = strings.ToLower(sc), r
	}
	var port uint16
	switch scheme {
	case "", "dns":
		port = dnsconfig.Port(dnsconfig.ProtocolUDP)
	case "tls":
		s.Protocol, port = dnsconfig.ProtocolTLS, dnsconfig.Port(dnsconfig.ProtocolTLS)
	default:
		return s, "", fmt.Sprintf("%s:// upstreams are not supported (udp, tcp and tls are)", scheme), nil
	}
	if ap, perr := netip.ParseAddrPort(rest); perr == nil {
		s.Address = ap.String()
		return s, "", "", nil
	}
	if a, perr := netip.ParseAddr(rest); perr == nil && a.Zone() == "" {
		s.Address = netip.AddrPortFrom(a, port).String()
		return s, "", "", nil
	}
	if scheme == "" && !strings.ContainsAny(rest, ":[]") {
		return s, rest, "", nil
	}
	return s, "", "", fmt.Errorf("not an IP address with an optional port")
}
