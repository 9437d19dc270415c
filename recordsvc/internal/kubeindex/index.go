// Package kubeindex keeps the slim cluster state DNS and the discovery API
// answer from: Services, their EndpointSlices, Namespaces and (for `pods
// verified`) running Pods, indexed by name and by IP, with a revision that
// moves on every change they can see and a stream of those changes. It is fed by Kubernetes informers
// (informers.go) or by a file of Kubernetes objects (file.go).
package kubeindex

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Index. The zero value is ready to use.
type Config struct {
	// StartRevision is the revision before the first change. Zero means the
	// Unix time in seconds when New is called, so that revisions (and the
	// SOA serials derived from them) roughly increase across restarts.
	StartRevision uint64
	// SubscriberBuffer is how many changes a subscriber may lag behind before
	// it is ended with ErrSubscriberBehind. Zero means 4096.
	SubscriberBuffer int
	// HistoryChanges and HistoryKeys bound the history of recent changes
	// that resuming subscribers catch up from (SubscribeFrom): at most
	// HistoryChanges changes holding at most HistoryKeys keys in all. Zero
	// means 4096 changes and 65536 keys (a few MiB).
	HistoryChanges int
	HistoryKeys    int
	// PodNames keeps, for each pod IP, the pods that hold it, so that
	// PodsByIP can name the pod behind a client address (query logs).
	// Off by default: it costs a map entry per pod IP.
	PodNames bool
	// ClientZones keeps the node of each pod IP, so that ClientZone can
	// name a client's zone (nodes.go). Off by default: it costs a map
	// entry per pod IP.
	ClientZones bool
}

func (c Config) subscriberBuffer() int {
	if c.SubscriberBuffer <= 0 {
		return 4096
	}
	return c.SubscriberBuffer
}

// objectKey names a namespaced object; both parts are lower case.
type objectKey struct{ namespace, name string }

func keyOf(namespace, name string) objectKey {
	return objectKey{strings.ToLower(namespace), strings.ToLower(name)}
}

func (k objectKey) less(o objectKey) int {
	if c := strings.Compare(k.namespace, o.namespace); c != 0 {
		return c
	}
	return strings.Compare(k.name, o.name)
}

// Index is the in-memory cluster state. Writers are the Set*/Delete*/Replace
// methods; readers are the dnsschema.Store methods. It is safe for concurrent
// use. Slices returned by readers are shared and must not be modified.
type Index struct {
	cfg      Config
	revision atomic.Uint64
	synced   atomic.Bool
	syncedCh chan struct{}
	// programmingDelay observes, for the changes made after the first sync
	// that carry a trigger time, the delay from that time to publication.
	programmingDelay prometheus.Histogram

	// serial is the SOA serial: see Serial.
	serial atomic.Uint32

	mu sync.RWMutex
	// digest is the Digest of the objects below; history the recent
	// changes with the digest after each.
	digest     Digest
	history    *history
	namespaces map[string]struct{}
	// services and slices point at the Service and EndpointSlice of the
	// slim objects the informers store (immutable, see transform.go), or
	// at a copy of what SetService and SetEndpointSlice are given: a map
	// entry of a pointer is 40 bytes where one of a Service was 168 (3.5 MB
	// at 10,000 Services and EndpointSlices, with the duplicated objects).
	services map[objectKey]*Service
	// serviceNames lists the names of each namespace's services
	// (servicenames.go).
	serviceNames map[string]*serviceNames
	// byClusterIP lists the services that have an IP, sorted.
	byClusterIP map[netip.Addr][]objectKey
	// slices holds EndpointSlices by their own namespace/name; endpoints
	// the slice names and merged endpoints of each service that has
	// slices.
	slices    map[objectKey]*EndpointSlice
	endpoints map[objectKey]*serviceEndpoints
	// endpointIP names the service whose endpoints have an address, for
	// the addresses of exactly one service; sharedEndpointIP lists the
	// services, sorted, of the rare addresses that several services' endpoints
	// have. An address is in one map or the other. Readers find the endpoint
	// itself in endpoints: storing only the service keeps the reverse index
	// at a map entry per address (it was a third of the Index's memory with
	// a copy of each endpoint). The entry is kept small (24 bytes, not 56):
	// the address as 16 bytes (the Index holds unmapped addresses only, so
	// As16 tells them apart) and the service's entry in endpoints.
	endpointIP       map[[16]byte]*serviceEndpoints
	sharedEndpointIP map[netip.Addr][]objectKey
	// pods holds the IPs of the running pods; podsByIP counts the pods of
	// each namespace that have an IP.
	pods     map[objectKey][]netip.Addr
	podsByIP map[netip.Addr]map[string]int
	// podNames is kept with Config.PodNames only (podns.go).
	podNames map[netip.Addr][]objectKey
	subs     map[*Subscription]struct{}

	// zones holds the nodes of pods and the zones of nodes (nodes.go).
	zones zoneState
	// mcs holds ServiceImports and their slices (serviceimports.go).
	mcs importState
}

