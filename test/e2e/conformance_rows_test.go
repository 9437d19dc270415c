package e2e

import (
	"fmt"

	"github.com/miekg/dns"
)

// conformanceRow is one question of the conformance table and the reply
// expected through the frontend: the rcode and the answer, authority (Ns) and
// additional (Extra) sections in presentation format with TTL 0 (the runner
// ignores TTLs, SOA serials and record order, nothing else).
type conformanceRow struct {
	Name              string
	Qtype             uint16
	Rcode             int
	Answer, Ns, Extra []string
}

// conformanceRows is the conformance table over testdata/conformance.yaml
// (zone cluster.local, TTL 30, pods insecure): every rule of the Kubernetes
// DNS-Based Service Discovery specification 1.1.0 and of CoreDNS's kubernetes
// plugin that recordsvc/internal/dnsschema implements (its package comment
// lists them and where they depart from CoreDNS), and the questions of the
// specification's examples on this fixture. Names the record service leaves
// to the upstream resolvers (outside the zone, unknown reverse names) are not
// asked: their answer depends on the machine's resolver.
func conformanceRows() []conformanceRow {
	const (
		soa      = "cluster.local. 0 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 30"
		kube     = "kubernetes.default.svc.cluster.local."
		kubeDNS  = "kube-dns.kube-system.svc.cluster.local."
		web      = "web.apps.svc.cluster.local."
		plain    = "plain.apps.svc.cluster.local."
		v6only   = "v6only.apps.svc.cluster.local."
		dual     = "dual.apps.svc.cluster.local."
		syslog   = "syslog.apps.svc.cluster.local."
		db       = "db.stateful.svc.cluster.local."
		multi    = "multi.stateful.svc.cluster.local."
		v6h      = "v6h.stateful.svc.cluster.local."
		dnsSvc   = "dns.stateful.svc.cluster.local."
		portless = "portless.stateful.svc.cluster.local."
		out      = "out.ext.svc.cluster.local."
		ok       = dns.RcodeSuccess
	)
	nx := func(name string, qtype uint16) conformanceRow {
		return conformanceRow{Name: name, Qtype: qtype, Rcode: dns.RcodeNameError, Ns: []string{soa}}
	}
	nodata := func(name string, qtype uint16) conformanceRow {
		return conformanceRow{Name: name, Qtype: qtype, Rcode: ok, Ns: []string{soa}}
	}
	// ans is a positive answer: answer records, then glue.
	ans := func(name string, qtype uint16, answer []string, extra ...string) conformanceRow {
		return conformanceRow{Name: name, Qtype: qtype, Rcode: ok, Answer: answer, Extra: extra}
	}
	rr := func(records ...string) []string { return records }
	rev := func(ip string) string {
		name, err := dns.ReverseAddr(ip)
		if err != nil {
			panic(fmt.Sprintf("conformance row: bad address %q", ip))
		}
		return name
	}

	rows := []conformanceRow{
		// --- Zone apex, SOA, NS, the nameserver name and dns-version. ---
		ans("cluster.local.", dns.TypeSOA, rr(soa)),
		ans("Cluster.LOCAL.", dns.TypeSOA, rr("Cluster.LOCAL. 0 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 30")),
		ans("cluster.local.", dns.TypeNS, rr("cluster.local. 0 IN NS ns.dns.cluster.local."),
			"ns.dns.cluster.local. 0 IN A 10.96.0.10", "ns.dns.cluster.local. 0 IN AAAA fd00:10:96::a"),
		ans("CLUSTER.local.", dns.TypeNS, rr("CLUSTER.local. 0 IN NS ns.dns.cluster.local."),
			"ns.dns.cluster.local. 0 IN A 10.96.0.10", "ns.dns.cluster.local. 0 IN AAAA fd00:10:96::a"),
		nodata("cluster.local.", dns.TypeA),
		nodata("cluster.local.", dns.TypeAAAA),
		nodata("cluster.local.", dns.TypeTXT),
		nodata("cluster.local.", dns.TypeSRV),
		nodata("cluster.local.", dns.TypeMX),
		nodata("cluster.local.", dns.TypePTR),
		ans("ns.dns.cluster.local.", dns.TypeA, rr("ns.dns.cluster.local. 0 IN A 10.96.0.10")),
		ans("ns.dns.cluster.local.", dns.TypeAAAA, rr("ns.dns.cluster.local. 0 IN AAAA fd00:10:96::a")),
		ans("NS.DNS.cluster.local.", dns.TypeA, rr("NS.DNS.cluster.local. 0 IN A 10.96.0.10")),
		nodata("ns.dns.cluster.local.", dns.TypeTXT),
		nodata("ns.dns.cluster.local.", dns.TypeSRV),
		nodata("dns.cluster.local.", dns.TypeA),
		nx("x.dns.cluster.local.", dns.TypeA),
		nx("x.ns.dns.cluster.local.", dns.TypeA),
		ans("dns-version.cluster.local.", dns.TypeTXT, rr(`dns-version.cluster.local. 0 IN TXT "1.1.0"`)),
		ans("DNS-Version.Cluster.Local.", dns.TypeTXT, rr(`DNS-Version.Cluster.Local. 0 IN TXT "1.1.0"`)),
		nodata("dns-version.cluster.local.", dns.TypeA),
		nodata("dns-version.cluster.local.", dns.TypeSRV),
		nx("x.dns-version.cluster.local.", dns.TypeTXT),

		// --- svc.<zone>, pod.<zone>, namespaces, names off the grammar. ---
		nodata("svc.cluster.local.", dns.TypeA),
		nodata("svc.cluster.local.", dns.TypeAAAA),
		nodata("svc.cluster.local.", dns.TypeSRV),
		nodata("svc.cluster.local.", dns.TypeNS),
		nodata("svc.cluster.local.", dns.TypeTXT),
		nodata("pod.cluster.local.", dns.TypeA),
		nodata("pod.cluster.local.", dns.TypeAAAA),
		nodata("apps.svc.cluster.local.", dns.TypeA),
		nodata("apps.svc.cluster.local.", dns.TypeSRV),
		nodata("apps.svc.cluster.local.", dns.TypeNS),
		nodata("Apps.SVC.cluster.local.", dns.TypeA),
		nodata("empty.svc.cluster.local.", dns.TypeA),
		nodata("empty.svc.cluster.local.", dns.TypeTXT),
		nodata("default.svc.cluster.local.", dns.TypeA),
		nodata("kube-public.svc.cluster.local.", dns.TypeA),
		nx("nons.svc.cluster.local.", dns.TypeA),
		nx("nons.svc.cluster.local.", dns.TypeSRV),
		nodata("pods.pod.cluster.local.", dns.TypeA),
		nodata("empty.pod.cluster.local.", dns.TypeAAAA),
		nx("nons.pod.cluster.local.", dns.TypeA),
		nx("foo.cluster.local.", dns.TypeA),
		nx("foo.cluster.local.", dns.TypeNS),
		nx("foo.cluster.local.", dns.TypeSOA),
		nx("web.apps.cluster.local.", dns.TypeA),
		nx("web.apps.pods.cluster.local.", dns.TypeA),
		nx("a.b.c.d.e.f.svc.cluster.local.", dns.TypeA),
		nx("a.b.c.pods.pod.cluster.local.", dns.TypeA),
		nx("web_1.apps.svc.cluster.local.", dns.TypeA),
		nx("-web.apps.svc.cluster.local.", dns.TypeA),
		// Wildcards: removed from CoreDNS in 1.9, not supported.
		nx("*.cluster.local.", dns.TypeA),
		nx("*.svc.cluster.local.", dns.TypeA),
		nx("*.apps.svc.cluster.local.", dns.TypeA),
		nx("web.*.svc.cluster.local.", dns.TypeA),
		nx("any.apps.svc.cluster.local.", dns.TypeA),
		nx("_http._tcp.*.apps.svc.cluster.local.", dns.TypeSRV),
		nx("*.web.apps.svc.cluster.local.", dns.TypeA),

		// --- ClusterIP services: A/AAAA from the cluster IPs. ---
		// Spec 2.3.1: kubernetes.default.svc.cluster.local. IN A.
		ans(kube, dns.TypeA, rr(kube+" 0 IN A 10.96.0.1")),
		ans("kubernetes.default.svc.cluster.local", dns.TypeA, rr(kube+" 0 IN A 10.96.0.1")),
		ans("KUBERNETES.DEFAULT.SVC.CLUSTER.LOCAL.", dns.TypeA, rr("KUBERNETES.DEFAULT.SVC.CLUSTER.LOCAL. 0 IN A 10.96.0.1")),
		ans("Kubernetes.Default.svc.cluster.local.", dns.TypeA, rr("Kubernetes.Default.svc.cluster.local. 0 IN A 10.96.0.1")),
		nodata(kube, dns.TypeAAAA),
		ans(web, dns.TypeA, rr(web+" 0 IN A 10.96.1.10")),
		nodata(web, dns.TypeAAAA),
		ans(plain, dns.TypeA, rr(plain+" 0 IN A 10.96.1.11")),
		ans(v6only, dns.TypeAAAA, rr(v6only+" 0 IN AAAA fd00:10:96::11")),
		nodata(v6only, dns.TypeA),
		ans(dual, dns.TypeA, rr(dual+" 0 IN A 10.96.1.12")),
		ans(dual, dns.TypeAAAA, rr(dual+" 0 IN AAAA fd00:10:96::12")),
		ans("DUAL.apps.svc.cluster.local.", dns.TypeAAAA, rr("DUAL.apps.svc.cluster.local. 0 IN AAAA fd00:10:96::12")),
		ans(syslog, dns.TypeA, rr(syslog+" 0 IN A 10.96.1.13")),
		ans(kubeDNS, dns.TypeA, rr(kubeDNS+" 0 IN A 10.96.0.10")),
		ans(kubeDNS, dns.TypeAAAA, rr(kubeDNS+" 0 IN AAAA fd00:10:96::a")),
		// Existing names asked for a type they lack: NODATA.
		nodata(web, dns.TypeTXT),
		nodata(web, dns.TypeCNAME),
		nodata(web, dns.TypePTR),
		nodata(web, dns.TypeMX),
		nodata(web, dns.TypeNS),
		nodata(web, dns.TypeSOA),
		nodata(web, dns.TypeHINFO),
		nodata(kube, dns.TypeTXT),
		nodata(dual, dns.TypeTXT),
		// Missing services and namespaces: NXDOMAIN for every type.
		nx("nope.apps.svc.cluster.local.", dns.TypeA),
		nx("nope.apps.svc.cluster.local.", dns.TypeAAAA),
		nx("nope.apps.svc.cluster.local.", dns.TypeSRV),
		nx("nope.apps.svc.cluster.local.", dns.TypeTXT),
		nx("nope.apps.svc.cluster.local.", dns.TypeSOA),
		nx("nope.apps.svc.cluster.local.", dns.TypeCNAME),
		nx("web.nons.svc.cluster.local.", dns.TypeA),
		nx("web.empty.svc.cluster.local.", dns.TypeA),
		nx("web.stateful.svc.cluster.local.", dns.TypeA),
		nx("kubernetes.apps.svc.cluster.local.", dns.TypeA),
		nx("web.apps.svc.cluster.local.cluster.local.", dns.TypeA),

		// --- ClusterIP SRV: named ports, glue; bare name lists all ports. ---
		// Spec 2.3.2: _https._tcp.kubernetes.default.svc.cluster.local. IN SRV.
		ans("_https._tcp."+kube, dns.TypeSRV, rr("_https._tcp."+kube+" 0 IN SRV 0 100 443 "+kube), kube+" 0 IN A 10.96.0.1"),
		ans(kube, dns.TypeSRV, rr(kube+" 0 IN SRV 0 100 443 "+kube), kube+" 0 IN A 10.96.0.1"),
		ans("_http._tcp."+web, dns.TypeSRV, rr("_http._tcp."+web+" 0 IN SRV 0 100 80 "+web), web+" 0 IN A 10.96.1.10"),
		ans("_https._tcp."+web, dns.TypeSRV, rr("_https._tcp."+web+" 0 IN SRV 0 100 443 "+web), web+" 0 IN A 10.96.1.10"),
		ans("_HTTP._TCP.Web.Apps.svc.cluster.local.", dns.TypeSRV,
			rr("_HTTP._TCP.Web.Apps.svc.cluster.local. 0 IN SRV 0 100 80 "+web), web+" 0 IN A 10.96.1.10"),
		ans(web, dns.TypeSRV, rr(web+" 0 IN SRV 0 50 80 "+web, web+" 0 IN SRV 0 50 443 "+web), web+" 0 IN A 10.96.1.10"),
		nx("_http._udp."+web, dns.TypeSRV),
		nx("_ftp._tcp."+web, dns.TypeSRV),
		nx("_http._sctp."+web, dns.TypeSRV),
		nx("http.tcp."+web, dns.TypeSRV),
		nx("_http.tcp."+web, dns.TypeSRV),
		nx("x._http._tcp."+web, dns.TypeSRV),
		nodata("_http._tcp."+web, dns.TypeA),
		nodata("_http._tcp."+web, dns.TypeAAAA),
		nodata("_http._tcp."+web, dns.TypeTXT),
		// Unnamed port: no _port._proto name, but listed by the bare name.
		ans(plain, dns.TypeSRV, rr(plain+" 0 IN SRV 0 100 8080 "+plain), plain+" 0 IN A 10.96.1.11"),
		nx("_http._tcp."+plain, dns.TypeSRV),
		nx("__tcp."+plain, dns.TypeSRV),
		ans("_http._tcp."+v6only, dns.TypeSRV, rr("_http._tcp."+v6only+" 0 IN SRV 0 100 80 "+v6only), v6only+" 0 IN AAAA fd00:10:96::11"),
		ans("_dns._udp."+v6only, dns.TypeSRV, rr("_dns._udp."+v6only+" 0 IN SRV 0 100 53 "+v6only), v6only+" 0 IN AAAA fd00:10:96::11"),
		ans(v6only, dns.TypeSRV, rr(v6only+" 0 IN SRV 0 50 80 "+v6only, v6only+" 0 IN SRV 0 50 53 "+v6only), v6only+" 0 IN AAAA fd00:10:96::11"),
		ans("_http._tcp."+dual, dns.TypeSRV, rr("_http._tcp."+dual+" 0 IN SRV 0 100 80 "+dual),
			dual+" 0 IN A 10.96.1.12", dual+" 0 IN AAAA fd00:10:96::12"),
		ans("_sip._udp."+dual, dns.TypeSRV, rr("_sip._udp."+dual+" 0 IN SRV 0 100 5060 "+dual),
			dual+" 0 IN A 10.96.1.12", dual+" 0 IN AAAA fd00:10:96::12"),
		ans("_assoc._sctp."+dual, dns.TypeSRV, rr("_assoc._sctp."+dual+" 0 IN SRV 0 100 9999 "+dual),
			dual+" 0 IN A 10.96.1.12", dual+" 0 IN AAAA fd00:10:96::12"),
		nx("_assoc._tcp."+dual, dns.TypeSRV),
		nx("_sip._tcp."+dual, dns.TypeSRV),
		ans(dual, dns.TypeSRV, rr(dual+" 0 IN SRV 0 33 80 "+dual, dual+" 0 IN SRV 0 33 5060 "+dual, dual+" 0 IN SRV 0 33 9999 "+dual),
			dual+" 0 IN A 10.96.1.12", dual+" 0 IN AAAA fd00:10:96::12"),
		ans("_syslog._udp."+syslog, dns.TypeSRV, rr("_syslog._udp."+syslog+" 0 IN SRV 0 100 514 "+syslog), syslog+" 0 IN A 10.96.1.13"),
		nx("_syslog._tcp."+syslog, dns.TypeSRV),
		ans("_dns._udp."+kubeDNS, dns.TypeSRV, rr("_dns._udp."+kubeDNS+" 0 IN SRV 0 100 53 "+kubeDNS),
			kubeDNS+" 0 IN A 10.96.0.10", kubeDNS+" 0 IN AAAA fd00:10:96::a"),
		ans("_dns-tcp._tcp."+kubeDNS, dns.TypeSRV, rr("_dns-tcp._tcp."+kubeDNS+" 0 IN SRV 0 100 53 "+kubeDNS),
			kubeDNS+" 0 IN A 10.96.0.10", kubeDNS+" 0 IN AAAA fd00:10:96::a"),
		ans("_metrics._tcp."+kubeDNS, dns.TypeSRV, rr("_metrics._tcp."+kubeDNS+" 0 IN SRV 0 100 9153 "+kubeDNS),
			kubeDNS+" 0 IN A 10.96.0.10", kubeDNS+" 0 IN AAAA fd00:10:96::a"),
		// 53/UDP and 53/TCP give one record on the bare name.
		ans(kubeDNS, dns.TypeSRV, rr(kubeDNS+" 0 IN SRV 0 50 53 "+kubeDNS, kubeDNS+" 0 IN SRV 0 50 9153 "+kubeDNS),
			kubeDNS+" 0 IN A 10.96.0.10", kubeDNS+" 0 IN AAAA fd00:10:96::a"),
		nx("_http._tcp.nope.apps.svc.cluster.local.", dns.TypeSRV),

		// --- Per-endpoint names of ClusterIP services (ready endpoints). ---
		ans("10-244-1-10."+web, dns.TypeA, rr("10-244-1-10."+web+" 0 IN A 10.244.1.10")),
		nodata("10-244-1-10."+web, dns.TypeAAAA),
		ans("web-a."+web, dns.TypeA, rr("web-a."+web+" 0 IN A 10.244.1.12")),
		ans("WEB-A.web.apps.svc.cluster.local.", dns.TypeA, rr("WEB-A.web.apps.svc.cluster.local. 0 IN A 10.244.1.12")),
		ans("web-a."+web, dns.TypeSRV, rr("web-a."+web+" 0 IN SRV 0 50 8080 web-a."+web, "web-a."+web+" 0 IN SRV 0 50 8443 web-a."+web),
			"web-a."+web+" 0 IN A 10.244.1.12"),
		nodata("web-a."+web, dns.TypeTXT),
		nx("10-244-1-12."+web, dns.TypeA), // has hostname web-a
		nx("10-244-1-11."+web, dns.TypeA), // not ready
		nx("10-244-1-99."+web, dns.TypeA),
		nx("web-b."+web, dns.TypeA),
		nx("x.web-a."+web, dns.TypeA),
		ans("fd00-10-244--1-10."+v6only, dns.TypeAAAA, rr("fd00-10-244--1-10."+v6only+" 0 IN AAAA fd00:10:244::1:10")),
		nodata("fd00-10-244--1-10."+v6only, dns.TypeA),
		nx("fd00-10-244-0-0-0-1-10."+v6only, dns.TypeAAAA), // only the RFC 5952 form names it
		ans("10-244-0-53."+kubeDNS, dns.TypeA, rr("10-244-0-53."+kubeDNS+" 0 IN A 10.244.0.53")),
		nx("10-96-0-1."+kube, dns.TypeA), // no endpoints

		// --- Headless services: every ready address, duplicates removed. ---
		ans(db, dns.TypeA, rr(db+" 0 IN A 10.244.2.10", db+" 0 IN A 10.244.2.11", db+" 0 IN A 10.244.2.13")),
		ans(db, dns.TypeAAAA, rr(db+" 0 IN AAAA fd00:10:244::2:10", db+" 0 IN AAAA fd00:10:244::2:13")),
		ans("DB.Stateful.SVC.cluster.local.", dns.TypeA, rr("DB.Stateful.SVC.cluster.local. 0 IN A 10.244.2.10",
			"DB.Stateful.SVC.cluster.local. 0 IN A 10.244.2.11", "DB.Stateful.SVC.cluster.local. 0 IN A 10.244.2.13")),
		nodata(db, dns.TypeTXT),
		nodata(db, dns.TypeCNAME),
		nodata(db, dns.TypeMX),
		// Per-endpoint names: hostname, else dashed IP.
		ans("db-0."+db, dns.TypeA, rr("db-0."+db+" 0 IN A 10.244.2.10")),
		ans("db-0."+db, dns.TypeAAAA, rr("db-0."+db+" 0 IN AAAA fd00:10:244::2:10")),
		ans("Db-0.DB.stateful.svc.cluster.local.", dns.TypeA, rr("Db-0.DB.stateful.svc.cluster.local. 0 IN A 10.244.2.10")),
		ans("db-1."+db, dns.TypeA, rr("db-1."+db+" 0 IN A 10.244.2.11")), // nil ready counts as ready
		nodata("db-1."+db, dns.TypeAAAA),
		nx("db-2."+db, dns.TypeA), // ready=false
		nx("db-2."+db, dns.TypeSRV),
		nx("10-244-2-12."+db, dns.TypeA),
		nx("10-244-2-10."+db, dns.TypeA), // named db-0
		ans("10-244-2-13."+db, dns.TypeA, rr("10-244-2-13."+db+" 0 IN A 10.244.2.13")),
		ans("fd00-10-244--2-13."+db, dns.TypeAAAA, rr("fd00-10-244--2-13."+db+" 0 IN AAAA fd00:10:244::2:13")),
		ans("FD00-10-244--2-13."+db, dns.TypeAAAA, rr("FD00-10-244--2-13."+db+" 0 IN AAAA fd00:10:244::2:13")),
		nx("db-9."+db, dns.TypeA),
		// SRV: N ready endpoints x M named ports, targeting endpoint names,
		// with glue; weights split 100 evenly.
		ans("_postgres._tcp."+db, dns.TypeSRV, rr(
			"_postgres._tcp."+db+" 0 IN SRV 0 25 5432 db-0."+db,
			"_postgres._tcp."+db+" 0 IN SRV 0 25 5432 db-1."+db,
			"_postgres._tcp."+db+" 0 IN SRV 0 25 5432 10-244-2-13."+db,
			"_postgres._tcp."+db+" 0 IN SRV 0 25 5432 fd00-10-244--2-13."+db),
			"db-0."+db+" 0 IN A 10.244.2.10",
			"db-0."+db+" 0 IN AAAA fd00:10:244::2:10",
			"db-1."+db+" 0 IN A 10.244.2.11",
			"10-244-2-13."+db+" 0 IN A 10.244.2.13",
			"fd00-10-244--2-13."+db+" 0 IN AAAA fd00:10:244::2:13"),
		ans("_metrics._tcp."+db, dns.TypeSRV, rr(
			"_metrics._tcp."+db+" 0 IN SRV 0 33 9187 db-0."+db,
			"_metrics._tcp."+db+" 0 IN SRV 0 33 9187 db-1."+db,
			"_metrics._tcp."+db+" 0 IN SRV 0 33 9187 10-244-2-13."+db),
			"db-0."+db+" 0 IN A 10.244.2.10",
			"db-1."+db+" 0 IN A 10.244.2.11",
			"10-244-2-13."+db+" 0 IN A 10.244.2.13"),
		ans(db, dns.TypeSRV, rr(
			db+" 0 IN SRV 0 14 5432 db-0."+db,
			db+" 0 IN SRV 0 14 9187 db-0."+db,
			db+" 0 IN SRV 0 14 5432 db-1."+db,
			db+" 0 IN SRV 0 14 9187 db-1."+db,
			db+" 0 IN SRV 0 14 5432 10-244-2-13."+db,
			db+" 0 IN SRV 0 14 9187 10-244-2-13."+db,
			db+" 0 IN SRV 0 14 5432 fd00-10-244--2-13."+db),
			"db-0."+db+" 0 IN A 10.244.2.10",
			"db-0."+db+" 0 IN AAAA fd00:10:244::2:10",
			"db-1."+db+" 0 IN A 10.244.2.11",
			"10-244-2-13."+db+" 0 IN A 10.244.2.13",
			"fd00-10-244--2-13."+db+" 0 IN AAAA fd00:10:244::2:13"),
		ans("db-0."+db, dns.TypeSRV, rr("db-0."+db+" 0 IN SRV 0 50 5432 db-0."+db, "db-0."+db+" 0 IN SRV 0 50 9187 db-0."+db),
			"db-0."+db+" 0 IN A 10.244.2.10", "db-0."+db+" 0 IN AAAA fd00:10:244::2:10"),
		nx("_postgres._udp."+db, dns.TypeSRV),
		nx("_http._tcp."+db, dns.TypeSRV),
		nx("_postgres._tcp.db-0."+db, dns.TypeSRV),
		nodata("_postgres._tcp."+db, dns.TypeA),
		// Several addresses under one hostname give several records.
		ans(multi, dns.TypeA, rr(multi+" 0 IN A 10.244.3.10", multi+" 0 IN A 10.244.3.11",
			multi+" 0 IN A 10.244.3.20", multi+" 0 IN A 10.244.3.21")),
		nodata(multi, dns.TypeAAAA),
		ans("twin."+multi, dns.TypeA, rr("twin."+multi+" 0 IN A 10.244.3.10", "twin."+multi+" 0 IN A 10.244.3.11")),
		ans("pair."+multi, dns.TypeA, rr("pair."+multi+" 0 IN A 10.244.3.20", "pair."+multi+" 0 IN A 10.244.3.21")),
		nx("10-244-3-10."+multi, dns.TypeA),
		ans("_http._tcp."+multi, dns.TypeSRV, rr("_http._tcp."+multi+" 0 IN SRV 0 50 80 twin."+multi, "_http._tcp."+multi+" 0 IN SRV 0 50 80 pair."+multi),
			"twin."+multi+" 0 IN A 10.244.3.10", "twin."+multi+" 0 IN A 10.244.3.11",
			"pair."+multi+" 0 IN A 10.244.3.20", "pair."+multi+" 0 IN A 10.244.3.21"),
		// No ready endpoint (or none at all): NXDOMAIN whatever the type.
		nx("noready.stateful.svc.cluster.local.", dns.TypeA),
		nx("noready.stateful.svc.cluster.local.", dns.TypeAAAA),
		nx("noready.stateful.svc.cluster.local.", dns.TypeSRV),
		nx("noready.stateful.svc.cluster.local.", dns.TypeTXT),
		nx("_http._tcp.noready.stateful.svc.cluster.local.", dns.TypeSRV),
		nx("nr-0.noready.stateful.svc.cluster.local.", dns.TypeA),
		nx("10-244-4-2.noready.stateful.svc.cluster.local.", dns.TypeA),
		nx("noslices.stateful.svc.cluster.local.", dns.TypeA),
		nx("noslices.stateful.svc.cluster.local.", dns.TypeSRV),
		// Endpoints without ports: A, but no SRV.
		ans(portless, dns.TypeA, rr(portless+" 0 IN A 10.244.4.10")),
		nodata(portless, dns.TypeSRV),
		ans("10-244-4-10."+portless, dns.TypeA, rr("10-244-4-10."+portless+" 0 IN A 10.244.4.10")),
		nx("_http._tcp."+portless, dns.TypeSRV),
		// IPv6-only headless; an address ending in "::" is named ...--0.
		ans(v6h, dns.TypeAAAA, rr(v6h+" 0 IN AAAA fd00:10:244::4:1", v6h+" 0 IN AAAA fd00:10:244::4:2", v6h+" 0 IN AAAA fd00:10:244:4::")),
		nodata(v6h, dns.TypeA),
		ans("fd00-10-244--4-1."+v6h, dns.TypeAAAA, rr("fd00-10-244--4-1."+v6h+" 0 IN AAAA fd00:10:244::4:1")),
		ans("v6-b."+v6h, dns.TypeAAAA, rr("v6-b."+v6h+" 0 IN AAAA fd00:10:244::4:2")),
		ans("fd00-10-244-4--0."+v6h, dns.TypeAAAA, rr("fd00-10-244-4--0."+v6h+" 0 IN AAAA fd00:10:244:4::")),
		nx("fd00-10-244-4--."+v6h, dns.TypeAAAA),
		nx("fd00-10-244--4-2."+v6h, dns.TypeAAAA), // named v6-b
		ans("_http._tcp."+v6h, dns.TypeSRV, rr(
			"_http._tcp."+v6h+" 0 IN SRV 0 33 80 fd00-10-244--4-1."+v6h,
			"_http._tcp."+v6h+" 0 IN SRV 0 33 80 v6-b."+v6h,
			"_http._tcp."+v6h+" 0 IN SRV 0 33 80 fd00-10-244-4--0."+v6h),
			"fd00-10-244--4-1."+v6h+" 0 IN AAAA fd00:10:244::4:1",
			"v6-b."+v6h+" 0 IN AAAA fd00:10:244::4:2",
			"fd00-10-244-4--0."+v6h+" 0 IN AAAA fd00:10:244:4::"),
		// Same port number over UDP and TCP.
		ans("_dns._udp."+dnsSvc, dns.TypeSRV, rr("_dns._udp."+dnsSvc+" 0 IN SRV 0 100 53 ns1."+dnsSvc), "ns1."+dnsSvc+" 0 IN A 10.244.5.10"),
		ans("_dns-tcp._tcp."+dnsSvc, dns.TypeSRV, rr("_dns-tcp._tcp."+dnsSvc+" 0 IN SRV 0 100 53 ns1."+dnsSvc), "ns1."+dnsSvc+" 0 IN A 10.244.5.10"),
		nx("_dns._tcp."+dnsSvc, dns.TypeSRV),
		ans(dnsSvc, dns.TypeSRV, rr(dnsSvc+" 0 IN SRV 0 100 53 ns1."+dnsSvc), "ns1."+dnsSvc+" 0 IN A 10.244.5.10"),
		ans("ns1."+dnsSvc, dns.TypeA, rr("ns1."+dnsSvc+" 0 IN A 10.244.5.10")),
		// One address in two services.
		ans("a.share-a.stateful.svc.cluster.local.", dns.TypeA, rr("a.share-a.stateful.svc.cluster.local. 0 IN A 10.244.6.10")),
		ans("10-244-6-10.share-b.stateful.svc.cluster.local.", dns.TypeA, rr("10-244-6-10.share-b.stateful.svc.cluster.local. 0 IN A 10.244.6.10")),
		nx("10-244-6-10.share-a.stateful.svc.cluster.local.", dns.TypeA),

		// --- ExternalName services. ---
		// Spec 2.5 (foo.default.svc.cluster.local. IN A / IN AAAA): the
		// frontend completes an out-of-zone target through its upstreams,
		// so A/AAAA here depend on the machine's resolver; the CNAME itself
		// is asked with type CNAME, which is never chased.
		ans(out, dns.TypeCNAME, rr(out+" 0 IN CNAME db.example.invalid.")),
		ans("OUT.Ext.svc.cluster.local.", dns.TypeCNAME, rr("OUT.Ext.svc.cluster.local. 0 IN CNAME db.example.invalid.")),
		ans("out-dot.ext.svc.cluster.local.", dns.TypeCNAME, rr("out-dot.ext.svc.cluster.local. 0 IN CNAME www.example.invalid.")),
		nodata(out, dns.TypeSRV),
		nodata(out, dns.TypeTXT),
		nodata(out, dns.TypeMX),
		nodata(out, dns.TypePTR),
		nx("_http._tcp."+out, dns.TypeSRV),
		nx("x."+out, dns.TypeA),
		nx("x."+out, dns.TypeCNAME),
		// An IP address is no CNAME target: NXDOMAIN.
		nx("ip.ext.svc.cluster.local.", dns.TypeA),
		nx("ip.ext.svc.cluster.local.", dns.TypeAAAA),
		nx("ip.ext.svc.cluster.local.", dns.TypeCNAME),
		nx("ip.ext.svc.cluster.local.", dns.TypeTXT),
		// In-zone targets are chased inside the answer.
		ans("in.ext.svc.cluster.local.", dns.TypeA, rr("in.ext.svc.cluster.local. 0 IN CNAME "+web, web+" 0 IN A 10.96.1.10")),
		ans("In.EXT.svc.cluster.local.", dns.TypeA, rr("In.EXT.svc.cluster.local. 0 IN CNAME "+web, web+" 0 IN A 10.96.1.10")),
		ans("in.ext.svc.cluster.local.", dns.TypeAAAA, rr("in.ext.svc.cluster.local. 0 IN CNAME "+web)),
		ans("in.ext.svc.cluster.local.", dns.TypeCNAME, rr("in.ext.svc.cluster.local. 0 IN CNAME "+web)),
		nodata("in.ext.svc.cluster.local.", dns.TypeSRV),
		ans("chain.ext.svc.cluster.local.", dns.TypeA, rr("chain.ext.svc.cluster.local. 0 IN CNAME in.ext.svc.cluster.local.",
			"in.ext.svc.cluster.local. 0 IN CNAME "+web, web+" 0 IN A 10.96.1.10")),
		ans("chain.ext.svc.cluster.local.", dns.TypeCNAME, rr("chain.ext.svc.cluster.local. 0 IN CNAME in.ext.svc.cluster.local.")),
		ans("to-headless.ext.svc.cluster.local.", dns.TypeA, rr("to-headless.ext.svc.cluster.local. 0 IN CNAME "+db,
			db+" 0 IN A 10.244.2.10", db+" 0 IN A 10.244.2.11", db+" 0 IN A 10.244.2.13")),
		ans("to-headless.ext.svc.cluster.local.", dns.TypeAAAA, rr("to-headless.ext.svc.cluster.local. 0 IN CNAME "+db,
			db+" 0 IN AAAA fd00:10:244::2:10", db+" 0 IN AAAA fd00:10:244::2:13")),
		ans("to-dual.ext.svc.cluster.local.", dns.TypeAAAA, rr("to-dual.ext.svc.cluster.local. 0 IN CNAME "+dual, dual+" 0 IN AAAA fd00:10:96::12")),
		ans("to-kube.ext.svc.cluster.local.", dns.TypeA, rr("to-kube.ext.svc.cluster.local. 0 IN CNAME "+kube, kube+" 0 IN A 10.96.0.1")),
		ans("to-kube.ext.svc.cluster.local.", dns.TypeAAAA, rr("to-kube.ext.svc.cluster.local. 0 IN CNAME "+kube)),
		ans("to-pod.ext.svc.cluster.local.", dns.TypeA, rr("to-pod.ext.svc.cluster.local. 0 IN CNAME 10-244-7-5.pods.pod.cluster.local.",
			"10-244-7-5.pods.pod.cluster.local. 0 IN A 10.244.7.5")),
		// A target without records of the type: the CNAME alone.
		ans("to-missing.ext.svc.cluster.local.", dns.TypeA, rr("to-missing.ext.svc.cluster.local. 0 IN CNAME nope.apps.svc.cluster.local.")),
		// In zone, then out of zone (type CNAME: the first link only).
		ans("to-out.ext.svc.cluster.local.", dns.TypeCNAME, rr("to-out.ext.svc.cluster.local. 0 IN CNAME "+out)),
		// Loops stop where they close.
		ans("loop-a.ext.svc.cluster.local.", dns.TypeA, rr("loop-a.ext.svc.cluster.local. 0 IN CNAME loop-b.ext.svc.cluster.local.",
			"loop-b.ext.svc.cluster.local. 0 IN CNAME loop-a.ext.svc.cluster.local.")),
		ans("loop-b.ext.svc.cluster.local.", dns.TypeAAAA, rr("loop-b.ext.svc.cluster.local. 0 IN CNAME loop-a.ext.svc.cluster.local.",
			"loop-a.ext.svc.cluster.local. 0 IN CNAME loop-b.ext.svc.cluster.local.")),
		ans("self.ext.svc.cluster.local.", dns.TypeA, rr("self.ext.svc.cluster.local. 0 IN CNAME self.ext.svc.cluster.local.")),

		// --- PTR for cluster IPs and ready endpoint addresses. ---
		// Spec 2.3.3: 1.0.3.10.in-addr.arpa. IN PTR (here 10.96.0.1).
		ans(rev("10.96.0.1"), dns.TypePTR, rr(rev("10.96.0.1")+" 0 IN PTR "+kube)),
		ans("1.0.96.10.IN-ADDR.ARPA.", dns.TypePTR, rr("1.0.96.10.IN-ADDR.ARPA. 0 IN PTR "+kube)),
		ans(rev("10.96.0.10"), dns.TypePTR, rr(rev("10.96.0.10")+" 0 IN PTR "+kubeDNS)),
		ans(rev("fd00:10:96::a"), dns.TypePTR, rr(rev("fd00:10:96::a")+" 0 IN PTR "+kubeDNS)),
		ans(rev("10.96.1.10"), dns.TypePTR, rr(rev("10.96.1.10")+" 0 IN PTR "+web)),
		ans(rev("10.96.1.11"), dns.TypePTR, rr(rev("10.96.1.11")+" 0 IN PTR "+plain)),
		ans(rev("fd00:10:96::11"), dns.TypePTR, rr(rev("fd00:10:96::11")+" 0 IN PTR "+v6only)),
		ans(rev("10.96.1.12"), dns.TypePTR, rr(rev("10.96.1.12")+" 0 IN PTR "+dual)),
		ans(rev("fd00:10:96::12"), dns.TypePTR, rr(rev("fd00:10:96::12")+" 0 IN PTR "+dual)),
		ans(rev("10.96.1.13"), dns.TypePTR, rr(rev("10.96.1.13")+" 0 IN PTR "+syslog)),
		// Spec 2.4.3: endpoint addresses, named by hostname or dashed IP.
		ans(rev("10.244.1.10"), dns.TypePTR, rr(rev("10.244.1.10")+" 0 IN PTR 10-244-1-10."+web)),
		ans(rev("10.244.1.12"), dns.TypePTR, rr(rev("10.244.1.12")+" 0 IN PTR web-a."+web)),
		ans(rev("fd00:10:244::1:10"), dns.TypePTR, rr(rev("fd00:10:244::1:10")+" 0 IN PTR fd00-10-244--1-10."+v6only)),
		ans(rev("10.244.0.53"), dns.TypePTR, rr(rev("10.244.0.53")+" 0 IN PTR 10-244-0-53."+kubeDNS)),
		ans(rev("10.244.2.10"), dns.TypePTR, rr(rev("10.244.2.10")+" 0 IN PTR db-0."+db)),
		ans(rev("10.244.2.11"), dns.TypePTR, rr(rev("10.244.2.11")+" 0 IN PTR db-1."+db)),
		ans(rev("10.244.2.13"), dns.TypePTR, rr(rev("10.244.2.13")+" 0 IN PTR 10-244-2-13."+db)),
		ans(rev("fd00:10:244::2:10"), dns.TypePTR, rr(rev("fd00:10:244::2:10")+" 0 IN PTR db-0."+db)),
		ans(rev("fd00:10:244::2:13"), dns.TypePTR, rr(rev("fd00:10:244::2:13")+" 0 IN PTR fd00-10-244--2-13."+db)),
		ans(rev("10.244.3.11"), dns.TypePTR, rr(rev("10.244.3.11")+" 0 IN PTR twin."+multi)),
		ans(rev("10.244.3.21"), dns.TypePTR, rr(rev("10.244.3.21")+" 0 IN PTR pair."+multi)),
		ans(rev("10.244.4.10"), dns.TypePTR, rr(rev("10.244.4.10")+" 0 IN PTR 10-244-4-10."+portless)),
		ans(rev("fd00:10:244:4::"), dns.TypePTR, rr(rev("fd00:10:244:4::")+" 0 IN PTR fd00-10-244-4--0."+v6h)),
		ans(rev("fd00:10:244::4:2"), dns.TypePTR, rr(rev("fd00:10:244::4:2")+" 0 IN PTR v6-b."+v6h)),
		ans(rev("10.244.5.10"), dns.TypePTR, rr(rev("10.244.5.10")+" 0 IN PTR ns1."+dnsSvc)),
		ans(rev("10.244.6.10"), dns.TypePTR, rr(rev("10.244.6.10")+" 0 IN PTR a.share-a.stateful.svc.cluster.local.",
			rev("10.244.6.10")+" 0 IN PTR 10-244-6-10.share-b.stateful.svc.cluster.local.")),
		ans(rev("10.244.8.42"), dns.TypePTR, rr(rev("10.244.8.42")+" 0 IN PTR 10-244-8-42.big.stateful.svc.cluster.local.")),

		// --- Pod records (pods insecure). ---
		ans("10-244-7-5.pods.pod.cluster.local.", dns.TypeA, rr("10-244-7-5.pods.pod.cluster.local. 0 IN A 10.244.7.5")),
		ans("10-244-7-5.PODS.POD.cluster.local.", dns.TypeA, rr("10-244-7-5.PODS.POD.cluster.local. 0 IN A 10.244.7.5")),
		nodata("10-244-7-5.pods.pod.cluster.local.", dns.TypeAAAA),
		nodata("10-244-7-5.pods.pod.cluster.local.", dns.TypeTXT),
		nodata("10-244-7-5.pods.pod.cluster.local.", dns.TypeSRV),
		ans("fd00-10-244--7-5.pods.pod.cluster.local.", dns.TypeAAAA, rr("fd00-10-244--7-5.pods.pod.cluster.local. 0 IN AAAA fd00:10:244::7:5")),
		ans("FD00-10-244--7-5.pods.pod.cluster.local.", dns.TypeAAAA, rr("FD00-10-244--7-5.pods.pod.cluster.local. 0 IN AAAA fd00:10:244::7:5")),
		ans("fd00-10-244-0-0-0-7-5.pods.pod.cluster.local.", dns.TypeAAAA,
			rr("fd00-10-244-0-0-0-7-5.pods.pod.cluster.local. 0 IN AAAA fd00:10:244::7:5")),
		nodata("fd00-10-244--7-5.pods.pod.cluster.local.", dns.TypeA),
		ans("10-244-7-6.pods.pod.cluster.local.", dns.TypeA, rr("10-244-7-6.pods.pod.cluster.local. 0 IN A 10.244.7.6")),
		// Spec 2.6: insecure mode answers any well-formed IP in an existing
		// namespace, pod or not.
		ans("1-2-3-4.pods.pod.cluster.local.", dns.TypeA, rr("1-2-3-4.pods.pod.cluster.local. 0 IN A 1.2.3.4")),
		ans("10-244-7-5.empty.pod.cluster.local.", dns.TypeA, rr("10-244-7-5.empty.pod.cluster.local. 0 IN A 10.244.7.5")),
		ans("1-2-3-4.default.pod.cluster.local.", dns.TypeA, rr("1-2-3-4.default.pod.cluster.local. 0 IN A 1.2.3.4")),
		nx("10-244-7-5.nons.pod.cluster.local.", dns.TypeA),
		nx("pod-a.pods.pod.cluster.local.", dns.TypeA),
		nx("256-1-1-1.pods.pod.cluster.local.", dns.TypeA),
		nx("010-1-1-1.pods.pod.cluster.local.", dns.TypeA),
		nx("10-244-7.pods.pod.cluster.local.", dns.TypeA),
		nx("x.10-244-7-5.pods.pod.cluster.local.", dns.TypeA),
		nx("_http._tcp.10-244-7-5.pods.pod.cluster.local.", dns.TypeSRV),
	}

	// A headless service with 100 ready endpoints: its A answer does not fit
	// a 1232-byte UDP reply (TC set there) and comes whole over TCP.
	const big = "big.stateful.svc.cluster.local."
	bigA := make([]string, 0, 100)
	for i := 1; i <= 100; i++ {
		bigA = append(bigA, fmt.Sprintf("%s 0 IN A 10.244.8.%d", big, i))
	}
	rows = append(rows,
		ans(big, dns.TypeA, bigA),
		nodata(big, dns.TypeAAAA),
		ans("10-244-8-100."+big, dns.TypeA, rr("10-244-8-100."+big+" 0 IN A 10.244.8.100")),
	)
	return rows
}
