package kubeindex

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
)

// Multi-cluster services (KEP-1645, the MCS API): a ServiceImport
// (multicluster.x-k8s.io) names a Service exported by clusters of the
// clusterset, of type ClusterSetIP (spec.ips) or Headless; the endpoints
// of a headless import are EndpointSlices labelled
// multicluster.kubernetes.io/service-name with the import's name and
// multicluster.kubernetes.io/source-cluster with the cluster they come
// from. The Index keeps them apart from Services: they answer the
// clusterset zone (dnsschema clusterset.go).

// Labels of imported EndpointSlices.
const (
	multiClusterServiceLabel = "multicluster.kubernetes.io/service-name"
	sourceClusterLabel       = "multicluster.kubernetes.io/source-cluster"
)

// ServiceImport is the slim view of a ServiceImport.
type ServiceImport struct {
	Namespace string
	Name      string
	// Headless is spec.type Headless; otherwise the type is ClusterSetIP
	// and IPs are spec.ips.
	Headless bool
	IPs      []netip.Addr
	// Ports are spec.ports.
	Ports []Port
}

// ImportEndpoint is an endpoint of a headless ServiceImport, with the
// cluster it comes from.
type ImportEndpoint struct {
	Endpoint
	ClusterID string
}

// ImportRef is what a reverse lookup in the clusterset finds: an import
// with ip among its clusterset IPs (Endpoint nil) or an endpoint of it.
type ImportRef struct {
	Import   ServiceImport
	Endpoint *ImportEndpoint
}

// ImportKey covers a ServiceImport and its imported endpoints. It extends
// the ServiceKey form ("svc/<ns>/<name>/clusterset"), so that what reads a
// key's namespace (authorization, visibility, Watch key filtering) reads it
// here too, without ever matching a Service's own key: a Service name has
// no slash.
func ImportKey(namespace, name string) string {
	return ServiceKey(namespace, name) + "/clusterset"
}

// importState is the Index's part for the clusterset; guarded by ix.mu.
type importState struct {
	imports map[objectKey]ServiceImport
	// slices holds the imported slices by their own key; byImport the
	// slice keys of each import.
	slices   map[objectKey]EndpointSlice
	byImport map[objectKey][]objectKey
	// byIP lists the imports that have an address, as a clusterset IP or
	// as an endpoint of an imported slice.
	byIP map[netip.Addr][]objectKey
}

func (st *importState) init() {
	if st.imports == nil {
		st.imports = make(map[objectKey]ServiceImport)
		st.slices = make(map[objectKey]EndpointSlice)
		st.byImport = make(map[objectKey][]objectKey)
		st.byIP = make(map[netip.Addr][]objectKey)
	}
}

// SetServiceImport adds or updates a ServiceImport.
func (ix *Index) SetServiceImport(si ServiceImport) {
	ix.write(func(keys keySet) {
		ix.mcs.init()
		k := keyOf(si.Namespace, si.Name)
		si.IPs = unmapAll(si.IPs)
		old, had := ix.mcs.imports[k]
		if had && importEqual(old, si) {
			return
		}
		ix.removeImportLocked(k, keys)
		ix.mcs.imports[k] = si
		ix.digest.toggle(importHash(si))
		ix.addressesOfImportLocked(k, keys, true)
	})
}

// DeleteServiceImport removes a ServiceImport.
func (ix *Index) DeleteServiceImport(namespace, name string) {
	ix.write(func(keys keySet) {
		ix.mcs.init()
		ix.removeImportLocked(keyOf(namespace, name), keys)
	})
}

func (ix *Index) removeImportLocked(k objectKey, keys keySet) {
	old, had := ix.mcs.imports[k]
	if !had {
		return
	}
	ix.addressesOfImportLocked(k, keys, false)
	delete(ix.mcs.imports, k)
	ix.digest.toggle(importHash(old))
}

// addressesOfImportLocked adds (or removes) import k in byIP for its
// clusterset IPs and its endpoints' addresses, announcing each address and
// the import.
func (ix *Index) addressesOfImportLocked(k objectKey, keys keySet, add bool) {
	keys.add(ImportKey(k.namespace, k.name))
	var ips []netip.Addr
	ips = append(ips, ix.mcs.imports[k].IPs...)
	for _, sk := range ix.mcs.byImport[k] {
		for _, ep := range ix.mcs.slices[sk].Endpoints {
			ips = append(ips, ep.Addresses...)
		}
	}
	for _, ip := range ips {
		keys.add(AddressKey(ip))
		if add {
			ix.mcs.byIP[ip] = insertKey(ix.mcs.byIP[ip], k)
		} else if list := removeKey(ix.mcs.byIP[ip], k); len(list) == 0 {
			delete(ix.mcs.byIP, ip)
		} else {
			ix.mcs.byIP[ip] = list
		}
	}
}