// New returns an empty, unsynced Index.
func New(cfg Config) *Index {
	ix := &Index{
		cfg:              cfg,
		syncedCh:         make(chan struct{}),
		namespaces:       make(map[string]struct{}),
		services:         make(map[objectKey]*Service),
		serviceNames:     make(map[string]*serviceNames),
		byClusterIP:      make(map[netip.Addr][]objectKey),
		slices:           make(map[objectKey]*EndpointSlice),
		endpoints:        make(map[objectKey]*serviceEndpoints),
		endpointIP:       make(map[[16]byte]*serviceEndpoints),
		sharedEndpointIP: make(map[netip.Addr][]objectKey),
		pods:             make(map[objectKey][]netip.Addr),
		podsByIP:         make(map[netip.Addr]map[string]int),
		subs:             make(map[*Subscription]struct{}),
		programmingDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "clusterdns_recordsvc_programming_delay_seconds",
			Help: "DNS programming delay inside the record service: time from an EndpointSlice change's " +
				"endpoints.kubernetes.io/last-change-trigger-time to the change being published to Lookups " +
				"and Watch streams. Only changes after the first sync that carry the annotation are observed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms .. 32.8s
		}),
	}
	start := cfg.StartRevision
	if start == 0 {
		start = uint64(time.Now().Unix())
	}
	ix.revision.Store(start)
	ix.history = newHistory(cfg.HistoryChanges, cfg.HistoryKeys, start)
	ix.serial.Store(uint32(time.Now().Unix()))
	return ix
}

// Serial is the zone's SOA serial: the wall-clock second (Unix time, modulo
// 2^32) of the last DNS-visible change, or of New before the first. Within a
// process it never goes backwards (a clock stepped back leaves it where it
// was); across restarts it does not either, as long as the clock does not
// step back, because a restarted process starts at its own start time,
// later than any change the previous process saw. Changes within one second
// share a serial: nothing transfers this zone, so the serial only has to
// move forward, not count changes.
func (ix *Index) Serial() uint32 { return ix.serial.Load() }

// advanceSerialLocked moves the serial to now unless it is already there or
// later. ix.mu must be held for writing.
func (ix *Index) advanceSerialLocked(now time.Time) {
	if sec := uint32(now.Unix()); int32(sec-ix.serial.Load()) > 0 { // RFC 1982 comparison
		ix.serial.Store(sec)
	}
}

// Digest is the digest of the Index's current objects.
func (ix *Index) Digest() Digest {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.digest
}

// MarkSynced records that the sources have delivered their initial state:
// from now on a missing name is a true negative.
func (ix *Index) MarkSynced() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.synced.CompareAndSwap(false, true) {
		close(ix.syncedCh)
	}
}

// SyncedChan is closed by MarkSynced.
func (ix *Index) SyncedChan() <-chan struct{} { return ix.syncedCh }

// Synced reports whether MarkSynced was called.
func (ix *Index) Synced() bool { return ix.synced.Load() }

// Revision is the current revision; it moves only on DNS-visible changes.
func (ix *Index) Revision() uint64 { return ix.revision.Load() }

// NamespaceExists reports whether the namespace exists.
func (ix *Index) NamespaceExists(namespace string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.namespaces[strings.ToLower(namespace)]
	return ok
}

// Service returns the service namespace/name.
func (ix *Index) Service(namespace, name string) (Service, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s, ok := ix.services[keyOf(namespace, name)]
	if !ok {
		return Service{}, false
	}
	return *s, true
}

