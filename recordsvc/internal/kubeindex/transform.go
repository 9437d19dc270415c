package kubeindex

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unique"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The informers store slim objects instead of the API objects: the
// transforms below run before an object enters an informer's store and keep
// only what DNS answers need plus the metadata the informer machinery reads
// (name, namespace for the store key; resourceVersion, which tells a relist
// update that changed nothing from one that did). Everything else - managed
// fields, annotations, labels, status, the rest of the spec - is dropped, so
// memory follows what DNS can see rather than the size of the API objects.
// The one exception is an EndpointSlice's
// endpoints.kubernetes.io/last-change-trigger-time annotation, kept (alone)
// to date the change for the DNS programming latency.
//
// The transforms are idempotent: an object that is already slim passes
// through unchanged, as client-go requires when it hands stored objects back
// to a transform.

// serviceLabel joins an EndpointSlice to its Service.
const serviceLabel = discoveryv1.LabelServiceName

// triggerTimeAnnotation is set by the endpoint controllers on an
// EndpointSlice to the time (RFC 3339) of the last change - a pod or service
// update - that the slice's current content reflects.
const triggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"

// slimMeta keeps the object metadata the informer machinery needs, for the
// informers whose objects are few (Nodes, ServiceImports); the others keep
// an objectMeta.
func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion}
}

// serviceObject is what the Service informer stores.
type serviceObject struct {
	objectMeta
	Service Service
}

// sliceObject is what the EndpointSlice informer stores.
type sliceObject struct {
	objectMeta
	Slice EndpointSlice
}

// namespaceObject is what the Namespace informer stores: DNS only needs to
// know a namespace exists.
type namespaceObject struct {
	objectMeta
}

// podObject is what the Pod informer stores.
type podObject struct {
	objectMeta
	Pod Pod
}

// The slim objects are runtime.Objects so that client-go code that expects
// one (such as its optional cache mutation detector) keeps working. Their
// content is never mutated after the transform, so copies share it.

func (o *serviceObject) GetObjectKind() schema.ObjectKind   { return schema.EmptyObjectKind }
func (o *sliceObject) GetObjectKind() schema.ObjectKind     { return schema.EmptyObjectKind }
func (o *namespaceObject) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }
func (o *podObject) GetObjectKind() schema.ObjectKind       { return schema.EmptyObjectKind }

func (o *serviceObject) DeepCopyObject() runtime.Object {
	return &serviceObject{objectMeta: o.objectMeta, Service: o.Service}
}

func (o *sliceObject) DeepCopyObject() runtime.Object {
	return &sliceObject{objectMeta: o.objectMeta, Slice: o.Slice}
}

func (o *namespaceObject) DeepCopyObject() runtime.Object {
	return &namespaceObject{objectMeta: o.objectMeta}
}

func (o *podObject) DeepCopyObject() runtime.Object {
	return &podObject{objectMeta: o.objectMeta, Pod: o.Pod}
}

// transformService is the Service informer's transform.
func transformService(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		svc := ServiceFromAPI(o)
		meta := slimObjectMeta(o.ObjectMeta)
		meta.Namespace = svc.Namespace // interned
		return &serviceObject{objectMeta: meta, Service: svc}, nil
	case *serviceObject:
		return o, nil
	default:
		return nil, fmt.Errorf("service transform: unexpected %T", obj)
	}
}

// transformEndpointSlice is the EndpointSlice informer's transform.
func transformEndpointSlice(obj any) (any, error) {
	switch o := obj.(type) {
	case *discoveryv1.EndpointSlice:
		slice := EndpointSliceFromAPI(o)
		meta := slimObjectMeta(o.ObjectMeta)
		meta.Namespace = slice.Namespace // interned
		meta.trigger = o.Annotations[triggerTimeAnnotation]
		return &sliceObject{objectMeta: meta, Slice: slice}, nil
	case *sliceObject:
		return o, nil
	default:
		return nil, fmt.Errorf("endpointslice transform: unexpected %T", obj)
	}
}

// transformNamespace is the Namespace informer's transform.
func transformNamespace(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return &namespaceObject{objectMeta: slimObjectMeta(o.ObjectMeta)}, nil
	case *namespaceObject:
		return o, nil
	default:
		return nil, fmt.Errorf("namespace transform: unexpected %T", obj)
	}
}

// transformPod is the Pod informer's transform.
func transformPod(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &podObject{objectMeta: slimObjectMeta(o.ObjectMeta), Pod: PodFromAPI(o)}, nil
	case *podObject:
		return o, nil
	default:
		return nil, fmt.Errorf("pod transform: unexpected %T", obj)
	}
}

// ServiceFromAPI converts a core/v1 Service into its slim form. Addresses the
// API server would not have accepted are skipped.
//
// Strings that many objects repeat (namespace, type, port names and
// protocols) are interned, so that each is stored once instead of once per
// decoded object.
func ServiceFromAPI(s *corev1.Service) Service {
	out := Service{Namespace: intern(s.Namespace), Name: s.Name, Type: intern(string(s.Spec.Type)),
		TrafficDistribution: intern(deref(s.Spec.TrafficDistribution))}
	if out.Type == "" {
		out.Type = string(corev1.ServiceTypeClusterIP)
	}
	switch {
	case s.Spec.Type == corev1.ServiceTypeExternalName:
		out.ExternalName = s.Spec.ExternalName
	case s.Spec.ClusterIP == corev1.ClusterIPNone:
		out.Headless = true
	default:
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		if len(ips) > 0 {
			out.ClusterIPs = make([]netip.Addr, 0, len(ips))
		}
		for _, text := range ips {
			if ip, ok := parseIP(text); ok && !slices.Contains(out.ClusterIPs, ip) {
				out.ClusterIPs = append(out.ClusterIPs, ip)
			}
		}
	}
	if len(s.Spec.Ports) > 0 {
		out.Ports = make([]Port, 0, len(s.Spec.Ports))
	}
	for _, p := range s.Spec.Ports {
		out.Ports = append(out.Ports, Port{Name: intern(p.Name), Protocol: protocol(p.Protocol), Port: p.Port,
			AppProtocol: intern(deref(p.AppProtocol))})
	}
	return out
}

