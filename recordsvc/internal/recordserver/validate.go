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
// no records of.
func validateRequest(req *clusterdnsv1.LookupRequest) error {
	name := req.GetName()
	if name == "" || name == "." {
		return errors.New("name: empty")
	}
	text := strings.TrimSuffix(name, ".")
	if len(text) > maxNameText {
		return fmt.Errorf("name: %d characters, more than the %d a DNS name can hold (255 octets on the wire)",
			len(text), maxNameText)
	}
	for i, label := range strings.Split(text, ".") {
		switch {
		case label == "":
			return fmt.Errorf("name %q: label %d is empty", name, i+1)
		case len(label) > maxLabelLength:
			return fmt.Errorf("name %q: label %d is %d octets long, more than %d", name, i+1, len(label), maxLabelLength)
		}
	}
	if ip := req.GetClientIp(); ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("client_ip %q: not an IP address", ip)
		}
	}
	return nil
}