// Endpoints returns the merged endpoints of the service across all its
// EndpointSlices, ready or not, sorted by address, duplicates removed.
func (ix *Index) Endpoints(namespace, service string) []Endpoint {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.endpoints[keyOf(namespace, service)].list()
}

// serviceEndpoints is what the Index holds for a service that has
// EndpointSlices: their names, sorted (a list, not a set: most services have
// one slice, and a small map each cost about 200 bytes at sync), and their
// merged endpoints. One entry for both, which endpointIP points at, keeps
// the Index at one map entry per service for them.
type serviceEndpoints struct {
	key    objectKey
	slices []string
	merged []Endpoint
}

// list returns the merged endpoints, nil for a nil entry.
func (e *serviceEndpoints) list() []Endpoint {
	if e == nil {
		return nil
	}
	return e.merged
}

// ServicesByClusterIP returns the services that have ip among their cluster
// IPs, sorted by namespace and name.
func (ix *Index) ServicesByClusterIP(ip netip.Addr) []Service {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	keys := ix.byClusterIP[ip.Unmap()]
	if len(keys) == 0 {
		return nil
	}
	out := make([]Service, 0, len(keys))
	for _, k := range keys {
		out = append(out, *ix.services[k])
	}
	return out
}

// EndpointsByIP returns the endpoints that have ip among their addresses,
// sorted by namespace and service.
func (ix *Index) EndpointsByIP(ip netip.Addr) []EndpointRef {
	ip = ip.Unmap()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	svcs := ix.sharedEndpointIP[ip]
	if svcs == nil {
		svc, ok := ix.endpointIP[ip.As16()]
		if !ok {
			return nil
		}
		svcs = []objectKey{svc.key}
	}
	out := make([]EndpointRef, 0, len(svcs))
	for _, svc := range svcs {
		if ep, ok := endpointWith(ix.endpoints[svc].list(), ip); ok {
			out = append(out, EndpointRef{Namespace: svc.namespace, Service: svc.name, Endpoint: ep})
		}
	}
	return out
}

// endpointWith finds the endpoint that has ip among eps, which are sorted by
// first address and have each address once.
func endpointWith(eps []Endpoint, ip netip.Addr) (Endpoint, bool) {
	i, found := slices.BinarySearchFunc(eps, ip, func(ep Endpoint, ip netip.Addr) int { return ep.Addresses[0].Compare(ip) })
	if found {
		return eps[i], true
	}
	for _, ep := range eps { // a second address of a dual-stack endpoint
		if slices.Contains(ep.Addresses[1:], ip) {
			return ep, true
		}
	}
	return Endpoint{}, false
}

