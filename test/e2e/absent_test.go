package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// TestAbsentBelow: after one NXDOMAIN below a namespace, the frontend
// answers NXDOMAIN for every other missing name there from the
// namespace's directory, without the record service (each such reply is a
// cache hit), over UDP and TCP; names of existing Services still get their
// records; and a Service created under a name the directory proved absent,
// never asked before, answers at once, as does one asked and then
// deleted.
func TestAbsentBelow(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "absent"
	createNamespace(t, c, ns)
	createService(t, c, clusterIPService(ns, "web", "10.96.70.10", tcpPort("http", 80)))
	createService(t, c, headlessService(ns, "hl", tcpPort("http", 80)))
	createSlice(t, c, endpointSlice(ns, "hl-1", "hl", "http", 80, endpoint("10.244.70.1", true, "pod-0")))

	rs := stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
	fe := stack.StartFrontend(t, bins, rs.Addr, "--cluster-cache-ttl", "5m")

	web := question{svcName(ns, "web"), dns.TypeA}
	webState := answer(web.name + " 30 IN A 10.96.70.10").state(t)
	stack.Eventually(t, syncTimeout, fe.Addr, web.name, web.qtype, false, func(r *dns.Msg) string {
		if got := stateOf(r); got != webState {
			return "got " + got.String() + ", want " + webState.String()
		}
		return ""
	})
	nx := nxdomain().state(t)

	// The first NXDOMAIN below the namespace brings its directory; ristretto
	// stores it asynchronously, so new names are asked until one is a hit.
	if got := ask(t, fe, question{svcName(ns, "first-missing"), dns.TypeA}, false); got != nx {
		t.Fatalf("first-missing: %v, want NXDOMAIN", got)
	}
	deadline := time.Now().Add(cachedTimeout)
	for i := 0; ; i++ {
		q := question{svcName(ns, fmt.Sprintf("probe-%d", i)), dns.TypeA}
		before := cacheHits(t, fe)
		if got := ask(t, fe, q, false); got != nx {
			t.Fatalf("%s: %v, want NXDOMAIN", q, got)
		}
		if cacheHits(t, fe) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no NXDOMAIN answered from the directory within %v", cachedTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Never asked before: every one is answered from the directory.
	for _, q := range []struct {
		question
		tcp bool
	}{
		{question{svcName(ns, "never-asked"), dns.TypeA}, false},
		{question{svcName(ns, "never-asked-tcp"), dns.TypeAAAA}, true},
		{question{"_http._tcp." + svcName(ns, "no-such-svc"), dns.TypeSRV}, false},
		{question{"pod-0." + svcName(ns, "no-such-svc"), dns.TypeA}, false},
		{question{"Mixed-Case." + ns + ".svc.cluster.local.", dns.TypeTXT}, true},
	} {
		before := cacheHits(t, fe)
		if got := ask(t, fe, q.question, q.tcp); got != nx {
			t.Errorf("%s over %s: %v, want NXDOMAIN", q.question, stack.Transport(q.tcp), got)
		}
		if after := cacheHits(t, fe); after != before+1 {
			t.Errorf("%s over %s: not answered from the cache (hits %v -> %v)", q.question, stack.Transport(q.tcp), before, after)
		}
	}
	// Listed labels still reach their records.
	for q, want := range map[question]answerState{
		web:                            webState,
		{svcName(ns, "hl"), dns.TypeA}: answer(svcName(ns, "hl") + " 30 IN A 10.244.70.1").state(t),
		{"pod-0." + svcName(ns, "hl"), dns.TypeA}: answer("pod-0." + svcName(ns, "hl") + " 30 IN A 10.244.70.1").state(t),
	} {
		if got := ask(t, fe, q, false); got != want {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}

	// A Service created under a name only the directory answered: the
	// frontend answers its address within the propagation bound, and never
	// anything but NXDOMAIN before.
	created := question{svcName(ns, "never-asked"), dns.TypeA}
	createService(t, c, clusterIPService(ns, "never-asked", "10.96.70.11", tcpPort("http", 80)))
	written := time.Now()
	d := awaitState(t, fe, created, false, written, answer(created.name+" 30 IN A 10.96.70.11").state(t), nx)
	t.Logf("%s: new answer after %v", created, d.Round(time.Millisecond))

	// The next NXDOMAIN brings the new directory; a deleted Service is
	// NXDOMAIN again as soon as its deletion is announced.
	if got := ask(t, fe, question{svcName(ns, "second-missing"), dns.TypeA}, false); got != nx {
		t.Fatalf("second-missing: %v, want NXDOMAIN", got)
	}
	deleteService(t, c, ns, "never-asked")
	written = time.Now()
	d = awaitState(t, fe, created, false, written, nx, answer(created.name+" 30 IN A 10.96.70.11").state(t))
	t.Logf("%s: NXDOMAIN after deletion after %v", created, d.Round(time.Millisecond))
	// Another namespace has no directory yet: its names go to the record
	// service, and a Service there answers.
	createNamespace(t, c, "absent-other")
	createService(t, c, clusterIPService("absent-other", "web", "10.96.70.12", tcpPort("http", 80)))
	other := question{svcName("absent-other", "web"), dns.TypeA}
	stack.Eventually(t, syncTimeout, fe.Addr, other.name, other.qtype, false, func(r *dns.Msg) string {
		return checkAnswer(t, r, other.name+" 30 IN A 10.96.70.12")
	})
}
