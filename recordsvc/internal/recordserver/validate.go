package recordserver

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// DNS name limits (RFC 1035 section 2.3.4): a label holds at most 63 octets
// and a name at most 255 octets in wire form, which is 253 characters of text
// without the trailing dot.
const (
	maxLabelLength = 63
	maxNameText    = 253
)

// validateRequest rejects requests no DNS question could have produced. An
// unknown qtype is not an error: it is answered like any type the zone has
// no records of. It returns the client address the request names, if any
// (the zero Addr when none), parsed once for the checks and attribution.
func validateRequest(req *clusterdnsv1.LookupRequest) (netip.Addr, error) {
	name := req.GetName()
	if name == "" || name == "." {
		return netip.Addr{}, errors.New("name: empty")
	}
	text := strings.TrimSuffix(name, ".")
	if len(text) > maxNameText {
		return netip.Addr{}, fmt.Errorf("name: %d characters, more than the %d a DNS name can hold (255 octets on the wire)",
			len(text), maxNameText)
	}
	// Labels are checked in place: this runs on every question.
	start, label := 0, 1
	for i := 0; i <= len(text); i++ {
		if i < len(text) && text[i] != '.' {
			continue
		}
		switch n := i - start; {
		case n == 0:
			return netip.Addr{}, fmt.Errorf("name %q: label %d is empty", name, label)
		case n > maxLabelLength:
			return netip.Addr{}, fmt.Errorf("name %q: label %d is %d octets long, more than %d", name, label, n, maxLabelLength)
		}
		start, label = i+1, label+1
	}
	var ip netip.Addr
	if text := req.GetClientIp(); text != "" {
		var err error
		if ip, err = netip.ParseAddr(text); err != nil {
			return netip.Addr{}, fmt.Errorf("client_ip %q: not an IP address", text)
		}
	}
	return ip, nil
}
