package dnsconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"sigs.k8s.io/yaml"
)

// Parse reads a configuration file strictly (an unknown or repeated field is an error naming it) and
// validates it. An empty file is a valid configuration that sets nothing.
func Parse(data []byte) (*Frontend, error) {
	var f Frontend
	if err := DecodeStrict(data, &f); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Marshal validates f and writes it as YAML in the shape Parse reads.
func Marshal(f *Frontend) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return yaml.Marshal(f)
}

// DecodeStrict decodes a YAML configuration file into v, refusing unknown and repeated fields, with an
// error reading "parse: " and the decoder's message. The record service's file is read the same way.
func DecodeStrict(data []byte, v any) error {
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		return fmt.Errorf("parse: %s", cleanYAMLError(err))
	}
	return nil
}

// cleanYAMLError drops the wrappers the YAML-to-JSON conversion puts around the decoder's message, which
// names the field by its own name only (`unknown field "sise"` for cache.sise); the wrappers add nothing a
// reader needs.
func cleanYAMLError(err error) string {
	msg := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: ",
		"json: ", "yaml: unmarshal errors:"} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return strings.Join(strings.Fields(msg), " ")
}

// Port is the default port of a server of protocol p.
func Port(protocol string) uint16 {
	if protocol == ProtocolTLS {
		return 853
	}
	return 53
}

// AddrPort returns the server's address with its port (53, or 853 for tls, when Address has none).
func (s Server) AddrPort() (netip.AddrPort, error) {
	a := strings.TrimSpace(s.Address)
	if a == "" {
		return netip.AddrPort{}, errors.New("empty address")
	}
	if ap, err := netip.ParseAddrPort(a); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("%q: port 0 is not allowed", a)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want IP or IP:PORT ([IPv6]:PORT); a name would need a resolver itself", a)
	}
	return netip.AddrPortFrom(ip.Unmap(), Port(s.Protocol)), nil
}

// Proto returns the server's protocol, udp when none is given.
func (s Server) Proto() string {
	if s.Protocol == "" {
		return ProtocolUDP
	}
	return s.Protocol
}
