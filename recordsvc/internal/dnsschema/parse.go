package dnsschema

import (
	"fmt"
	"net/netip"
	"strings"
)

// Kind says which part of the Kubernetes DNS grammar a name denotes.
type Kind int

const (
	// KindApex is <zone>: SOA and NS.
	KindApex Kind = iota + 1
	// KindDNSVersion is dns-version.<zone>: TXT with the schema version.
	KindDNSVersion
	// KindDNSParent is dns.<zone>, the empty non-terminal above the
	// nameserver name: it exists but holds no records.
	KindDNSParent
	// KindNameserver is ns.dns.<zone>, the target of the zone's NS record.
	KindNameserver
	// KindServiceRoot is svc.<zone>: exists, no records.
	KindServiceRoot
	// KindPodRoot is pod.<zone>: exists, no records.
	KindPodRoot
	// KindServiceNamespace is <ns>.svc.<zone>: exists when the namespace does.
	KindServiceNamespace
	// KindPodNamespace is <ns>.pod.<zone>: exists when the namespace does and
	// pod records are enabled.
	KindPodNamespace
	// KindService is <service>.<ns>.svc.<zone>.
	KindService
	// KindEndpoint is <endpoint>.<service>.<ns>.svc.<zone>, the endpoint
	// named by its hostname or its dashed IP.
	KindEndpoint
	// KindPort is _<port>._<proto>.<service>.<ns>.svc.<zone> (SRV).
	KindPort
	// KindPod is <dashed-ip>.<ns>.pod.<zone>.
	KindPod
	// KindReverse is the full reverse name of one address in in-addr.arpa or
	// ip6.arpa.
	KindReverse
	// KindCluster is <clusterid>.<service>.<ns>.svc.<clusterset zone>
	// (clusterset.go).
	KindCluster
)

