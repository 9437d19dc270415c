package dnsschema

import (
	"net/netip"
	"strconv"
	"strings"
)

// parseReverse4 reads the labels left of in-addr.arpa: exactly four decimal
// octets 0-255 without leading zeros, least significant first. Partial names
// (a network, not an address) are rejected.
func parseReverse4(labels []string) (netip.Addr, bool) {
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, l := range labels {
		v, ok := parseOctet(l)
		if !ok {
			return netip.Addr{}, false
		}
		b[3-i] = v
	}
	return netip.AddrFrom4(b), true
}

// parseOctet parses a decimal 0-255 with no sign and no leading zero.
func parseOctet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

// parseReverse6 reads the labels left of ip6.arpa: exactly 32 single hex
// nibbles (either case; the caller lower-cased them), least significant
// first (RFC 3596 section 2.5).
func parseReverse6(labels []string) (netip.Addr, bool) {
	if len(labels) != 32 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i, l := range labels {
		if len(l) != 1 {
			return netip.Addr{}, false
		}
		v, ok := nibble(l[0])
		if !ok {
			return netip.Addr{}, false
		}
		pos := 31 - i // nibble index from the most significant
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ReverseName returns the fully qualified reverse name of ip:
// d.c.b.a.in-addr.arpa. for IPv4 and the 32-nibble ip6.arpa. name for IPv6.
func ReverseName(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4() {
		b := ip.As4()
		var sb strings.Builder
		for i := 3; i >= 0; i-- {
			sb.WriteString(strconv.Itoa(int(b[i])))
			sb.WriteByte('.')
		}
		sb.WriteString("in-addr.arpa.")
		return sb.String()
	}
	const hex = "0123456789abcdef"
	b := ip.As16()
	buf := make([]byte, 0, 64+len("ip6.arpa."))
	for i := 15; i >= 0; i-- {
		buf = append(buf, hex[b[i]&0x0f], '.', hex[b[i]>>4], '.')
	}
	buf = append(buf, "ip6.arpa."...)
	return string(buf)
}
