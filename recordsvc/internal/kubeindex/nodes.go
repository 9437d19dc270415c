package kubeindex

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
)

// Client zones for zone-aware answers (dnsschema zone.go): a client's zone
// is the topology.kubernetes.io/zone label of the node of the running pod
// that has the client's address. The Index keeps, for that, the node of
// each running pod (from the Pod informer of `pods verified`) and the zone
// of each node (from a metadata-only Node informer, AddNodes).

// NodeKey covers the zone of one node; zone-aware answers computed for a
// client on that node depend on it.
func NodeKey(node string) string { return "node/" + node }

// podNode is one running pod holding an address, with its node.
type podNode struct {
	pod  objectKey
	node string
}

// zoneState is the Index's part for client zones; guarded by ix.mu.
type zoneState struct {
	// nodeZones holds the zone label of each node that has one.
	nodeZones map[string]string
	// ipNodes lists, for each running pod address, its pods and nodes.
	ipNodes map[netip.Addr][]podNode
}

// notePodNodeLocked keeps ipNodes (Config.ClientZones) when the pod k on
// node moves from the addresses old to ips, and announces the pod key of
// every address whose set of nodes changed. ix.mu must be held for writing.
func (ix *Index) notePodNodeLocked(k objectKey, node string, old, ips []netip.Addr, keys keySet) {
	if !ix.cfg.ClientZones {
		return
	}
	if ix.zones.ipNodes == nil {
		ix.zones.ipNodes = make(map[netip.Addr][]podNode)
	}
	for _, ip := range old {
		if slices.Contains(ips, ip) {
			continue
		}
		before := ix.zones.ipNodes[ip]
		list := slices.DeleteFunc(slices.Clone(before), func(p podNode) bool { return p.pod == k })
		if len(list) == 0 {
			delete(ix.zones.ipNodes, ip)
		} else {
			ix.zones.ipNodes[ip] = list
		}
		announceNodesChange(ip, before, list, keys)
	}
	for _, ip := range ips {
		if slices.Contains(old, ip) {
			continue
		}
		before := ix.zones.ipNodes[ip]
		list := append(slices.Clone(before), podNode{pod: k, node: node})
		ix.zones.ipNodes[ip] = list
		announceNodesChange(ip, before, list, keys)
	}
}

// announceNodesChange announces ip's pod key when the nodes of its pods
// differ between before and after: a second pod with the address on the
// same node changes no client's zone.
func announceNodesChange(ip netip.Addr, before, after []podNode, keys keySet) {
	nodes := func(list []podNode) []string {
		out := make([]string, 0, len(list))
		for _, p := range list {
			out = append(out, p.node)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if !slices.Equal(nodes(before), nodes(after)) {
		keys.add(PodKey(ip))
	}
}

// ClientZone returns the zone of the client with address ip: the zone of
// the node of the running pods that have ip, when they all run on one node
// and that node has a zone label. node names that node (empty when the pods
// are unknown or on several nodes). Answers computed from it depend on
// PodKey(ip) and, when node is set, NodeKey(node).
func (ix *Index) ClientZone(ip netip.Addr) (zone, node string) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, p := range ix.zones.ipNodes[ip.Unmap()] {
		switch {
		case p.node == "":
			return "", ""
		case node == "":
			node = p.node
		case node != p.node:
			return "", ""
		}
	}
	if node == "" {
		return "", ""
	}
	return ix.zones.nodeZones[node], node
}

// SetNode records the zone label of a node (empty: none).
func (ix *Index) SetNode(name, zone string) {
	ix.write(func(k keySet) { ix.setNodeZoneLocked(name, zone, k) })
}

// DeleteNode records that a node is gone.
func (ix *Index) DeleteNode(name string) {
	ix.write(func(k keySet) { ix.setNodeZoneLocked(name, "", k) })
}

func (ix *Index) setNodeZoneLocked(name, zone string, keys keySet) {
	old := ix.zones.nodeZones[name]
	if old == zone {
		return
	}
	if ix.zones.nodeZones == nil {
		ix.zones.nodeZones = make(map[string]string)
	}
	if old != "" {
		ix.digest.toggle(nodeHash(name, old))
	}
	if zone == "" {
		delete(ix.zones.nodeZones, name)
	} else {
		ix.zones.nodeZones[name] = intern(zone)
		ix.digest.toggle(nodeHash(name, zone))
	}
	keys.add(NodeKey(name))
}

// nodeHash is a node zone's part of the Digest: two replicas that see the
// same node labels agree on it.
func nodeHash(name, zone string) Digest {
	sum := sha256.Sum256([]byte("node\x00" + name + "\x00" + zone))
	var d Digest
	copy(d[:], sum[:])
	return d
}

// nodeObject is what the Node informer stores: the name and the zone label.
type nodeObject struct {
	metav1.ObjectMeta
	Zone string
}

func (o *nodeObject) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (o *nodeObject) DeepCopyObject() runtime.Object {
	return &nodeObject{ObjectMeta: *o.ObjectMeta.DeepCopy(), Zone: o.Zone}
}

// transformNode keeps a node's name, resourceVersion and zone label.
func transformNode(obj any) (any, error) {
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		return &nodeObject{ObjectMeta: slimMeta(o.ObjectMeta), Zone: o.Labels[corev1.LabelTopologyZone]}, nil
	case *nodeObject:
		return o, nil
	default:
		return nil, fmt.Errorf("node transform: unexpected %T", obj)
	}
}

// nodesResource is the core/v1 nodes resource.
var nodesResource = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// AddNodes adds a Node informer that lists and watches node metadata only
// (PartialObjectMetadata: no spec or status, so neither the image list nor
// the conditions cross the wire) and keeps each node's zone label. Call it
// before Run.
func (in *Informers) AddNodes(client metadata.Interface) error {
	nodes := client.Resource(nodesResource)
	return in.addInformer("Node", &metav1.PartialObjectMetadata{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return nodes.List(ctx, o) },
		nodes.Watch, transformNode,
		func(obj any) {
			if o, ok := obj.(*nodeObject); ok {
				in.ix.SetNode(o.Name, o.Zone)
				return
			}
			in.unexpected("Node", obj)
		},
		func(_, name string) { in.ix.DeleteNode(name) })
}