// PodNamespacesByIP returns the sorted namespaces of the running pods that
// have ip.
func (ix *Index) PodNamespacesByIP(ip netip.Addr) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	counts := ix.podsByIP[ip.Unmap()]
	if len(counts) == 0 {
		return nil
	}
	out := make([]string, 0, len(counts))
	for ns := range counts {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// SetNamespace records that a namespace exists.
func (ix *Index) SetNamespace(name string) {
	ix.write(func(k keySet) { ix.setNamespaceLocked(name, k) })
}

// DeleteNamespace records that a namespace is gone.
func (ix *Index) DeleteNamespace(name string) {
	ix.write(func(k keySet) { ix.deleteNamespaceLocked(name, k) })
}

// SetService adds or updates a service.
func (ix *Index) SetService(s Service) { ix.write(func(k keySet) { ix.setServiceLocked(&s, k) }) }

// setStoredService is SetService for the slim Service an informer stores:
// the Index keeps s itself, which must not change afterwards.
func (ix *Index) setStoredService(s *Service) { ix.write(func(k keySet) { ix.setServiceLocked(s, k) }) }

// DeleteService removes a service.
func (ix *Index) DeleteService(namespace, name string) {
	ix.write(func(k keySet) { ix.deleteServiceLocked(keyOf(namespace, name), k) })
}

// SetEndpointSlice adds or updates an EndpointSlice (keyed by its own
// namespace/name) and recomputes the endpoints of its service. The change, if
// any, is dated when the Index observes it.
func (ix *Index) SetEndpointSlice(s EndpointSlice) {
	ix.write(func(k keySet) { ix.setSliceLocked(&s, k) })
}

// SetEndpointSliceAt is SetEndpointSlice for a change that began in the
// cluster at triggered (the slice's
// endpoints.kubernetes.io/last-change-trigger-time annotation): the Change
// carries it as its ChangeTime and, once the Index is synced, the delay
// until publication is observed by the programming delay histogram. A zero
// triggered means unknown, as SetEndpointSlice.
func (ix *Index) SetEndpointSliceAt(s EndpointSlice, triggered time.Time) {
	ix.writeAt(triggered, func(k keySet) { ix.setSliceLocked(&s, k) })
}

// setStoredSliceAt is SetEndpointSliceAt for the slim EndpointSlice an
// informer stores: the Index keeps s itself, which must not change
// afterwards.
func (ix *Index) setStoredSliceAt(s *EndpointSlice, triggered time.Time) {
	ix.writeAt(triggered, func(k keySet) { ix.setSliceLocked(s, k) })
}

// DeleteEndpointSlice removes an EndpointSlice by its own namespace/name.
func (ix *Index) DeleteEndpointSlice(namespace, name string) {
	ix.write(func(k keySet) {
		ix.deleteImportSliceLocked(keyOf(namespace, name), k)
		ix.deleteSliceLocked(keyOf(namespace, name), k)
	})
}

// SetPod adds or updates a pod; a pod without IPs is removed.
func (ix *Index) SetPod(p Pod) { ix.write(func(k keySet) { ix.setPodLocked(p, k) }) }

// DeletePod removes a pod.
func (ix *Index) DeletePod(namespace, name string) {
	ix.write(func(k keySet) { ix.deletePodLocked(keyOf(namespace, name), k) })
}

// Snapshot is a whole cluster state, as a file source reads it.
type Snapshot struct {
	Namespaces     []string
	Services       []Service
	EndpointSlices []EndpointSlice
	Pods           []Pod
}

// Replace swaps the whole state for s in one change: only the keys whose
// state differs are announced, under a single new revision.
func (ix *Index) Replace(s Snapshot) {
	ix.write(func(keys keySet) {
		namespaces := make(map[string]struct{}, len(s.Namespaces))
		for _, ns := range s.Namespaces {
			namespaces[strings.ToLower(ns)] = struct{}{}
		}
		services := make(map[objectKey]struct{}, len(s.Services))
		for _, svc := range s.Services {
			services[keyOf(svc.Namespace, svc.Name)] = struct{}{}
		}
		sliceKeys := make(map[objectKey]struct{}, len(s.EndpointSlices))
		for _, sl := range s.EndpointSlices {
			sliceKeys[keyOf(sl.Namespace, sl.Name)] = struct{}{}
		}
		pods := make(map[objectKey]struct{}, len(s.Pods))
		for _, p := range s.Pods {
			pods[keyOf(p.Namespace, p.Name)] = struct{}{}
		}

		for ns := range ix.namespaces {
			if _, ok := namespaces[ns]; !ok {
				ix.deleteNamespaceLocked(ns, keys)
			}
		}
		for k := range ix.services {
			if _, ok := services[k]; !ok {
				ix.deleteServiceLocked(k, keys)
			}
		}
		for k := range ix.slices {
			if _, ok := sliceKeys[k]; !ok {
				ix.deleteSliceLocked(k, keys)
			}
		}
		for k := range ix.mcs.slices {
			if _, ok := sliceKeys[k]; !ok {
				ix.deleteImportSliceLocked(k, keys)
			}
		}
		for k := range ix.pods {
			if _, ok := pods[k]; !ok {
				ix.deletePodLocked(k, keys)
			}
		}

		for _, ns := range s.Namespaces {
			ix.setNamespaceLocked(ns, keys)
		}
		for _, svc := range s.Services {
			ix.setServiceLocked(&svc, keys)
		}
		for _, sl := range s.EndpointSlices {
			ix.setSliceLocked(&sl, keys)
		}
		for _, p := range s.Pods {
			ix.setPodLocked(p, keys)
		}
	})
}

// write runs one mutation under the write lock and commits the keys it
// touched as one change, dated when it is observed.
func (ix *Index) write(mutate func(keySet)) { ix.writeAt(time.Time{}, mutate) }

// writeAt is write for a change that began in the cluster at triggered (zero
// when unknown).
func (ix *Index) writeAt(triggered time.Time, mutate func(keySet)) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	keys := keySet{}
	before := ix.digest
	mutate(keys)
	ix.commitLocked(keys, triggered, before)
}