// String names the kind for messages and tests.
func (k Kind) String() string {
	switch k {
	case KindApex:
		return "apex"
	case KindDNSVersion:
		return "dns-version"
	case KindDNSParent:
		return "dns"
	case KindNameserver:
		return "nameserver"
	case KindServiceRoot:
		return "service-root"
	case KindPodRoot:
		return "pod-root"
	case KindServiceNamespace:
		return "service-namespace"
	case KindPodNamespace:
		return "pod-namespace"
	case KindService:
		return "service"
	case KindEndpoint:
		return "endpoint"
	case KindPort:
		return "port"
	case KindPod:
		return "pod"
	case KindReverse:
		return "reverse"
	case KindCluster:
		return "cluster"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Name is a parsed query name. Every string field is lower case; only the
// fields the Kind uses are set.
type Name struct {
	Kind Kind
	// Namespace for service, endpoint, port, pod and namespace kinds.
	Namespace string
	// Service for service, endpoint and port kinds.
	Service string
	// Endpoint is the endpoint label (hostname or dashed IP) of KindEndpoint.
	Endpoint string
	// Port and Protocol are the SRV labels of KindPort without their
	// leading underscores.
	Port     string
	Protocol string
	// IP is the address of KindPod and KindReverse.
	IP netip.Addr
	// Set marks a name of the clusterset zone (clusterset.go), whose
	// endpoint names also carry the Cluster label.
	Set     bool
	Cluster string
}

// ParseErrorKind classifies a name Parse rejects; each maps to one answer.
type ParseErrorKind int

const (
	// OutOfZone: the name is neither in the cluster zone nor in a reverse
	// zone (the server is not authoritative).
	OutOfZone ParseErrorKind = iota + 1
	// Malformed: the name is in the cluster zone but does not follow the
	// grammar, so it cannot exist (NXDOMAIN).
	Malformed
	// NotAnAddress: the name is in in-addr.arpa or ip6.arpa but does not
	// denote exactly one address (partial or invalid); it is left to the
	// upstream resolvers, as CoreDNS's fallthrough does.
	NotAnAddress
)

// String names the error kind.
func (k ParseErrorKind) String() string {
	switch k {
	case OutOfZone:
		return "out of zone"
	case Malformed:
		return "malformed"
	case NotAnAddress:
		return "not an address"
	default:
		return fmt.Sprintf("ParseErrorKind(%d)", int(k))
	}
}

// ParseError is the error Parse returns.
type ParseError struct {
	// Name is the query name as given.
	Name string
	// Kind classifies the error.
	Kind ParseErrorKind
	// Reason says what is wrong, for logs.
	Reason string
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("name %q: %s: %s", e.Name, e.Kind, e.Reason)
}

// Limits of the DNS name syntax (RFC 1035 section 2.3.4).
const (
	maxLabelLen = 63
	maxNameLen  = 255 // wire octets, root label included
)

// Parse parses qname (presentation format, trailing dot optional, any letter
// case, \X and \DDD escapes allowed) against zone, the cluster domain with or
// without its trailing dot. It is a pure function of its arguments. Errors
// are *ParseError.
func Parse(zone, qname string) (Name, error) {
	zl, _ := splitName(zone)
	return parseLabels(zl, qname)
}

// parse is Parse with the zone labels the Schema computed once.
func (s *Schema) parse(qname string) (Name, error) {
	if s.set != nil {
		if name, err, in := s.parseSet(qname); in {
			return name, err
		}
	}
	return parseLabels(s.zoneLabels, qname)
}

func parseLabels(zone []string, qname string) (Name, error) {
	labels, valid := splitName(qname)
	fail := func(kind ParseErrorKind, format string, args ...any) (Name, error) {
		return Name{}, &ParseError{Name: qname, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if len(zone) > 0 && hasSuffixLabels(labels, zone) {
		if !valid {
			return fail(Malformed, "not a valid domain name")
		}
		rel := labels[:len(labels)-len(zone)]
		name, reason := parseZoneRelative(rel)
		if reason != "" {
			return fail(Malformed, "%s", reason)
		}
		return name, nil
	}
	switch {
	case hasSuffixLabels(labels, []string{"in-addr", "arpa"}):
		ip, ok := parseReverse4(labels[:len(labels)-2])
		if !valid || !ok {
			return fail(NotAnAddress, "not the reverse name of an IPv4 address")
		}
		return Name{Kind: KindReverse, IP: ip}, nil
	case hasSuffixLabels(labels, []string{"ip6", "arpa"}):
		ip, ok := parseReverse6(labels[:len(labels)-2])
		if !valid || !ok {
			return fail(NotAnAddress, "not the reverse name of an IPv6 address")
		}
		return Name{Kind: KindReverse, IP: ip}, nil
	}
	return fail(OutOfZone, "outside the cluster zone and the reverse zones")
}

// parseZoneRelative parses the labels left of the zone. It returns a
// non-empty reason when they do not follow the grammar.
func parseZoneRelative(rel []string) (Name, string) {
	n := len(rel)
	if n == 0 {
		return Name{Kind: KindApex}, ""
	}
	switch top := rel[n-1]; top {
	case "dns-version":
		if n == 1 {
			return Name{Kind: KindDNSVersion}, ""
		}
		return Name{}, "nothing exists below dns-version"
	case "dns":
		switch {
		case n == 1:
			return Name{Kind: KindDNSParent}, ""
		case n == 2 && rel[0] == "ns":
			return Name{Kind: KindNameserver}, ""
		}
		return Name{}, "only ns.dns exists below dns"
	case "svc":
		return parseService(rel[:n-1])
	case "pod":
		return parsePod(rel[:n-1])
	default:
		return Name{}, fmt.Sprintf("%q is not svc, pod, dns or dns-version", top)
	}
}

// parseService parses the labels left of svc.<zone>.
func parseService(rel []string) (Name, string) {
	n := len(rel)
	if n == 0 {
		return Name{Kind: KindServiceRoot}, ""
	}
	ns := rel[n-1]
	if !isRFC1123Label(ns) {
		return Name{}, fmt.Sprintf("namespace %q is not a DNS label", ns)
	}
	if n == 1 {
		return Name{Kind: KindServiceNamespace, Namespace: ns}, ""
	}
	svc := rel[n-2]
	if !isRFC1123Label(svc) {
		return Name{}, fmt.Sprintf("service %q is not a DNS label", svc)
	}
	switch n {
	case 2:
		return Name{Kind: KindService, Namespace: ns, Service: svc}, ""
	case 3:
		ep := rel[0]
		if !isEndpointLabel(ep) {
			return Name{}, fmt.Sprintf("endpoint %q is neither a hostname nor a dashed IP", ep)
		}
		return Name{Kind: KindEndpoint, Namespace: ns, Service: svc, Endpoint: ep}, ""
	case 4:
		port, okPort := strings.CutPrefix(rel[0], "_")
		proto, okProto := strings.CutPrefix(rel[1], "_")
		if !okPort || !okProto || !isSRVLabel(port) || !isSRVLabel(proto) {
			return Name{}, fmt.Sprintf("%q.%q is not _<port>._<proto>", rel[0], rel[1])
		}
		return Name{Kind: KindPort, Namespace: ns, Service: svc, Port: port, Protocol: proto}, ""
	default:
		return Name{}, "too many labels below svc"
	}
}

// parsePod parses the labels left of pod.<zone>.
func parsePod(rel []string) (Name, string) {
	n := len(rel)
	if n == 0 {
		return Name{Kind: KindPodRoot}, ""
	}
	ns := rel[n-1]
	if !isRFC1123Label(ns) {
		return Name{}, fmt.Sprintf("namespace %q is not a DNS label", ns)
	}
	switch n {
	case 1:
		return Name{Kind: KindPodNamespace, Namespace: ns}, ""
	case 2:
		ip, ok := ParseDashedIP(rel[0])
		if !ok {
			return Name{}, fmt.Sprintf("%q is not a dashed IP address", rel[0])
		}
		return Name{Kind: KindPod, Namespace: ns, IP: ip}, ""
	default:
		return Name{}, "too many labels below pod"
	}
}

// DashedIP returns the label that names an endpoint or pod address: the text
// form of ip (dotted quad, or RFC 5952 for IPv6) with '.' or ':' replaced by
// '-'. An IPv6 form ending in "::" gets a trailing "0" so the label does not
// end with a hyphen (CoreDNS does the same): fd00:: is "fd00--0".
func DashedIP(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	s := strings.ReplaceAll(ip.String(), ":", "-")
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	return s
}

// ParseDashedIP parses a pod label: exactly three hyphens and no "--" is an
// IPv4 address (10-244-1-5), anything else is read as IPv6 with ':' for '-'
// (fd00-10-244--5), as CoreDNS reads it. Any text form the address parser
// accepts is allowed (fd00-0010-0244-0-0-0-0-5); IPv4 octets with leading
// zeros and IPv4-mapped IPv6 forms are rejected.
func ParseDashedIP(label string) (netip.Addr, bool) {
	if label == "" || len(label) > maxLabelLen {
		return netip.Addr{}, false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return netip.Addr{}, false
		}
	}
	var text string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		text = strings.ReplaceAll(label, "-", ".")
	} else {
		text = strings.ReplaceAll(label, "-", ":")
	}
	ip, err := netip.ParseAddr(text)
	if err != nil || ip.Is4In6() {
		return netip.Addr{}, false
	}
	return ip, true
}

// hasSuffixLabels reports whether labels ends with suffix.
func hasSuffixLabels(labels, suffix []string) bool {
	if len(labels) < len(suffix) {
		return false
	}
	off := len(labels) - len(suffix)
	for i, l := range suffix {
		if labels[off+i] != l {
			return false
		}
	}
	return true
}

// isRFC1123Label reports whether s is a lower-case RFC 1123 label: 1-63
// letters, digits and hyphens, starting and ending with a letter or digit
// (Kubernetes namespace and service names).
func isRFC1123Label(s string) bool {
	if len(s) == 0 || len(s) > maxLabelLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isEndpointLabel reports whether s can name an endpoint: a hostname or a
// dashed IP, whose IPv6 forms may start with hyphens ("--1" for ::1).
func isEndpointLabel(s string) bool {
	if len(s) == 0 || len(s) > maxLabelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isSRVLabel reports whether s (a port name or protocol with its underscore
// removed) is made of letters, digits and hyphens.
func isSRVLabel(s string) bool { return isEndpointLabel(s) }

// splitName splits a presentation-format domain name into its labels,
// resolving \X and \DDD escapes and lower-casing ASCII letters; the root
// label is dropped ("" and "." give no labels). valid is false when the name
// breaks the DNS syntax: an empty label, a bad escape, a label over 63 octets
// or a name over 255 octets. The labels are returned even then, as well as
// they can be read, so the caller can still tell which zone the name is in.
func splitName(name string) (labels []string, valid bool) {
	if name == "" || name == "." {
		return nil, true
	}
	if strings.IndexByte(name, '\\') < 0 {
		s := strings.TrimSuffix(name, ".")
		labels = strings.Split(asciiLower(s), ".")
		valid = len(s)+2 <= maxNameLen
		for _, l := range labels {
			if l == "" || len(l) > maxLabelLen {
				valid = false
			}
		}
		return labels, valid
	}
	valid = true
	var cur []byte
	wire := 1
	endLabel := func() {
		if len(cur) == 0 || len(cur) > maxLabelLen {
			valid = false
		}
		wire += len(cur) + 1
		labels = append(labels, string(cur))
		cur = cur[:0]
	}
	trailingDot := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		trailingDot = false
		switch c {
		case '.':
			endLabel()
			trailingDot = true
			continue
		case '\\':
			if i+1 >= len(name) {
				valid = false
				continue
			}
			if isDigit(name[i+1]) {
				if i+3 >= len(name) || !isDigit(name[i+2]) || !isDigit(name[i+3]) {
					valid = false
					i++
					continue
				}
				v := int(name[i+1]-'0')*100 + int(name[i+2]-'0')*10 + int(name[i+3]-'0')
				if v > 255 {
					valid = false
				}
				c = byte(v)
				i += 3
			} else {
				c = name[i+1]
				i++
			}
		}
		cur = append(cur, lowerByte(c))
	}
	if !trailingDot {
		endLabel()
	}
	if wire > maxNameLen {
		valid = false
	}
	return labels, valid
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// asciiLower lower-cases ASCII letters only: DNS names compare
// case-insensitively in ASCII (RFC 4343), and Unicode case folding must not
// turn other bytes into letters.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}
