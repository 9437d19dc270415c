package dnsschema

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
)

// SchemaVersion is the version of the Kubernetes DNS-Based Service Discovery
// specification implemented here; dns-version.<zone> answers it as TXT.
const SchemaVersion = "1.1.0"

// Defaults applied by New to zero Config fields.
const (
	DefaultZone              = "cluster.local"
	DefaultTTL               = 30
	DefaultNameserverService = "kube-system/kube-dns"
	DefaultDirectoryLimit    = 1000
)

// PodMode says how <dashed-ip>.<ns>.pod.<zone> names are answered, as the
// `pods` option of CoreDNS's kubernetes plugin does.
type PodMode int

const (
	// PodsInsecure answers any well-formed IP in an existing namespace with
	// that IP, without checking that a pod has it. It is the zero value and
	// the default, as kubeadm configures CoreDNS.
	PodsInsecure PodMode = iota
	// PodsDisabled answers NXDOMAIN for every pod name.
	PodsDisabled
	// PodsVerified answers only when a running pod in that namespace has the
	// IP (Store.PodNamespacesByIP).
	PodsVerified
)

// String returns the flag spelling of the mode.
func (m PodMode) String() string {
	switch m {
	case PodsInsecure:
		return "insecure"
	case PodsDisabled:
		return "disabled"
	case PodsVerified:
		return "verified"
	default:
		return fmt.Sprintf("PodMode(%d)", int(m))
	}
}

// ParsePodMode parses "disabled", "insecure" or "verified".
func ParsePodMode(s string) (PodMode, error) {
	switch s {
	case "disabled":
		return PodsDisabled, nil
	case "insecure":
		return PodsInsecure, nil
	case "verified":
		return PodsVerified, nil
	default:
		return 0, fmt.Errorf("invalid pod mode %q: valid values are disabled, insecure, verified", s)
	}
}

// Config configures a Schema. The zero value is usable: every field documents
// the default New applies when it is left zero.
type Config struct {
	// Zone is the cluster domain, with or without the trailing dot; matching
	// is case-insensitive. Default "cluster.local".
	Zone string
	// TTL is the TTL in seconds of every record and the SOA minimum (the
	// negative-caching TTL). Zero means the default, 30 (as kubeadm sets it).
	TTL uint32
	// Pods is the pod-record mode. Default PodsInsecure (the zero value).
	Pods PodMode
	// NameserverService is "namespace/name" of the Service whose cluster IPs
	// answer ns.dns.<zone> A/AAAA and glue the zone's NS record. Default
	// "kube-system/kube-dns".
	NameserverService string
	// Autopath turns on server-side search-path completion (CoreDNS's
	// autopath; see autopath.go): an NXDOMAIN for X.<ns>.svc.<zone> asked by
	// a pod of namespace <ns> is answered, when the pod's search list finds
	// X further down inside the zone, with a CNAME to that name and its
	// records. It needs Pods == PodsVerified, whose pod index maps the
	// client IP to its namespace. Default false.
	Autopath bool
	// ZoneAware orders or narrows the endpoint addresses of headless
	// Services by the client's topology zone (zone.go). Default false.
	ZoneAware bool
	// MulticlusterZone, when set, is the clusterset zone answered from
	// ServiceImports (clusterset.go); it must not overlap Zone. Default
	// off.
	MulticlusterZone string
	// DirectoryLimit is the most Services a namespace may have for an
	// NXDOMAIN below it to list them (LookupResponse.absent_below, see
	// directory.go): the list goes into every such answer, so a namespace
	// with more Services gets none. Zero means the default, 1000; a
	// negative value sends no directory at all.
	DirectoryLimit int
}

