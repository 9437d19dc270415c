package forward

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Upstream protocol schemes of ParseUpstream.
const (
	schemeUDP = "udp://"
	schemeTCP = "tcp://"
	schemeTLS = "tls://"
)

// ParseUpstream validates an upstream and returns it in the canonical form the forwarder keys it by (and
// its metrics label it with):
//   - "10.0.0.53", "10.0.0.53:5353", "fd00::53", "[fd00::53]" and "[fd00::53]:5353" (also with "udp://") are
//     UDP, retried over TCP when truncated, returned as "ip:port"; the port defaults to 53;
//   - "tcp://IP[:PORT]" is TCP only, returned as "tcp://ip:port";
//   - "tls://IP[:PORT]#NAME" is DNS over TLS (RFC 7858) to a server whose certificate must be valid for
//     NAME, returned as "tls://ip:port#name"; the port defaults to 853.
//
// The host must be an IP address: resolving a resolver's name would itself need a resolver.
func ParseUpstream(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty upstream address")
	}
	switch {
	case strings.HasPrefix(s, schemeTCP):
		a, err := parseAddrPort(s, s[len(schemeTCP):], 53)
		if err != nil {
			return "", err
		}
		return schemeTCP + a, nil
	case strings.HasPrefix(s, schemeTLS):
		hostPort, name, ok := strings.Cut(s[len(schemeTLS):], "#")
		if !ok || name == "" {
			return "", fmt.Errorf("upstream %q: want tls://IP[:PORT]#SERVER-NAME (the name its certificate carries)", s)
		}
		if _, ok := dns.IsDomainName(name); !ok {
			return "", fmt.Errorf("upstream %q: server name %q is not a host name", s, name)
		}
		a, err := parseAddrPort(s, hostPort, 853)
		if err != nil {
			return "", err
		}
		return schemeTLS + a + "#" + strings.ToLower(strings.TrimSuffix(name, ".")), nil
	case strings.HasPrefix(s, schemeUDP):
		return parseAddrPort(s, s[len(schemeUDP):], 53)
	case strings.Contains(s, "://"):
		return "", fmt.Errorf("upstream %q: protocol must be udp://, tcp:// or tls://", s)
	}
	return parseAddrPort(s, s, 53)
}

// parseAddrPort returns hostPort as "ip:port", port defaulting to def; s is the whole value, for errors.
func parseAddrPort(s, hostPort string, def uint16) (string, error) {
	if ap, err := netip.ParseAddrPort(hostPort); err == nil {
		if ap.Port() == 0 {
			return "", fmt.Errorf("upstream %q: port 0 is not allowed", s)
		}
		return ap.String(), nil
	}
	host := hostPort
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, def).String(), nil
	}
	return "", fmt.Errorf("upstream %q: want IP or IP:PORT (IPv6 as [IP]:PORT)", s)
}

// endpoint splits a canonical upstream (ParseUpstream's result) into its protocol, "ip:port" and TLS
// server name.
func endpoint(key string) (proto, hostPort, serverName string) {
	switch {
	case strings.HasPrefix(key, schemeTCP):
		return protoTCP, key[len(schemeTCP):], ""
	case strings.HasPrefix(key, schemeTLS):
		hostPort, name, _ := strings.Cut(key[len(schemeTLS):], "#")
		return protoTLS, hostPort, name
	}
	return protoUDP, key, ""
}

// ParseStubDomain parses the value of a --stub-domain flag, "ZONE=UPSTREAM[,UPSTREAM]", into a lower-case
// fully qualified zone and its upstreams in ParseUpstream's form (duplicates dropped).
func ParseStubDomain(s string) (zone string, upstreams []string, err error) {
	z, list, ok := strings.Cut(s, "=")
	if !ok {
		return "", nil, fmt.Errorf("stub domain %q: want ZONE=HOST:PORT[,HOST:PORT]", s)
	}
	zone, err = parseZone(z)
	if err != nil {
		return "", nil, fmt.Errorf("stub domain %q: %w", s, err)
	}
	seen := make(map[string]bool)
	for part := range strings.SplitSeq(list, ",") {
		u, err := ParseUpstream(part)
		if err != nil {
			return "", nil, fmt.Errorf("stub domain %q: %w", s, err)
		}
		if !seen[u] {
			seen[u] = true
			upstreams = append(upstreams, u)
		}
	}
	return zone, upstreams, nil
}

// parseZone returns z lower-cased and fully qualified, or an error when it is not a domain name.
func parseZone(z string) (string, error) {
	z = strings.TrimSpace(z)
	if z == "" {
		return "", errors.New("empty zone")
	}
	if _, ok := dns.IsDomainName(z); !ok {
		return "", fmt.Errorf("zone %q is not a valid domain name", z)
	}
	return strings.ToLower(dns.Fqdn(z)), nil
}

// ParseResolvConf returns the nameservers of a resolv.conf as "ip:53" ("[v6]:53" for IPv6), in file order.
// Lines starting with "#" or ";" are comments and other options are ignored. A nameserver that is not an IP
// address is an error naming its line, and so is a file without any nameserver.
func ParseResolvConf(r io.Reader) ([]string, error) {
	var servers []string
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		fields := strings.Fields(text)
		if fields[0] != "nameserver" {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("resolv.conf line %d: nameserver without an address", line)
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("resolv.conf line %d: nameserver %q is not an IP address", line, fields[1])
		}
		servers = append(servers, netip.AddrPortFrom(a, 53).String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read resolv.conf: %w", err)
	}
	if len(servers) == 0 {
		return nil, errors.New("resolv.conf has no nameserver line")
	}
	return servers, nil
}

// parseStubDomainsFile parses the content of a stub domains file: one "zone=host:port[,host:port]" per line,
// blank lines and "#" comments (whole line or trailing) ignored. Errors name the file and the line.
func parseStubDomainsFile(name string, data []byte) (map[string][]string, error) {
	stubs := make(map[string][]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		zone, ups, err := ParseStubDomain(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if _, dup := stubs[zone]; dup {
			return nil, fmt.Errorf("%s:%d: zone %s is listed twice", name, line, zone)
		}
		stubs[zone] = ups
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return stubs, nil
}
