package dnsschema

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// IANA RR type numbers this package answers.
const (
	typeA     uint16 = 1
	typeNS    uint16 = 2
	typeCNAME uint16 = 5
	typeSOA   uint16 = 6
	typePTR   uint16 = 12
	typeTXT   uint16 = 16
	typeAAAA  uint16 = 28
	typeSRV   uint16 = 33
)

// maxChain bounds the CNAME chain built while chasing ExternalName targets
// inside the zone (CoreDNS stops at the same depth).
const maxChain = 8

// outcome is the answer to one name before the response is assembled.
type outcome struct {
	result     clusterdnsv1.Result
	answer     []*clusterdnsv1.ResourceRecord
	additional []*clusterdnsv1.ResourceRecord
}

func positive(answer, additional []*clusterdnsv1.ResourceRecord) outcome {
	return outcome{result: clusterdnsv1.Result_RESULT_SUCCESS, answer: answer, additional: additional}
}

func noData() outcome { return outcome{result: clusterdnsv1.Result_RESULT_NO_DATA} }

func nameError() outcome { return outcome{result: clusterdnsv1.Result_RESULT_NAME_ERROR} }

func notAuthoritative() outcome {
	return outcome{result: clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE}
}

// Answer answers one question from store. It never returns nil.
//
// The revision is read before any state, so an answer computed while a change
// lands carries the older revision and the change's invalidation wins. Keys
// lists every invalidation key the answer depends on, negative answers
// included. Names outside the cluster zone and the reverse zones, and reverse
// names this server has no PTR for, are RESULT_NOT_AUTHORITATIVE; every other
// name is RESULT_NOT_READY until store.Synced(). With Config.Autopath an
// NXDOMAIN may be completed from the client's search path (see autopath.go);
// the response then names the client's namespace in AutopathNamespace.
// Otherwise an NXDOMAIN for a missing Service may list the namespace's
// Services in AbsentBelow (directory.go).
func (s *Schema) Answer(store Store, req *clusterdnsv1.LookupRequest) *clusterdnsv1.LookupResponse {
	rev := store.Revision()
	resp := &clusterdnsv1.LookupResponse{Revision: rev}

	qname := req.GetName()
	name, err := s.parse(qname)
	var perr *ParseError
	if err != nil && (!errors.As(err, &perr) || perr.Kind != Malformed) {
		resp.Result = clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE
		return resp
	}
	if !store.Synced() {
		resp.Result = clusterdnsv1.Result_RESULT_NOT_READY
		return resp
	}

	serial := uint32(rev)
	if ss, ok := store.(SerialStore); ok {
		serial = ss.Serial()
	}
	l := &lookup{s: s, store: store, serial: serial, zv: zoneView{req: req}}
	qtype := qtypeOf(req.GetQtype())
	var out outcome
	if err != nil {
		out = nameError()
	} else {
		out = l.resolve(name, fqdn(qname), qtype)
	}
	if s.autopath && !name.Set && out.result == clusterdnsv1.Result_RESULT_NAME_ERROR {
		if completed, namespace, ok := l.autopath(qname, req.GetClientIp(), qtype); ok {
			out = completed
			resp.AutopathNamespace = namespace
		}
	}

	l.markZone(resp)
	if out.result == clusterdnsv1.Result_RESULT_NAME_ERROR && err == nil && resp.AutopathNamespace == "" && req.GetAcceptAbsentBelow() {
		resp.AbsentBelow = l.absentBelow(name)
	}
	resp.Result = out.result
	resp.Keys = l.keys
	switch out.result {
	case clusterdnsv1.Result_RESULT_SUCCESS:
		resp.Answer = out.answer
		resp.Additional = out.additional
		resp.Ttl = minTTL(out.answer, out.additional)
		fitMessage(resp, qname)
	case clusterdnsv1.Result_RESULT_NO_DATA, clusterdnsv1.Result_RESULT_NAME_ERROR:
		if name.Set {
			resp.Authority = []*clusterdnsv1.ResourceRecord{s.setSOA(s.set.zone, l.serial)}
		} else {
			resp.Authority = []*clusterdnsv1.ResourceRecord{s.negativeSOA(l.serial)}
		}
		resp.Ttl = s.negativeTTL()
	}
	return resp
}

// qtypeOf narrows the request's type; values beyond 16 bits are no RR type
// and answer like any type this package has no records of.
func qtypeOf(q uint32) uint16 {
	if q > 0xffff {
		return 0
	}
	return uint16(q)
}

