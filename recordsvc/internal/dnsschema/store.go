package dnsschema

import (
	"net/netip"

	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Store is the read side of the cluster indexes that answering needs. It is
// implemented by *kubeindex.Index; tests use small in-memory stores. All names
// passed in are lower case.
type Store interface {
	// Synced reports whether the indexes have completed their first sync;
	// before that no answer may be negative.
	Synced() bool
	// Revision is the current revision; it moves on every DNS-visible change.
	Revision() uint64
	// NamespaceExists reports whether the namespace exists.
	NamespaceExists(namespace string) bool
	// Service returns the service namespace/name.
	Service(namespace, name string) (kubeindex.Service, bool)
	// Endpoints returns every endpoint of the service across its
	// EndpointSlices, ready or not, in a stable order.
	Endpoints(namespace, service string) []kubeindex.Endpoint
	// ServicesByClusterIP returns the services that have ip among their
	// cluster IPs.
	ServicesByClusterIP(ip netip.Addr) []kubeindex.Service
	// EndpointsByIP returns the endpoints that have ip among their addresses.
	EndpointsByIP(ip netip.Addr) []kubeindex.EndpointRef
	// PodNamespacesByIP returns the namespaces of the running pods that have
	// ip (only populated when pods are watched).
	PodNamespacesByIP(ip netip.Addr) []string
}

// SerialStore is a Store that keeps the zone's SOA serial itself (see
// kubeindex.Index.Serial: the time of the last change, never going back
// across restarts). The SOA of a Store without it carries the revision
// truncated to 32 bits.
type SerialStore interface {
	Store
	Serial() uint32
}

// DirectoryStore is a Store that lists each namespace's Services (see
// kubeindex.Index.ServiceNames), so that an NXDOMAIN for a missing Service
// can carry the namespace's directory (LookupResponse.absent_below). The
// NXDOMAINs of a Store without it carry none.
type DirectoryStore interface {
	Store
	// ServiceNames returns the lower-case names of the namespace's
	// Services, sorted, and true; false when it has more than limit. The
	// slice may be shared and is not modified by the caller.
	ServiceNames(namespace string, limit int) ([]string, bool)
}