// ProgrammingDelay is the histogram clusterdns_recordsvc_programming_delay_seconds
// of this Index, for registration with a Prometheus registry.
func (ix *Index) ProgrammingDelay() prometheus.Collector { return ix.programmingDelay }

func (ix *Index) setNamespaceLocked(name string, keys keySet) {
	name = strings.ToLower(name)
	if _, ok := ix.namespaces[name]; ok {
		return
	}
	ix.namespaces[name] = struct{}{}
	ix.digest.toggle(namespaceHash(name))
	keys.add(NamespaceKey(name))
}

func (ix *Index) deleteNamespaceLocked(name string, keys keySet) {
	name = strings.ToLower(name)
	if _, ok := ix.namespaces[name]; !ok {
		return
	}
	delete(ix.namespaces, name)
	ix.digest.toggle(namespaceHash(name))
	keys.add(NamespaceKey(name))
}

// setServiceLocked keeps s, which must not change afterwards.
func (ix *Index) setServiceLocked(s *Service, keys keySet) {
	if ips := unmapAll(s.ClusterIPs); len(ips) > 0 && &ips[0] != &s.ClusterIPs[0] {
		c := *s
		c.ClusterIPs = ips
		s = &c
	}
	k := keyOf(s.Namespace, s.Name)
	var old Service
	stored, had := ix.services[k]
	if had {
		old = *stored
		if serviceEqual(old, *s) {
			return
		}
	}
	ix.services[k] = s
	if had {
		ix.digest.toggle(serviceHash(k, old))
	} else {
		ix.addServiceNameLocked(k)
		keys.add(ServicesKey(k.namespace))
	}
	ix.digest.toggle(serviceHash(k, *s))
	keys.add(ServiceKey(k.namespace, k.name))
	for _, ip := range old.ClusterIPs {
		if !slices.Contains(s.ClusterIPs, ip) {
			ix.byClusterIP[ip] = removeKey(ix.byClusterIP[ip], k)
			if len(ix.byClusterIP[ip]) == 0 {
				delete(ix.byClusterIP, ip)
			}
			keys.add(AddressKey(ip))
		}
	}
	for _, ip := range s.ClusterIPs {
		if !slices.Contains(old.ClusterIPs, ip) {
			ix.byClusterIP[ip] = insertKey(ix.byClusterIP[ip], k)
			keys.add(AddressKey(ip))
		}
	}
	// How endpoint addresses reverse-resolve may depend on whether their
	// service exists and on its kind.
	if !had || old.Headless != s.Headless || old.ExternalName != s.ExternalName {
		addEndpointAddressKeys(ix.endpoints[k].list(), keys)
	}
}

func (ix *Index) deleteServiceLocked(k objectKey, keys keySet) {
	stored, had := ix.services[k]
	if !had {
		return
	}
	old := *stored
	delete(ix.services, k)
	ix.removeServiceNameLocked(k)
	ix.digest.toggle(serviceHash(k, old))
	keys.add(ServiceKey(k.namespace, k.name))
	keys.add(ServicesKey(k.namespace))
	for _, ip := range old.ClusterIPs {
		ix.byClusterIP[ip] = removeKey(ix.byClusterIP[ip], k)
		if len(ix.byClusterIP[ip]) == 0 {
			delete(ix.byClusterIP, ip)
		}
		keys.add(AddressKey(ip))
	}
	addEndpointAddressKeys(ix.endpoints[k].list(), keys)
}

