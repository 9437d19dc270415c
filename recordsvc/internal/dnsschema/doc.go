// Package dnsschema holds the Kubernetes DNS grammar and answering logic: it
// parses a query name (Parse, a pure function) and answers it from a Store
// with structured records, an outcome and the invalidation keys the answer
// depends on.
//
// The floor is the Kubernetes DNS-Based Service Discovery specification
// 1.1.0. Where it is silent, the reference is CoreDNS's kubernetes plugin
// (v1.15) with kubeadm's Corefile (`pods insecure`, `fallthrough in-addr.arpa
// ip6.arpa`, `ttl 30`). The rules, with every place this package departs from
// CoreDNS on purpose:
//
//   - dns-version.<zone> TXT "1.1.0" (with the configured TTL; CoreDNS uses
//     28800).
//   - <svc>.<ns>.svc.<zone>: A/AAAA from the cluster IPs of a ClusterIP
//     service (IPv4, IPv6 or both); for a headless service every ready
//     address of every endpoint slice, duplicates removed, NXDOMAIN for every
//     type when none is ready. A bare-name SRV lists every port, unnamed ones
//     included (as CoreDNS), with the A/AAAA glue in the additional section.
//   - _<port>._<proto>.<svc>.<ns>.svc.<zone>: SRV for the named port; for a
//     headless service N ready endpoints x M matching endpoint-slice ports,
//     targeting the endpoint names. The underscores are required (CoreDNS
//     also accepts the labels without them). Other types are NODATA (CoreDNS
//     answers A/AAAA there with the service's addresses).
//   - <endpoint>.<svc>.<ns>.svc.<zone>, for headless and ClusterIP services
//     (as CoreDNS): the ready addresses whose endpoint hostname, or, when the
//     endpoint has none, whose dashed IP (10-244-1-1, fd00-10-244--1; see
//     DashedIP) is the label; several addresses under one hostname give
//     several records. SRV on that name lists the endpoint's ports.
//   - SRV priority is 0 and the weight is 100 divided evenly over the records
//     of the answer (at least 1). CoreDNS divides by the number of address and
//     port pairs before removing duplicates, so a dual-stack service's single
//     SRV record gets weight 50 there and 100 here.
//   - Not-ready endpoints (ready=false) are invisible everywhere: service
//     A/AAAA, endpoint names, SRV and PTR, as in CoreDNS. A nil ready
//     condition counts as ready (kubeindex resolves that).
//   - ExternalName: CNAME for A, AAAA and CNAME questions; NODATA for other
//     types (SRV included); NXDOMAIN for every type when the value is an IP
//     address, and for every name below the service. For A/AAAA an in-zone
//     target is chased here: the target's records follow the CNAME (chained
//     ExternalNames give a chain). When the chased target has no records of
//     the type (NXDOMAIN or NODATA), loops back into the chain, or the chain
//     reaches 8 CNAMEs, the answer is the CNAMEs gathered so far with
//     RESULT_SUCCESS: a truthful partial answer a resolver can follow
//     (CoreDNS instead drops the CNAME and answers NODATA). An out-of-zone
//     target gives the CNAME alone; the frontend chases it upstream.
//   - PTR in in-addr.arpa and ip6.arpa: a cluster IP points to
//     <svc>.<ns>.svc.<zone>; an address no service has as cluster IP points,
//     once per service and endpoint name, to <hostname-or-dashed-ip>.<svc>.
//     <ns>.svc.<zone> for every ready endpoint with that address. Unknown
//     addresses, partial or invalid reverse names and non-PTR questions in the
//     reverse zones are RESULT_NOT_AUTHORITATIVE (the frontend falls through
//     to its upstreams, as kubeadm's `fallthrough in-addr.arpa ip6.arpa`).
//   - <dashed-ip>.<ns>.pod.<zone> (see ParseDashedIP) under PodMode:
//     disabled answers NXDOMAIN for <ns>.pod.<zone> and everything below;
//     insecure answers A or AAAA with the IP itself when the namespace exists;
//     verified also needs Store.PodNamespacesByIP to list the namespace. The
//     other family and other types are NODATA (CoreDNS answers SRV there
//     with a port-0 record). More labels below a pod name are NXDOMAIN
//     (CoreDNS ignores them and answers the pod).
//   - The zone apex answers SOA and NS (ns.dns.<zone>.) with the A/AAAA glue
//     of the nameserver service's cluster IPs; ns.dns.<zone> A/AAAA answers
//     those cluster IPs (NODATA while the service is missing). The SOA is
//     "<zone>. SOA ns.dns.<zone>. hostmaster.<zone>. <serial> 7200 1800 86400
//     <ttl>" with serial uint32(store.Revision()) and its own TTL
//     min(ttl, 300), as CoreDNS.
//   - Negative answers: NXDOMAIN for a missing service, endpoint, port,
//     namespace or pod, a name below an ExternalName service, and any name in
//     the zone off the grammar (malformed labels, unknown second-level names,
//     too many labels, wildcards: `*` is no label here, and CoreDNS dropped
//     wildcard support in 1.9). NODATA (NOERROR, empty answer, zone SOA in
//     authority) when the name exists without the type: svc.<zone>,
//     pod.<zone>, dns.<zone> (the empty non-terminal above ns.dns.<zone>;
//     CoreDNS says NXDOMAIN), <ns>.svc.<zone> and <ns>.pod.<zone> for an
//     existing namespace (as CoreDNS), and any existing name asked for a type
//     it lacks, ANY included. CoreDNS departs from this for TXT on existing
//     names other than services (NXDOMAIN there) and for SOA on any name below
//     the apex (NODATA even when the name does not exist); here both follow
//     the rule.
//   - A service answers positively whether or not its Namespace object is
//     known (a Service cannot outlive its namespace in a cluster, and a file
//     source may omit Namespace objects); a missing service is NXDOMAIN
//     whatever the namespace.
//   - Letter case: owner names of answer records keep the query's case;
//     matching is case-insensitive (ASCII only). Every name this package
//     generates (CNAME, SRV, PTR and NS targets, glue owners, the owners of
//     records chased behind a CNAME, the SOA in authority) is lower case,
//     built from the Kubernetes object names and the configured zone, even
//     when the query spelt the service name in another case. (CoreDNS keeps
//     the query's spelling of the zone suffix in generated names, the SOA's
//     included.)
//   - Server-side search-path completion (Config.Autopath, off by default,
//     needs PodsVerified; the rules are in autopath.go): an NXDOMAIN for
//     X.<ns>.svc.<zone> asked from the IP of a pod of namespace <ns> (and no
//     other) becomes, when the pod's search list would find X.svc.<zone>,
//     X.<zone> or an in-zone X, a CNAME from the asked name to that name
//     followed by its records (RESULT_SUCCESS). Every query type, as
//     CoreDNS; unlike CoreDNS a candidate that only exists without records
//     (NODATA) is passed over as the client's resolver would, and for A and
//     AAAA a candidate with addresses of either family is taken for both.
//     Candidates outside the zone (the node's search domains, an
//     out-of-zone X) are never tried: the answer stays NXDOMAIN and the
//     client searches on.
//   - Before Store.Synced every name in the zone and every full reverse name
//     is RESULT_NOT_READY; names outside both are RESULT_NOT_AUTHORITATIVE
//     whatever the state.
//
// Invalidation keys: a service name, its endpoints and ports depend on
// kubeindex.ServiceKey (plus NamespaceKey when the service is missing);
// <ns>.svc and <ns>.pod on NamespaceKey; pod names on NamespaceKey and, in
// verified mode, PodKey; PTR answers on AddressKey and the ServiceKey of
// every service found; the apex and ns.dns.<zone> on the nameserver
// service's ServiceKey; a chased CNAME adds the keys of its targets; a
// search-path completion adds the client's PodKey and the keys of every
// candidate tried (also when it ends in NXDOMAIN).
// Answers that depend on nothing but the configuration carry no key.
package dnsschema
