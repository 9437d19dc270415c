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

// ParseUpstream validates an upstream address and returns it as "ip:port": "10.0.0.53", "10.0.0.53:5353",
// "fd00::53", "[fd00::53]" and "[fd00::53]:5353" are accepted; the port defaults to 53. The host must be an
// IP address: resolving a resolver's name would itself need a resolver.
func ParseUpstream(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty upstream address")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", fmt.Errorf("upstream %q: port 0 is not allowed", s)
		}
		return ap.String(), nil
	}
	host := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	return "", fmt.Errorf("upstream %q: want IP or IP:PORT (IPv6 as [IP]:PORT)", s)
}

// ParseStubDomain parses the value of a --stub-domain flag, "ZONE=HOST:PORT[,HOST:PORT]", into a lower-case
// fully qualified zone and its upstreams as "ip:port" (port 53 when missing; duplicates dropped).
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