// setSliceLocked keeps s, which must not change afterwards.
func (ix *Index) setSliceLocked(s *EndpointSlice, keys keySet) {
	k := keyOf(s.Namespace, s.Name)
	ix.setImportSliceLocked(k, *s, keys)
	if s.Service == "" {
		ix.deleteSliceLocked(k, keys)
		return
	}
	if eps := unmapEndpoints(s.Endpoints); len(eps) > 0 && &eps[0] != &s.Endpoints[0] {
		c := *s
		c.Endpoints = eps
		s = &c
	}
	var old EndpointSlice
	stored, had := ix.slices[k]
	if had {
		old = *stored
		if sliceEqual(old, *s) {
			return
		}
	}
	ix.slices[k] = s
	if had {
		ix.digest.toggle(sliceHash(k, old))
	}
	ix.digest.toggle(sliceHash(k, *s))
	svc := keyOf(s.Namespace, s.Service)
	if had {
		if oldSvc := keyOf(old.Namespace, old.Service); oldSvc != svc {
			ix.detachSliceLocked(oldSvc, k.name)
			ix.recomputeLocked(oldSvc, keys)
		}
	}
	entry := ix.endpoints[svc]
	if entry == nil {
		entry = &serviceEndpoints{key: svc}
		ix.endpoints[svc] = entry
	}
	if i, found := slices.BinarySearch(entry.slices, k.name); !found {
		entry.slices = slices.Insert(entry.slices, i, k.name)
	}
	ix.recomputeLocked(svc, keys)
}

func (ix *Index) deleteSliceLocked(k objectKey, keys keySet) {
	stored, had := ix.slices[k]
	if !had {
		return
	}
	old := *stored
	delete(ix.slices, k)
	ix.digest.toggle(sliceHash(k, old))
	svc := keyOf(old.Namespace, old.Service)
	ix.detachSliceLocked(svc, k.name)
	ix.recomputeLocked(svc, keys)
}

// detachSliceLocked removes the slice from svc's names; the recompute that
// follows drops the entry once it has neither slices nor endpoints.
func (ix *Index) detachSliceLocked(svc objectKey, slice string) {
	entry := ix.endpoints[svc]
	if entry == nil {
		return
	}
	if i, found := slices.BinarySearch(entry.slices, slice); found {
		entry.slices = slices.Delete(entry.slices, i, i+1)
	}
}

// recomputeLocked merges the slices of a service and, when the result
// differs, updates the endpoint indexes and announces the service and every
// address whose endpoint changed.
func (ix *Index) recomputeLocked(svc objectKey, keys keySet) {
	entry := ix.endpoints[svc]
	if entry == nil {
		return
	}
	names := entry.slices
	var merged []Endpoint
	if len(names) == 1 {
		merged = mergeOne(ix.sliceEndpoints(objectKey{svc.namespace, names[0]}))
	} else {
		parts := make([][]Endpoint, 0, len(names))
		for _, n := range names {
			parts = append(parts, ix.sliceEndpoints(objectKey{svc.namespace, n}))
		}
		merged = mergeEndpoints(parts)
	}
	old := entry.merged
	if len(names) == 0 && len(merged) == 0 {
		// Dropped after the addresses below: endpointIP points at it
		// until then.
		defer delete(ix.endpoints, svc)
	}
	if slices.EqualFunc(old, merged, endpointEqual) {
		return
	}
	entry.merged = merged
	keys.add(ServiceKey(svc.namespace, svc.name))

	if len(old) == 0 {
		// A service's first endpoints (all of them at sync): every address
		// is new, no need for the maps below.
		for _, ep := range merged {
			for _, ip := range ep.Addresses {
				keys.add(AddressKey(ip))
				ix.addEndpointIPLocked(ip, entry)
			}
		}
		return
	}
	oldByIP := endpointsByAddress(old)
	newByIP := endpointsByAddress(merged)
	for ip, ep := range oldByIP {
		nep, ok := newByIP[ip]
		if ok && endpointEqual(ep, nep) {
			continue
		}
		keys.add(AddressKey(ip))
		if !ok {
			ix.removeEndpointIPLocked(ip, svc)
		}
	}
	for ip, ep := range newByIP {
		oep, ok := oldByIP[ip]
		if ok && endpointEqual(ep, oep) {
			continue
		}
		keys.add(AddressKey(ip))
		if !ok {
			ix.addEndpointIPLocked(ip, entry)
		}
	}
}

// sliceEndpoints returns the endpoints of the slice k, nil when it is not
// held.
func (ix *Index) sliceEndpoints(k objectKey) []Endpoint {
	if s, ok := ix.slices[k]; ok {
		return s.Endpoints
	}
	return nil
}