// setImportSliceLocked records s as an imported slice when it carries the
// multi-cluster service label, and forgets it otherwise.
func (ix *Index) setImportSliceLocked(k objectKey, s EndpointSlice, keys keySet) {
	ix.mcs.init()
	if s.MultiClusterService == "" {
		ix.deleteImportSliceLocked(k, keys)
		return
	}
	s.Endpoints = unmapEndpoints(s.Endpoints)
	if old, had := ix.mcs.slices[k]; had && old.MultiClusterService == s.MultiClusterService &&
		old.ClusterID == s.ClusterID && slices.EqualFunc(old.Endpoints, s.Endpoints, endpointEqual) {
		return
	}
	ix.deleteImportSliceLocked(k, keys)
	imp := keyOf(s.Namespace, s.MultiClusterService)
	ix.addressesOfImportLocked(imp, keys, false)
	ix.mcs.slices[k] = s
	ix.mcs.byImport[imp] = insertKey(ix.mcs.byImport[imp], k)
	ix.digest.toggle(importSliceHash(k, s))
	ix.addressesOfImportLocked(imp, keys, true)
}

func (ix *Index) deleteImportSliceLocked(k objectKey, keys keySet) {
	ix.mcs.init()
	old, had := ix.mcs.slices[k]
	if !had {
		return
	}
	imp := keyOf(old.Namespace, old.MultiClusterService)
	ix.addressesOfImportLocked(imp, keys, false)
	delete(ix.mcs.slices, k)
	if list := removeKey(ix.mcs.byImport[imp], k); len(list) == 0 {
		delete(ix.mcs.byImport, imp)
	} else {
		ix.mcs.byImport[imp] = list
	}
	ix.digest.toggle(importSliceHash(k, old))
	ix.addressesOfImportLocked(imp, keys, true)
}

// ServiceImport returns the ServiceImport namespace/name.
func (ix *Index) ServiceImport(namespace, name string) (ServiceImport, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	si, ok := ix.mcs.imports[keyOf(namespace, name)]
	return si, ok
}

// ImportEndpoints returns the endpoints of the imported slices of
// namespace/name, ready or not, sorted by cluster and address.
func (ix *Index) ImportEndpoints(namespace, name string) []ImportEndpoint {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.importEndpointsLocked(keyOf(namespace, name))
}

func (ix *Index) importEndpointsLocked(k objectKey) []ImportEndpoint {
	var out []ImportEndpoint
	for _, sk := range ix.mcs.byImport[k] {
		s := ix.mcs.slices[sk]
		for _, ep := range s.Endpoints {
			out = append(out, ImportEndpoint{Endpoint: ep, ClusterID: s.ClusterID})
		}
	}
	slices.SortStableFunc(out, func(a, b ImportEndpoint) int {
		if c := strings.Compare(a.ClusterID, b.ClusterID); c != 0 {
			return c
		}
		return a.Addresses[0].Compare(b.Addresses[0])
	})
	return out
}

// ImportsByIP returns what has ip in the clusterset: the imports with it
// among their clusterset IPs and the imported endpoints with it, sorted by
// namespace and name.
func (ix *Index) ImportsByIP(ip netip.Addr) []ImportRef {
	ip = ip.Unmap()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []ImportRef
	for _, k := range ix.mcs.byIP[ip] {
		si, ok := ix.mcs.imports[k]
		if !ok {
			continue
		}
		if slices.Contains(si.IPs, ip) {
			out = append(out, ImportRef{Import: si})
		}
		for _, ep := range ix.importEndpointsLocked(k) {
			if slices.Contains(ep.Addresses, ip) {
				out = append(out, ImportRef{Import: si, Endpoint: &ep})
			}
		}
	}
	return out
}

func importEqual(a, b ServiceImport) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.Headless == b.Headless &&
		slices.Equal(a.IPs, b.IPs) && slices.Equal(a.Ports, b.Ports)
}

// importHash and importSliceHash are the Digest parts of the clusterset
// objects: replicas that hold the same objects agree on them.
func importHash(si ServiceImport) Digest {
	h := sha256.New()
	h.Write([]byte("serviceimport\x00" + strings.ToLower(si.Namespace) + "\x00" + strings.ToLower(si.Name) + "\x00"))
	if si.Headless {
		h.Write([]byte{1})
	}
	for _, ip := range si.IPs {
		h.Write([]byte(ip.String() + "\x00"))
	}
	for _, p := range si.Ports {
		h.Write([]byte(p.Name + "\x00" + p.Protocol + "\x00" + p.AppProtocol + "\x00"))
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(p.Port)))
	}
	var d Digest
	copy(d[:], h.Sum(nil))
	return d
}

func importSliceHash(k objectKey, s EndpointSlice) Digest {
	d := sliceHash(k, s)
	sum := sha256.Sum256(append(d[:], []byte("\x00import\x00"+s.MultiClusterService+"\x00"+s.ClusterID)...))
	copy(d[:], sum[:])
	return d
}
