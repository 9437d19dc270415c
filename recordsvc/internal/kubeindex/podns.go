package kubeindex

import (
	"crypto/sha256"
	"net/netip"
	"slices"
)

// PodRef names a pod.
type PodRef struct {
	Namespace string
	Name      string
}

// notePodIPsLocked keeps podNames (Config.PodNames) when the pod k moves
// from the IPs old to ips. ix.mu must be held for writing.
func (ix *Index) notePodIPsLocked(k objectKey, old, ips []netip.Addr) {
	if !ix.cfg.PodNames {
		return
	}
	if ix.podNames == nil {
		ix.podNames = make(map[netip.Addr][]objectKey)
	}
	for _, ip := range old {
		if slices.Contains(ips, ip) {
			continue
		}
		list := slices.DeleteFunc(ix.podNames[ip], func(o objectKey) bool { return o == k })
		if len(list) == 0 {
			delete(ix.podNames, ip)
		} else {
			ix.podNames[ip] = list
		}
	}
	for _, ip := range ips {
		if !slices.Contains(old, ip) {
			ix.podNames[ip] = insertKey(ix.podNames[ip], k)
		}
	}
}

// PodsByIP returns the running pods that have ip, sorted by namespace and
// name; nil unless the Index was made with Config.PodNames (and pods are
// watched).
func (ix *Index) PodsByIP(ip netip.Addr) []PodRef {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	keys := ix.podNames[ip.Unmap()]
	if len(keys) == 0 {
		return nil
	}
	out := make([]PodRef, len(keys))
	for i, k := range keys {
		out[i] = PodRef{Namespace: k.namespace, Name: k.name}
	}
	return out
}

// ExternalDigest is the Digest contribution of state that decides answers
// without being a cluster object (the visibility policy): its name and
// content.
func ExternalDigest(name string, content []byte) Digest {
	sum := sha256.Sum256(append([]byte("external\x00"+name+"\x00"), content...))
	var d Digest
	copy(d[:], sum[:])
	return d
}

// ReplaceExternalState swaps the external state hashed as old (zero: none
// yet) for the one hashed as new, and announces keys under a new revision.
// The state joins the Digest, so a watcher never resumes by digest at a
// replica that decides answers from other external state: it resyncs.
func (ix *Index) ReplaceExternalState(old, new Digest, keys ...string) {
	ix.write(func(k keySet) {
		ix.digest.toggle(old)
		ix.digest.toggle(new)
		for _, key := range keys {
			k.add(key)
		}
	})
}