// addEndpointIPLocked records that an endpoint of the service of entry has
// ip.
func (ix *Index) addEndpointIPLocked(ip netip.Addr, entry *serviceEndpoints) {
	svc := entry.key
	if list, ok := ix.sharedEndpointIP[ip]; ok {
		ix.sharedEndpointIP[ip] = insertKey(list, svc)
		return
	}
	other, ok := ix.endpointIP[ip.As16()]
	switch {
	case !ok:
		ix.endpointIP[ip.As16()] = entry
	case other.key != svc:
		delete(ix.endpointIP, ip.As16())
		ix.sharedEndpointIP[ip] = insertKey([]objectKey{other.key}, svc)
	}
}

// removeEndpointIPLocked records that no endpoint of svc has ip any more.
func (ix *Index) removeEndpointIPLocked(ip netip.Addr, svc objectKey) {
	list, ok := ix.sharedEndpointIP[ip]
	if !ok {
		if other, ok := ix.endpointIP[ip.As16()]; ok && other.key == svc {
			delete(ix.endpointIP, ip.As16())
		}
		return
	}
	list = removeKey(list, svc)
	if len(list) > 1 {
		ix.sharedEndpointIP[ip] = list
		return
	}
	delete(ix.sharedEndpointIP, ip)
	if len(list) == 1 {
		// The other service still has the address among its endpoints,
		// so it has an entry.
		ix.endpointIP[ip.As16()] = ix.endpoints[list[0]]
	}
}

func (ix *Index) setPodLocked(p Pod, keys keySet) {
	k := keyOf(p.Namespace, p.Name)
	ips := unmapAll(p.IPs)
	if len(ips) == 0 {
		ix.deletePodLocked(k, keys)
		return
	}
	old, had := ix.pods[k]
	if had && slices.Equal(old, ips) {
		return
	}
	ix.pods[k] = ips
	if had {
		ix.digest.toggle(podHash(k, old))
	}
	ix.digest.toggle(podHash(k, ips))
	for _, ip := range old {
		if !slices.Contains(ips, ip) {
			ix.podIPGoneLocked(k.namespace, ip, keys)
		}
	}
	for _, ip := range ips {
		if !slices.Contains(old, ip) {
			ix.podIPAddedLocked(k.namespace, ip, keys)
		}
	}
	ix.notePodIPsLocked(k, old, ips)
	ix.notePodNodeLocked(k, p.NodeName, old, ips, keys)
}

func (ix *Index) deletePodLocked(k objectKey, keys keySet) {
	old, had := ix.pods[k]
	if !had {
		return
	}
	delete(ix.pods, k)
	ix.digest.toggle(podHash(k, old))
	for _, ip := range old {
		ix.podIPGoneLocked(k.namespace, ip, keys)
	}
	ix.notePodIPsLocked(k, old, nil)
	ix.notePodNodeLocked(k, "", old, nil, keys)
}

func (ix *Index) podIPAddedLocked(namespace string, ip netip.Addr, keys keySet) {
	counts := ix.podsByIP[ip]
	if counts == nil {
		counts = make(map[string]int)
		ix.podsByIP[ip] = counts
	}
	counts[namespace]++
	if counts[namespace] == 1 {
		keys.add(PodKey(ip))
	}
}

func (ix *Index) podIPGoneLocked(namespace string, ip netip.Addr, keys keySet) {
	counts := ix.podsByIP[ip]
	counts[namespace]--
	if counts[namespace] > 0 {
		return
	}
	delete(counts, namespace)
	if len(counts) == 0 {
		delete(ix.podsByIP, ip)
	}
	keys.add(PodKey(ip))
}

// mergeOne is mergeEndpoints of a single slice's endpoints. A slice whose
// endpoints all have addresses, in order and each address once (the common
// case) is its own merge: it is returned as is, without allocating, so the
// Index shares the slice's list instead of keeping a second copy (and the
// sync leaves no garbage list per service behind).
func mergeOne(eps []Endpoint) []Endpoint {
	if len(eps) == 0 {
		return nil
	}
	for i, ep := range eps {
		if len(ep.Addresses) != 1 || (i > 0 && eps[i-1].Addresses[0].Compare(ep.Addresses[0]) >= 0) {
			return mergeEndpoints([][]Endpoint{eps})
		}
	}
	return eps
}