// fqdn appends the root dot unless the name already ends with an unescaped
// one.
func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		backslashes := 0
		for i := len(name) - 2; i >= 0 && name[i] == '\\'; i-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return name
		}
	}
	return name + "."
}

func minTTL(sections ...[]*clusterdnsv1.ResourceRecord) uint32 {
	first := true
	var m uint32
	for _, sec := range sections {
		for _, rr := range sec {
			if first || rr.GetTtl() < m {
				m = rr.GetTtl()
				first = false
			}
		}
	}
	return m
}

// lookup carries the state of one Answer: the store, the keys read so far
// and the CNAME chain being chased.
type lookup struct {
	s      *Schema
	store  Store
	serial uint32
	keys   []string
	chain  []string
	// zv is the client's zone, for zone-aware answers (zone.go).
	zv zoneView
}

// depend records that the answer depends on key.
func (l *lookup) depend(key string) {
	if !slices.Contains(l.keys, key) {
		l.keys = append(l.keys, key)
	}
}

// resolve answers name for qtype with owner as the owner of the answer
// records (the query name, letter case preserved).
func (l *lookup) resolve(name Name, owner string, qtype uint16) outcome {
	s := l.s
	if name.Set {
		return l.resolveSet(name, owner, qtype)
	}
	switch name.Kind {
	case KindApex:
		return l.apex(owner, qtype)
	case KindDNSVersion:
		if qtype == typeTXT {
			return positive([]*clusterdnsv1.ResourceRecord{txtRecord(owner, s.ttl, SchemaVersion)}, nil)
		}
		return noData()
	case KindDNSParent, KindServiceRoot, KindPodRoot:
		return noData()
	case KindNameserver:
		if qtype != typeA && qtype != typeAAAA {
			return noData()
		}
		var answer []*clusterdnsv1.ResourceRecord
		for _, ip := range uniqueAddrs(l.nameserverIPs()) {
			if familyMatches(ip, qtype == typeA) {
				answer = append(answer, addressRecord(owner, s.ttl, ip))
			}
		}
		if len(answer) == 0 {
			return noData()
		}
		return positive(answer, nil)
	case KindServiceNamespace:
		l.depend(kubeindex.NamespaceKey(name.Namespace))
		if l.store.NamespaceExists(name.Namespace) {
			return noData()
		}
		return nameError()
	case KindPodNamespace:
		if s.pods == PodsDisabled {
			return nameError()
		}
		l.depend(kubeindex.NamespaceKey(name.Namespace))
		if l.store.NamespaceExists(name.Namespace) {
			return noData()
		}
		return nameError()
	case KindService:
		return l.service(name, owner, qtype)
	case KindEndpoint:
		return l.endpoint(name, owner, qtype)
	case KindPort:
		return l.port(name, owner, qtype)
	case KindPod:
		return l.pod(name, owner, qtype)
	case KindReverse:
		return l.reverse(name.IP, owner, qtype)
	default:
		return nameError()
	}
}

// apex answers the zone apex: SOA, and NS with glue for ns.dns.<zone>.
func (l *lookup) apex(owner string, qtype uint16) outcome {
	s := l.s
	switch qtype {
	case typeSOA:
		l.depend(kubeindex.ServiceKey(s.nsNS, s.nsName))
		return positive([]*clusterdnsv1.ResourceRecord{s.soa(owner, l.serial)}, nil)
	case typeNS:
		var glue []*clusterdnsv1.ResourceRecord
		for _, ip := range uniqueAddrs(l.nameserverIPs()) {
			glue = append(glue, addressRecord(s.nsHost, s.ttl, ip))
		}
		return positive([]*clusterdnsv1.ResourceRecord{nsRecord(owner, s.ttl, s.nsHost)}, glue)
	default:
		l.depend(kubeindex.ServiceKey(s.nsNS, s.nsName))
		return noData()
	}
}

// nameserverIPs returns the cluster IPs of the nameserver service.
func (l *lookup) nameserverIPs() []netip.Addr {
	l.depend(kubeindex.ServiceKey(l.s.nsNS, l.s.nsName))
	svc, ok := l.store.Service(l.s.nsNS, l.s.nsName)
	if !ok {
		return nil
	}
	return svc.ClusterIPs
}