// EndpointSliceFromAPI converts a discovery/v1 EndpointSlice into its slim
// form. Endpoints of FQDN slices, unparsable addresses and ports without a
// number are skipped. All endpoints share one Ports slice, one array of
// addresses and one string holding their hostnames and target names: a
// slim slice is a handful of allocations instead of a few per endpoint,
// which at sync kept small objects scattered among the decoding garbage
// (the record service's peak memory).
func EndpointSliceFromAPI(s *discoveryv1.EndpointSlice) EndpointSlice {
	out := EndpointSlice{Namespace: intern(s.Namespace), Name: s.Name, Service: s.Labels[serviceLabel],
		MultiClusterService: s.Labels[multiClusterServiceLabel], ClusterID: s.Labels[sourceClusterLabel]}
	if s.AddressType == discoveryv1.AddressTypeFQDN {
		return out
	}
	var ports []Port
	if len(s.Ports) > 0 {
		ports = make([]Port, 0, len(s.Ports))
	}
	for _, p := range s.Ports {
		if p.Port == nil {
			continue
		}
		var name string
		if p.Name != nil {
			name = *p.Name
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		ports = append(ports, Port{Name: intern(name), Protocol: protocol(proto), Port: *p.Port, AppProtocol: intern(deref(p.AppProtocol))})
	}
	if len(s.Endpoints) == 0 {
		return out
	}
	out.Endpoints = make([]Endpoint, 0, len(s.Endpoints))
	naddrs, nbytes := 0, 0
	for _, e := range s.Endpoints {
		naddrs += len(e.Addresses)
		nbytes += len(deref(e.Hostname))
		if e.TargetRef != nil {
			nbytes += len(e.TargetRef.Name)
		}
	}
	addrs := make([]netip.Addr, 0, naddrs)
	// The names, in the order the loop below takes them.
	var b strings.Builder
	b.Grow(nbytes)
	for _, e := range s.Endpoints {
		b.WriteString(deref(e.Hostname))
		if e.TargetRef != nil {
			b.WriteString(e.TargetRef.Name)
		}
	}
	names := b.String()
	take := func(n int) string {
		v := names[:n]
		names = names[n:]
		return v
	}
	for _, e := range s.Endpoints {
		ep := Endpoint{
			Ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
			Terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
			Hostname:    take(len(deref(e.Hostname))),
			Ports:       ports,
		}
		d := EndpointDetail{NodeName: deref(e.NodeName), Zone: deref(e.Zone)}
		// The API documents a missing serving condition as ready's value.
		ep.Serving = ep.Ready
		if e.Conditions.Serving != nil {
			ep.Serving = *e.Conditions.Serving
		}
		if e.Hints != nil {
			for _, z := range e.Hints.ForZones {
				d.ForZones = append(d.ForZones, z.Name)
			}
		}
		if r := e.TargetRef; r != nil {
			d.TargetRef = TargetRef{Kind: r.Kind, Namespace: r.Namespace, Name: take(len(r.Name))}
		}
		ep = ep.WithDetail(d)
		start := len(addrs)
		for _, text := range e.Addresses {
			if ip, ok := parseIP(text); ok && !slices.Contains(addrs[start:], ip) {
				addrs = append(addrs, ip)
			}
		}
		if len(addrs) > start {
			// Capped, so that appending to one endpoint's addresses
			// copies them instead of overwriting the next endpoint's.
			ep.Addresses = addrs[start:len(addrs):len(addrs)]
			out.Endpoints = append(out.Endpoints, ep)
		}
	}
	return out
}

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// intern returns the canonical copy of a string that many endpoints repeat
// (node names, zones, kinds), so each is stored once however many endpoints
// carry it.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// triggerTime returns the time an EndpointSlice's
// endpoints.kubernetes.io/last-change-trigger-time annotation holds (text),
// or the zero time when it is missing or not RFC 3339.
func triggerTime(text string) time.Time {
	if text == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}
	}
	return t
}

// PodFromAPI converts a core/v1 Pod into its slim form: the IPs count only
// while the pod is Running.
func PodFromAPI(p *corev1.Pod) Pod {
	out := Pod{Namespace: p.Namespace, Name: p.Name, NodeName: intern(p.Spec.NodeName)}
	if p.Status.Phase != corev1.PodRunning {
		return out
	}
	ips := make([]string, 0, len(p.Status.PodIPs)+1)
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = append(ips, p.Status.PodIP)
	}
	for _, text := range ips {
		if ip, ok := parseIP(text); ok && !slices.Contains(out.IPs, ip) {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out
}

// parseIP parses an address as the API carries it, without zone, with
// IPv4-mapped IPv6 turned into IPv4.
func parseIP(text string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(text)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// protocol is the lower-case protocol name, TCP when unset.
func protocol(p corev1.Protocol) string {
	switch p {
	case "", corev1.ProtocolTCP:
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return strings.ToLower(string(p))
}