// mergeEndpoints joins the endpoints of a service's slices (given sorted by
// slice name): sorted by first address then hostname, each address kept
// once. When an address appears more than once, a ready occurrence wins over
// a not-ready one, then the earliest in that order.
func mergeEndpoints(parts [][]Endpoint) []Endpoint {
	var all []Endpoint
	readyAnywhere := make(map[netip.Addr]bool)
	for _, eps := range parts {
		for _, ep := range eps {
			if len(ep.Addresses) == 0 {
				continue
			}
			all = append(all, ep)
			if ep.Ready {
				for _, a := range ep.Addresses {
					readyAnywhere[a] = true
				}
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b Endpoint) int {
		if c := a.Addresses[0].Compare(b.Addresses[0]); c != 0 {
			return c
		}
		return strings.Compare(a.Hostname, b.Hostname)
	})
	seen := make(map[netip.Addr]bool, len(all))
	out := make([]Endpoint, 0, len(all))
	for _, ep := range all {
		keep := ep.Addresses[:0:0]
		for _, a := range ep.Addresses {
			if seen[a] || (!ep.Ready && readyAnywhere[a]) {
				continue
			}
			keep = append(keep, a)
		}
		if len(keep) == 0 {
			continue
		}
		for _, a := range keep {
			seen[a] = true
		}
		if len(keep) == len(ep.Addresses) {
			keep = ep.Addresses
		}
		ep.Addresses = keep
		out = append(out, ep)
	}
	// A service with one slice whose endpoints were already in order and
	// unique (the common case) shares the slice's list instead of keeping
	// a second copy of every endpoint.
	if len(parts) == 1 && slices.EqualFunc(out, parts[0], endpointEqual) {
		return parts[0]
	}
	return out
}

func endpointsByAddress(eps []Endpoint) map[netip.Addr]Endpoint {
	m := make(map[netip.Addr]Endpoint, len(eps))
	for _, ep := range eps {
		for _, a := range ep.Addresses {
			m[a] = ep
		}
	}
	return m
}

func addEndpointAddressKeys(eps []Endpoint, keys keySet) {
	for _, ep := range eps {
		for _, a := range ep.Addresses {
			keys.add(AddressKey(a))
		}
	}
}

func serviceEqual(a, b Service) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.Type == b.Type && a.Headless == b.Headless &&
		a.ExternalName == b.ExternalName && slices.Equal(a.ClusterIPs, b.ClusterIPs) &&
		slices.Equal(a.Ports, b.Ports) && a.TrafficDistribution == b.TrafficDistribution
}

func endpointEqual(a, b Endpoint) bool {
	return a.Hostname == b.Hostname && a.Ready == b.Ready && a.Serving == b.Serving &&
		a.Terminating == b.Terminating && a.sameDetail(b) &&
		slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.Ports, b.Ports)
}

func sliceEqual(a, b EndpointSlice) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.Service == b.Service &&
		slices.EqualFunc(a.Endpoints, b.Endpoints, endpointEqual)
}

// unmapAll returns ips with IPv4-mapped IPv6 addresses turned into IPv4,
// copying only when something changes.
func unmapAll(ips []netip.Addr) []netip.Addr {
	if !slices.ContainsFunc(ips, netip.Addr.Is4In6) {
		return ips
	}
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		out[i] = ip.Unmap()
	}
	return out
}

// unmapEndpoints is unmapAll over the addresses of eps, copying only when
// something changes (eps may be shared with an informer's store).
func unmapEndpoints(eps []Endpoint) []Endpoint {
	if !slices.ContainsFunc(eps, func(ep Endpoint) bool { return slices.ContainsFunc(ep.Addresses, netip.Addr.Is4In6) }) {
		return eps
	}
	out := slices.Clone(eps)
	for i := range out {
		out[i].Addresses = unmapAll(out[i].Addresses)
	}
	return out
}

// The lists below are copied on write: readers get them under the read lock
// and keep using them after it is released.

func insertKey(list []objectKey, k objectKey) []objectKey {
	i, found := slices.BinarySearchFunc(list, k, objectKey.less)
	if found {
		return list
	}
	out := make([]objectKey, 0, len(list)+1)
	out = append(out, list[:i]...)
	out = append(out, k)
	return append(out, list[i:]...)
}

func removeKey(list []objectKey, k objectKey) []objectKey {
	var out []objectKey
	for _, e := range list {
		if e != k {
			out = append(out, e)
		}
	}
	return out
}