// findService looks a service up, recording its key (and, when it is
// missing, the namespace key: the NXDOMAIN depends on both).
func (l *lookup) findService(namespace, name string) (kubeindex.Service, bool) {
	l.depend(kubeindex.ServiceKey(namespace, name))
	svc, ok := l.store.Service(namespace, name)
	if !ok {
		l.depend(kubeindex.NamespaceKey(namespace))
	}
	return svc, ok
}

// readyEndpoints returns the ready endpoints of a service.
func (l *lookup) readyEndpoints(namespace, service string) []kubeindex.Endpoint {
	all := l.store.Endpoints(namespace, service)
	ready := make([]kubeindex.Endpoint, 0, len(all))
	for _, ep := range all {
		if ep.Ready {
			ready = append(ready, ep)
		}
	}
	return ready
}

// serviceHost returns "<svc>.<ns>.svc.<zone>." in lower case.
func (l *lookup) serviceHost(svc kubeindex.Service) string {
	return asciiLower(svc.Name) + "." + asciiLower(svc.Namespace) + l.s.svcSuffix
}

// endpointLabel names one address of an endpoint: its hostname, else the
// dashed form of the address.
func endpointLabel(ep kubeindex.Endpoint, ip netip.Addr) string {
	if ep.Hostname != "" {
		return asciiLower(ep.Hostname)
	}
	return DashedIP(ip)
}

// service answers <svc>.<ns>.svc.<zone>.
func (l *lookup) service(name Name, owner string, qtype uint16) outcome {
	svc, ok := l.findService(name.Namespace, name.Service)
	if !ok {
		return nameError()
	}
	if svc.ExternalName != "" {
		return l.externalName(owner, svc, qtype)
	}
	ttl := l.s.ttl
	if svc.Headless {
		eps := l.byZone(svc, l.readyEndpoints(name.Namespace, name.Service))
		if len(eps) == 0 {
			return nameError()
		}
		switch qtype {
		case typeA, typeAAAA:
			var addrs []netip.Addr
			for _, ep := range eps {
				addrs = append(addrs, ep.Addresses...)
			}
			return addressAnswer(owner, ttl, uniqueAddrs(addrs), qtype == typeA)
		case typeSRV:
			b := newSRVBuilder(owner, ttl)
			for _, ep := range eps {
				for _, ip := range ep.Addresses {
					target := endpointLabel(ep, ip) + "." + l.serviceHost(svc)
					for _, p := range ep.Ports {
						b.add(target, p.Port, ip)
					}
				}
			}
			return b.outcome()
		default:
			return noData()
		}
	}
	switch qtype {
	case typeA, typeAAAA:
		return addressAnswer(owner, ttl, uniqueAddrs(svc.ClusterIPs), qtype == typeA)
	case typeSRV:
		b := newSRVBuilder(owner, ttl)
		target := l.serviceHost(svc)
		for _, p := range svc.Ports {
			b.add(target, p.Port, svc.ClusterIPs...)
		}
		return b.outcome()
	default:
		return noData()
	}
}

// endpoint answers <endpoint>.<svc>.<ns>.svc.<zone> for headless and
// ClusterIP services alike: the ready addresses named by that hostname or
// dashed IP.
func (l *lookup) endpoint(name Name, owner string, qtype uint16) outcome {
	svc, ok := l.findService(name.Namespace, name.Service)
	if !ok || svc.ExternalName != "" {
		return nameError()
	}
	type match struct {
		ep kubeindex.Endpoint
		ip netip.Addr
	}
	var matches []match
	for _, ep := range l.readyEndpoints(name.Namespace, name.Service) {
		for _, ip := range ep.Addresses {
			if endpointLabel(ep, ip) == name.Endpoint {
				matches = append(matches, match{ep, ip})
			}
		}
	}
	if len(matches) == 0 {
		return nameError()
	}
	ttl := l.s.ttl
	switch qtype {
	case typeA, typeAAAA:
		addrs := make([]netip.Addr, 0, len(matches))
		for _, m := range matches {
			addrs = append(addrs, m.ip)
		}
		return addressAnswer(owner, ttl, uniqueAddrs(addrs), qtype == typeA)
	case typeSRV:
		b := newSRVBuilder(owner, ttl)
		target := name.Endpoint + "." + l.serviceHost(svc)
		for _, m := range matches {
			for _, p := range m.ep.Ports {
				b.add(target, p.Port, m.ip)
			}
		}
		return b.outcome()
	default:
		return noData()
	}
}