// Schema answers questions about one cluster zone (and the reverse zones)
// from a Store. It is immutable and safe for concurrent use.
type Schema struct {
	zone       string   // "cluster.local." lower case
	zoneLabels []string // ["cluster", "local"]
	ttl        uint32
	soaTTL     uint32 // TTL of the SOA record itself: min(ttl, 300) as CoreDNS
	pods       PodMode
	autopath   bool
	zoneAware  bool
	nsNS       string // namespace of the nameserver service
	nsName     string // name of the nameserver service
	nsHost     string // "ns.dns.<zone>."
	hostmaster string // "hostmaster.<zone>."
	svcSuffix  string // ".svc.<zone>."
	dirLimit   int    // Config.DirectoryLimit, negative when off

	// set is the clusterset zone; nil when off.
	set *setZone

	// negSOA is the SOA of the last negative answer (negativeSOA).
	negSOA atomic.Pointer[serialSOA]
}

// maxSOATTL caps the SOA record's own TTL, as CoreDNS does.
const maxSOATTL = 300

// New validates cfg, applies the defaults and returns a Schema.
func New(cfg Config) (*Schema, error) {
	zone := cfg.Zone
	if zone == "" {
		zone = DefaultZone
	}
	zone = strings.TrimSuffix(asciiLower(zone), ".")
	labels, err := validateZone(zone)
	if err != nil {
		return nil, fmt.Errorf("invalid zone %q: %w", cfg.Zone, err)
	}

	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl > math.MaxInt32 {
		return nil, fmt.Errorf("invalid TTL %d: at most %d", ttl, math.MaxInt32)
	}

	switch cfg.Pods {
	case PodsDisabled, PodsInsecure, PodsVerified:
	default:
		return nil, fmt.Errorf("invalid pod mode %d: valid values are disabled, insecure, verified", int(cfg.Pods))
	}

	if cfg.Autopath && cfg.Pods != PodsVerified {
		return nil, fmt.Errorf("autopath needs pod mode verified (the pod index maps a client IP to its namespace), got %s", cfg.Pods)
	}

	nsService := cfg.NameserverService
	if nsService == "" {
		nsService = DefaultNameserverService
	}
	nsNS, nsName, ok := strings.Cut(asciiLower(nsService), "/")
	if !ok || !isRFC1123Label(nsNS) || !isRFC1123Label(nsName) {
		return nil, fmt.Errorf("invalid nameserver service %q: want namespace/name", cfg.NameserverService)
	}

	var set *setZone
	if cfg.MulticlusterZone != "" {
		if set, err = newSetZone(cfg.MulticlusterZone, zone); err != nil {
			return nil, fmt.Errorf("invalid multicluster zone %q: %w", cfg.MulticlusterZone, err)
		}
	}

	dirLimit := cfg.DirectoryLimit
	if dirLimit == 0 {
		dirLimit = DefaultDirectoryLimit
	}

	fqdn := zone + "."
	return &Schema{
		set:        set,
		zone:       fqdn,
		zoneLabels: labels,
		ttl:        ttl,
		soaTTL:     min(ttl, maxSOATTL),
		pods:       cfg.Pods,
		autopath:   cfg.Autopath,
		zoneAware:  cfg.ZoneAware,
		nsNS:       nsNS,
		nsName:     nsName,
		nsHost:     "ns.dns." + fqdn,
		hostmaster: "hostmaster." + fqdn,
		svcSuffix:  ".svc." + fqdn,
		dirLimit:   dirLimit,
	}, nil
}

// Zone returns the cluster zone, fully qualified and lower case, e.g.
// "cluster.local.".
func (s *Schema) Zone() string { return s.zone }

// validateZone checks that zone (lower case, no trailing dot) is a host name
// of LDH labels that does not overlap the reverse zones, and returns its
// labels.
func validateZone(zone string) ([]string, error) {
	if zone == "" {
		return nil, fmt.Errorf("empty")
	}
	if len(zone) > 253 {
		return nil, fmt.Errorf("longer than 253 characters")
	}
	labels := strings.Split(zone, ".")
	for _, l := range labels {
		if !isRFC1123Label(l) {
			return nil, fmt.Errorf("label %q is not a DNS label of letters, digits and inner hyphens", l)
		}
	}
	n := len(labels)
	if labels[n-1] == "arpa" {
		return nil, fmt.Errorf("the arpa tree holds the reverse zones")
	}
	return labels, nil
}
