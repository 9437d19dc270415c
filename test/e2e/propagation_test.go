package e2e

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// propagationCase is one kind of change TestPropagation makes in the API.
type propagationCase struct {
	name string
	q    question
	tcp  bool
	// setup creates the objects q is answered from.
	setup func(t *testing.T, c *kubecluster.Cluster)
	// before is the answer to q once setup is done.
	before expect
	// change makes the change in the API.
	change func(t *testing.T, c *kubecluster.Cluster)
	// after is the answer to q once the change has propagated.
	after expect
	// transient lists the answers q may get while a change made of several
	// writes is half done (NXDOMAIN between a delete and a create).
	transient []expect
}

// TestPropagation is issue #3's "watch propagation": against a real API
// server, changing a Service's type, its ports, an ExternalName target or an
// endpoint's readiness changes the answer of the next query once the
// record service's invalidation has reached the frontend. The frontend keeps
// cluster answers for 5 minutes (--cluster-cache-ttl) and the record TTL is
// 30 s, so each question is first asked until its answer is provably cached
// (a cache hit is counted), then the change is made, and the new answer must
// arrive within propagationBound (5 s): only the invalidation can explain it.
func TestPropagation(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	fe := stack.StartFrontend(t, bins, rs.Addr, "--cluster-cache-ttl", "5m")

	const ns = "prop"
	createNamespace(t, c, ns)
	target := svcName(ns, "target")
	createService(t, c, clusterIPService(ns, "target", "10.96.30.10", tcpPort("http", 80)))

	var (
		toExt      = svcName(ns, "to-ext")
		toCIP      = svcName(ns, "to-cip")
		toHeadless = svcName(ns, "to-headless")
		toCIP2     = svcName(ns, "to-cip2")
		portNum    = svcName(ns, "port-num")
		portAdd    = svcName(ns, "port-add")
		portRename = svcName(ns, "port-rename")
		extTarget  = svcName(ns, "ext-target")
		extChase   = svcName(ns, "ext-chase")
		chased     = svcName(ns, "chased")
		readyOne   = svcName(ns, "ready-one")
		readyLast  = svcName(ns, "ready-last")
		readyBack  = svcName(ns, "ready-back")
		ptrHost    = svcName(ns, "ptr-host")
	)
	ptrName, err := dns.ReverseAddr("10.244.30.30")
	if err != nil {
		t.Fatal(err)
	}
	http80 := tcpPort("http", 80)

	cases := []propagationCase{
		{
			name: "type ClusterIP to ExternalName",
			q:    question{toExt, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, clusterIPService(ns, "to-ext", "10.96.30.11", http80))
			},
			before: answer(toExt + " 30 IN A 10.96.30.11"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateService(t, c, ns, "to-ext", func(s *corev1.Service) {
					// An ExternalName Service has no cluster IPs or IP families.
					s.Spec.Type = corev1.ServiceTypeExternalName
					s.Spec.ExternalName = "target.prop.svc.cluster.local"
					s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
					s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = nil, nil
				})
			},
			after: answer(toExt+" 30 IN CNAME "+target, target+" 30 IN A 10.96.30.10"),
		},
		{
			name: "type ExternalName to ClusterIP",
			q:    question{toCIP, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, externalNameService(ns, "to-cip", "target.prop.svc.cluster.local"))
			},
			before: answer(toCIP+" 30 IN CNAME "+target, target+" 30 IN A 10.96.30.10"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateService(t, c, ns, "to-cip", func(s *corev1.Service) {
					s.Spec.Type = corev1.ServiceTypeClusterIP
					s.Spec.ExternalName = ""
					s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.30.12", []string{"10.96.30.12"}
					s.Spec.Ports = []corev1.ServicePort{http80}
				})
			},
			after: answer(toCIP + " 30 IN A 10.96.30.12"),
		},
		{
			// spec.clusterIP is immutable: a ClusterIP Service becomes
			// headless by being deleted and created again.
			name: "type ClusterIP to headless by delete and create",
			q:    question{toHeadless, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, clusterIPService(ns, "to-headless", "10.96.30.13", http80))
				createSlice(t, c, endpointSlice(ns, "to-headless-1", "to-headless", "http", 80,
					endpoint("10.244.30.1", true, ""), endpoint("10.244.30.2", true, "")))
			},
			before: answer(toHeadless + " 30 IN A 10.96.30.13"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				deleteService(t, c, ns, "to-headless")
				createService(t, c, headlessService(ns, "to-headless", http80))
			},
			after:     answer(toHeadless+" 30 IN A 10.244.30.1", toHeadless+" 30 IN A 10.244.30.2"),
			transient: []expect{nxdomain()},
		},
		{
			name: "type headless to ClusterIP by delete and create",
			q:    question{toCIP2, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, headlessService(ns, "to-cip2", http80))
				createSlice(t, c, endpointSlice(ns, "to-cip2-1", "to-cip2", "http", 80, endpoint("10.244.30.3", true, "")))
			},
			before: answer(toCIP2 + " 30 IN A 10.244.30.3"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				deleteService(t, c, ns, "to-cip2")
				createService(t, c, clusterIPService(ns, "to-cip2", "10.96.30.14", http80))
			},
			after:     answer(toCIP2 + " 30 IN A 10.96.30.14"),
			transient: []expect{nxdomain()},
		},
		{
			name: "port number changed",
			q:    question{"_http._tcp." + portNum, dns.TypeSRV},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, clusterIPService(ns, "port-num", "10.96.30.15", http80))
			},
			before: answer("_http._tcp." + portNum + " 30 IN SRV 0 100 80 " + portNum),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateService(t, c, ns, "port-num", func(s *corev1.Service) {
					s.Spec.Ports = []corev1.ServicePort{tcpPort("http", 8080)}
				})
			},
			after: answer("_http._tcp." + portNum + " 30 IN SRV 0 100 8080 " + portNum),
		},
		{
			name: "port added, over TCP",
			q:    question{portAdd, dns.TypeSRV},
			tcp:  true,
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, clusterIPService(ns, "port-add", "10.96.30.16", http80))
			},
			before: answer(portAdd + " 30 IN SRV 0 100 80 " + portAdd),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateService(t, c, ns, "port-add", func(s *corev1.Service) {
					s.Spec.Ports = append(s.Spec.Ports, tcpPort("metrics", 9090))
				})
			},
			after: answer(portAdd+" 30 IN SRV 0 50 80 "+portAdd, portAdd+" 30 IN SRV 0 50 9090 "+portAdd),
		},
		{
			name: "port renamed",
			q:    question{"_http._tcp." + portRename, dns.TypeSRV},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, clusterIPService(ns, "port-rename", "10.96.30.17", http80))
			},
			before: answer("_http._tcp." + portRename + " 30 IN SRV 0 100 80 " + portRename),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateService(t, c, ns, "port-rename", func(s *corev1.Service) {
					s.Spec.Ports[0].Name = "web"
				})
			},
			after: nxdomain(),
		},
		{
			name: "ExternalName target changed",
			q:    question{extTarget, dns.TypeCNAME},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, externalNameService(ns, "ext-target", "one.example.invalid"))
			},
			before: answer(extTarget + " 30 IN CNAME one.example.invalid."),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateService(t, c, ns, "ext-target", func(s *corev1.Service) {
					s.Spec.ExternalName = "two.example.invalid"
				})
			},
			after: answer(extTarget + " 30 IN CNAME two.example.invalid."),
		},
		{
			// The cached answer chases the in-zone target: it depends on the
			// target Service too.
			name: "ExternalName target Service deleted",
			q:    question{extChase, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, clusterIPService(ns, "chased", "10.96.30.18", http80))
				createService(t, c, externalNameService(ns, "ext-chase", "chased.prop.svc.cluster.local"))
			},
			before: answer(extChase+" 30 IN CNAME "+chased, chased+" 30 IN A 10.96.30.18"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				deleteService(t, c, ns, "chased")
			},
			after: answer(extChase + " 30 IN CNAME " + chased),
		},
		{
			name: "endpoint turned unready",
			q:    question{readyOne, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, headlessService(ns, "ready-one", http80))
				createSlice(t, c, endpointSlice(ns, "ready-one-1", "ready-one", "http", 80,
					endpoint("10.244.30.20", true, ""), endpoint("10.244.30.21", true, "")))
			},
			before: answer(readyOne+" 30 IN A 10.244.30.20", readyOne+" 30 IN A 10.244.30.21"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateSlice(t, c, ns, "ready-one-1", func(s *discoveryv1.EndpointSlice) {
					setReady(s, "10.244.30.21", false)
				})
			},
			after: answer(readyOne + " 30 IN A 10.244.30.20"),
		},
		{
			name: "last ready endpoint turned unready",
			q:    question{readyLast, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, headlessService(ns, "ready-last", http80))
				createSlice(t, c, endpointSlice(ns, "ready-last-1", "ready-last", "http", 80,
					endpoint("10.244.30.22", true, ""), endpoint("10.244.30.23", false, "")))
			},
			before: answer(readyLast + " 30 IN A 10.244.30.22"),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateSlice(t, c, ns, "ready-last-1", func(s *discoveryv1.EndpointSlice) {
					setReady(s, "10.244.30.22", false)
				})
			},
			after: nxdomain(),
		},
		{
			// A cached NXDOMAIN must go as well as a cached address.
			name: "unready endpoint turned ready",
			q:    question{readyBack, dns.TypeA},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, headlessService(ns, "ready-back", http80))
				createSlice(t, c, endpointSlice(ns, "ready-back-1", "ready-back", "http", 80, endpoint("10.244.30.24", false, "")))
			},
			before: nxdomain(),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateSlice(t, c, ns, "ready-back-1", func(s *discoveryv1.EndpointSlice) {
					setReady(s, "10.244.30.24", true)
				})
			},
			after: answer(readyBack + " 30 IN A 10.244.30.24"),
		},
		{
			// A reverse answer depends on the address, not on a name asked.
			name: "endpoint hostname changed (PTR)",
			q:    question{ptrName, dns.TypePTR},
			setup: func(t *testing.T, c *kubecluster.Cluster) {
				createService(t, c, headlessService(ns, "ptr-host", http80))
				createSlice(t, c, endpointSlice(ns, "ptr-host-1", "ptr-host", "http", 80, endpoint("10.244.30.30", true, "h1")))
			},
			before: answer(ptrName + " 30 IN PTR h1." + ptrHost),
			change: func(t *testing.T, c *kubecluster.Cluster) {
				updateSlice(t, c, ns, "ptr-host-1", func(s *discoveryv1.EndpointSlice) {
					h2 := "h2"
					s.Endpoints[0].Hostname = &h2
				})
			},
			after: answer(ptrName + " 30 IN PTR h2." + ptrHost),
		},
	}

	// The record service has synced once the target Service resolves.
	stack.Eventually(t, syncTimeout, fe.Addr, target, dns.TypeA, false, func(r *dns.Msg) string {
		return checkAnswer(t, r, target+" 30 IN A 10.96.30.10")
	})
	// Rows run one after the other: waitCached reads the frontend's global
	// cache hit counter.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t, c)
			before, after := tc.before.state(t), tc.after.state(t)
			allowed := []answerState{before}
			for _, e := range tc.transient {
				allowed = append(allowed, e.state(t))
			}
			stack.Eventually(t, syncTimeout, fe.Addr, tc.q.name, tc.q.qtype, tc.tcp, func(r *dns.Msg) string {
				if got := stateOf(r); got != before {
					return "got " + got.String() + ", want " + before.String()
				}
				return ""
			})
			waitCached(t, fe, tc.q, tc.tcp, before)

			tc.change(t, c)
			written := time.Now()
			d := awaitState(t, fe, tc.q, tc.tcp, written, after, allowed...)
			t.Logf("%s over %s: new answer %v after the API write returned", tc.q, stack.Transport(tc.tcp), d.Round(time.Millisecond))
			// The new answer stays and is cached in turn.
			waitCached(t, fe, tc.q, tc.tcp, after)
		})
	}
}