// port answers _<port>._<proto>.<svc>.<ns>.svc.<zone>: SRV for the named
// port, from the service's ports for ClusterIP services and from the ready
// endpoints' ports (N endpoints x M ports) for headless ones.
func (l *lookup) port(name Name, owner string, qtype uint16) outcome {
	svc, ok := l.findService(name.Namespace, name.Service)
	if !ok || svc.ExternalName != "" {
		return nameError()
	}
	b := newSRVBuilder(owner, l.s.ttl)
	if svc.Headless {
		for _, ep := range l.readyEndpoints(name.Namespace, name.Service) {
			for _, p := range ep.Ports {
				if !portMatches(p, name) {
					continue
				}
				for _, ip := range ep.Addresses {
					b.add(endpointLabel(ep, ip)+"."+l.serviceHost(svc), p.Port, ip)
				}
			}
		}
	} else {
		for _, p := range svc.Ports {
			if portMatches(p, name) {
				b.add(l.serviceHost(svc), p.Port, svc.ClusterIPs...)
			}
		}
	}
	if b.empty() {
		return nameError()
	}
	if qtype != typeSRV {
		return noData()
	}
	return b.outcome()
}

// portMatches reports whether a named port matches the SRV labels.
func portMatches(p kubeindex.Port, name Name) bool {
	return p.Name != "" && asciiLower(p.Name) == name.Port && asciiLower(p.Protocol) == name.Protocol
}

// externalName answers an ExternalName service: a CNAME for A, AAAA and
// CNAME questions. For A and AAAA an in-zone target is chased here and its
// records follow the CNAME; an out-of-zone target is left to the caller.
// The chase stops, keeping the CNAMEs gathered so far, at a target with no
// records of the type, at a loop or after maxChain CNAMEs.
func (l *lookup) externalName(owner string, svc kubeindex.Service, qtype uint16) outcome {
	target, ok := externalTarget(svc.ExternalName)
	if !ok {
		return nameError()
	}
	cname := cnameRecord(owner, l.s.ttl, target)
	switch qtype {
	case typeCNAME:
		return positive([]*clusterdnsv1.ResourceRecord{cname}, nil)
	case typeA, typeAAAA:
	default:
		return noData()
	}
	out := positive([]*clusterdnsv1.ResourceRecord{cname}, nil)
	l.chain = append(l.chain, asciiLower(owner))
	if len(l.chain) >= maxChain || slices.Contains(l.chain, target) {
		return out
	}
	next, err := l.s.parse(target)
	if err != nil {
		return out
	}
	chased := l.resolve(next, target, qtype)
	if chased.result == clusterdnsv1.Result_RESULT_SUCCESS {
		out.answer = append(out.answer, chased.answer...)
		out.additional = append(out.additional, chased.additional...)
	}
	return out
}

// externalTarget returns the CNAME target of an ExternalName value, fully
// qualified and lower case; ok is false for an IP address or a value that is
// not a domain name.
func externalTarget(value string) (string, bool) {
	t := asciiLower(strings.TrimSuffix(value, "."))
	if t == "" {
		return "", false
	}
	if _, err := netip.ParseAddr(t); err == nil {
		return "", false
	}
	if _, valid := splitName(t); !valid {
		return "", false
	}
	return t + ".", true
}

// pod answers <dashed-ip>.<ns>.pod.<zone> under the configured PodMode.
func (l *lookup) pod(name Name, owner string, qtype uint16) outcome {
	if l.s.pods == PodsDisabled {
		return nameError()
	}
	l.depend(kubeindex.NamespaceKey(name.Namespace))
	if !l.store.NamespaceExists(name.Namespace) {
		return nameError()
	}
	if l.s.pods == PodsVerified {
		l.depend(kubeindex.PodKey(name.IP))
		found := false
		for _, ns := range l.store.PodNamespacesByIP(name.IP) {
			if asciiLower(ns) == name.Namespace {
				found = true
				break
			}
		}
		if !found {
			return nameError()
		}
	}
	if (qtype == typeA || qtype == typeAAAA) && familyMatches(name.IP, qtype == typeA) {
		return positive([]*clusterdnsv1.ResourceRecord{addressRecord(owner, l.s.ttl, name.IP)}, nil)
	}
	return noData()
}

