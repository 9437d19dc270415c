package kubeindex

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/netip"
)

// Digest is an order-independent digest of the Index's objects, as DNS and
// the discovery API see them:
// the XOR of a 128-bit hash of each object (its kind, key and slim content).
// Two Indexes holding the same objects have the same Digest whatever order
// they learnt them in, which is what lets a Watch resume at another replica
// (see Index.SubscribeFrom). XOR makes every update O(size of the object).
type Digest [16]byte

// String is the digest in hex, for logs.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the digest of an empty Index.
func (d Digest) IsZero() bool { return d == Digest{} }

// ParseDigest reads a digest sent back by a client; ok is false when b is
// not one.
func ParseDigest(b []byte) (Digest, bool) {
	var d Digest
	if len(b) != len(d) {
		return d, false
	}
	copy(d[:], b)
	return d, true
}

func (d *Digest) toggle(o Digest) {
	for i := range d {
		d[i] ^= o[i]
	}
}

// Object kinds in the hashed encoding.
const (
	kindNamespace byte = iota + 1
	kindService
	kindSlice
	kindPod
)

// objectHasher encodes one object unambiguously (every variable-length
// field is length-prefixed) into SHA-256, of which the first 128 bits are
// the object's hash. Replicas of different builds must agree on it: a change
// of the encoding (such as the discovery API's fields joining it) costs
// resuming watchers one resync during the rolling update that brings it.
type objectHasher struct {
	h   hash.Hash
	buf []byte
}

func newObjectHasher(kind byte, namespace, name string) *objectHasher {
	o := &objectHasher{h: sha256.New(), buf: make([]byte, 0, 512)}
	o.buf = append(o.buf, kind)
	o.str(namespace)
	o.str(name)
	return o
}

func (o *objectHasher) flushIfFull() {
	if len(o.buf) >= 4096 {
		o.h.Write(o.buf)
		o.buf = o.buf[:0]
	}
}

func (o *objectHasher) uint(v uint64) {
	o.buf = binary.AppendUvarint(o.buf, v)
	o.flushIfFull()
}

func (o *objectHasher) str(s string) {
	o.buf = binary.AppendUvarint(o.buf, uint64(len(s)))
	o.buf = append(o.buf, s...)
	o.flushIfFull()
}

func (o *objectHasher) bool(b bool) {
	if b {
		o.uint(1)
	} else {
		o.uint(0)
	}
}

func (o *objectHasher) addrs(ips []netip.Addr) {
	o.uint(uint64(len(ips)))
	for _, ip := range ips {
		b, _ := ip.MarshalBinary() // never fails
		o.buf = binary.AppendUvarint(o.buf, uint64(len(b)))
		o.buf = append(o.buf, b...)
	}
	o.flushIfFull()
}

func (o *objectHasher) ports(ps []Port) {
	o.uint(uint64(len(ps)))
	for _, p := range ps {
		o.str(p.Name)
		o.str(p.Protocol)
		o.uint(uint64(uint32(p.Port)))
		o.str(p.AppProtocol)
	}
}

func (o *objectHasher) sum() Digest {
	o.h.Write(o.buf)
	var d Digest
	copy(d[:], o.h.Sum(nil))
	return d
}

func namespaceHash(name string) Digest {
	return newObjectHasher(kindNamespace, "", name).sum()
}

func serviceHash(k objectKey, s Service) Digest {
	o := newObjectHasher(kindService, k.namespace, k.name)
	o.str(s.Namespace)
	o.str(s.Name)
	o.str(s.Type)
	o.bool(s.Headless)
	o.addrs(s.ClusterIPs)
	o.str(s.ExternalName)
	o.ports(s.Ports)
	o.str(s.TrafficDistribution)
	return o.sum()
}

func sliceHash(k objectKey, s EndpointSlice) Digest {
	o := newObjectHasher(kindSlice, k.namespace, k.name)
	o.str(s.Namespace)
	o.str(s.Name)
	o.str(s.Service)
	o.uint(uint64(len(s.Endpoints)))
	for _, ep := range s.Endpoints {
		o.addrs(ep.Addresses)
		o.str(ep.Hostname)
		o.bool(ep.Ready)
		o.bool(ep.Serving)
		o.bool(ep.Terminating)
		d := ep.Detail()
		o.str(d.NodeName)
		o.str(d.Zone)
		o.uint(uint64(len(d.ForZones)))
		for _, z := range d.ForZones {
			o.str(z)
		}
		o.str(d.TargetRef.Kind)
		o.str(d.TargetRef.Namespace)
		o.str(d.TargetRef.Name)
		o.ports(ep.Ports)
	}
	return o.sum()
}

func podHash(k objectKey, ips []netip.Addr) Digest {
	o := newObjectHasher(kindPod, k.namespace, k.name)
	o.addrs(ips)
	return o.sum()
}