// reverse answers PTR for a cluster IP (the service name) or, when no
// service has it, for ready endpoint addresses (one PTR per service and
// endpoint name). Anything else in the reverse zones is left to the upstream
// resolvers, as CoreDNS's `fallthrough in-addr.arpa ip6.arpa` does.
func (l *lookup) reverse(ip netip.Addr, owner string, qtype uint16) outcome {
	if qtype != typePTR {
		return notAuthoritative()
	}
	l.depend(kubeindex.AddressKey(ip))
	var targets []string
	for _, svc := range l.store.ServicesByClusterIP(ip) {
		l.depend(kubeindex.ServiceKey(svc.Namespace, svc.Name))
		targets = appendUnique(targets, l.serviceHost(svc))
	}
	if len(targets) == 0 {
		for _, ref := range l.store.EndpointsByIP(ip) {
			l.depend(kubeindex.ServiceKey(ref.Namespace, ref.Service))
			if !ref.Endpoint.Ready {
				continue
			}
			host := asciiLower(ref.Service) + "." + asciiLower(ref.Namespace) + l.s.svcSuffix
			targets = appendUnique(targets, endpointLabel(ref.Endpoint, ip)+"."+host)
		}
	}
	if len(targets) == 0 {
		targets = l.setPTRTargets(ip)
	}
	if len(targets) == 0 {
		return notAuthoritative()
	}
	answer := make([]*clusterdnsv1.ResourceRecord, 0, len(targets))
	for _, t := range targets {
		answer = append(answer, ptrRecord(owner, l.s.ttl, t))
	}
	return positive(answer, nil)
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// uniqueAddrs drops repeated addresses, keeping the first occurrence.
func uniqueAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	seen := make(map[netip.Addr]struct{}, len(addrs))
	for _, ip := range addrs {
		ip = ip.Unmap().WithZone("")
		if _, dup := seen[ip]; dup {
			continue
		}
		seen[ip] = struct{}{}
		out = append(out, ip)
	}
	return out
}

// addressAnswer answers A (wantV4) or AAAA from addrs; NODATA when none has
// the family.
func addressAnswer(owner string, ttl uint32, addrs []netip.Addr, wantV4 bool) outcome {
	var answer []*clusterdnsv1.ResourceRecord
	for _, ip := range addrs {
		if familyMatches(ip, wantV4) {
			answer = append(answer, addressRecord(owner, ttl, ip))
		}
	}
	if len(answer) == 0 {
		return noData()
	}
	return positive(answer, nil)
}

// srvBuilder gathers SRV records (unique by target and port) and their glue
// (unique by target and address).
type srvBuilder struct {
	owner    string
	ttl      uint32
	records  []srvEntry
	seen     map[srvEntry]struct{}
	glue     []glueEntry
	seenGlue map[glueEntry]struct{}
}

type srvEntry struct {
	target string
	port   int32
}

type glueEntry struct {
	target string
	ip     netip.Addr
}

func newSRVBuilder(owner string, ttl uint32) *srvBuilder {
	return &srvBuilder{owner: owner, ttl: ttl, seen: map[srvEntry]struct{}{}, seenGlue: map[glueEntry]struct{}{}}
}

// add records an SRV record for target:port and glue for each address. A
// port outside 1-65535 (an endpoint slice without ports) gives no record.
func (b *srvBuilder) add(target string, port int32, addrs ...netip.Addr) {
	if port <= 0 || port > 0xffff {
		return
	}
	e := srvEntry{target, port}
	if _, dup := b.seen[e]; !dup {
		b.seen[e] = struct{}{}
		b.records = append(b.records, e)
	}
	for _, ip := range addrs {
		g := glueEntry{target, ip.Unmap().WithZone("")}
		if _, dup := b.seenGlue[g]; !dup {
			b.seenGlue[g] = struct{}{}
			b.glue = append(b.glue, g)
		}
	}
}

func (b *srvBuilder) empty() bool { return len(b.records) == 0 }

// outcome returns the SRV answer, NODATA when there is no record. Weights
// split 100 evenly over the records (at least 1 each); priority is 0.
func (b *srvBuilder) outcome() outcome {
	if len(b.records) == 0 {
		return noData()
	}
	weight := uint32(max(1, 100/len(b.records)))
	answer := make([]*clusterdnsv1.ResourceRecord, 0, len(b.records))
	for _, e := range b.records {
		answer = append(answer, srvRecord(b.owner, b.ttl, weight, e.port, e.target))
	}
	extra := make([]*clusterdnsv1.ResourceRecord, 0, len(b.glue))
	for _, g := range b.glue {
		extra = append(extra, addressRecord(g.target, b.ttl, g.ip))
	}
	return positive(answer, extra)
}
