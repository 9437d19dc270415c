package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

// Issue #5's failover proofs: one frontend given two record service
// replicas (`--recordsvc R1,R2`) follows one of them for both Lookup and
// Watch, moves to the other when it dies without a false answer, and keeps
// answering its cached names (stale) while every replica is down.

const (
	// watchServerMetric is 1 for the server_id of the replica whose Watch
	// stream the frontend follows.
	watchServerMetric = "clusterdns_frontend_recordsvc_watch_server"
	// staleAnswersMetric counts answers served past their life, by source.
	staleAnswersMetric = "clusterdns_frontend_stale_answers_total"
	// lookupsMetric counts the Lookups a record service answered.
	lookupsMetric = "clusterdns_recordsvc_lookups_total"
	// syncedMetric is 1 once a record service has synced its indexes.
	syncedMetric = "clusterdns_recordsvc_synced"
	// failoverBound is the longest the frontend may take to follow the
	// surviving replica after the pinned one is killed.
	failoverBound = 15 * time.Second
	// recoveryBound is the longest the frontend may take to answer fresh
	// again once a replica returns after every replica was down (its gRPC
	// reconnect backoff is capped at 5 s).
	recoveryBound = 20 * time.Second
	// staleTTL is the TTL of stale answers (the frontend's --stale-ttl
	// default, RFC 8767).
	staleTTL = 30
)

// TestReplicaFailover is issue #5's "killing the pinned replica moves the
// frontend to the other with no false NXDOMAIN". One frontend is given two
// replicas of the record service on one API server. The replica it follows
// is found twice over: by the server_id of its Watch stream (metric) and by
// the Lookup counter that moves when the frontend is asked uncached names.
// While a prober asks cached names and ever new uncached names (existing pod
// names and absent Service names, each a Lookup) continuously, the pinned
// replica is killed: no existing name may get NXDOMAIN, no absent name
// NOERROR, no cached name SERVFAIL; the frontend must follow the other
// replica for Watch and Lookup, and a Service created afterwards where an
// NXDOMAIN was cached must show within propagationBound, which only an
// invalidation from the new replica's Watch stream can do.
func TestReplicaFailover(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "failover"
	createNamespace(t, c, ns)
	cached := []probeQuestion{}
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		ip := fmt.Sprintf("10.96.80.%d", 10+i)
		createService(t, c, clusterIPService(ns, name, ip, tcpPort("http", 80)))
		cached = append(cached, probeQuestion{
			q:    question{svcName(ns, name), dns.TypeA},
			want: answer(svcName(ns, name) + " 30 IN A " + ip).state(t),
		})
	}
	srv := "_http._tcp." + svcName(ns, "web-0")
	cached = append(cached, probeQuestion{
		q:    question{srv, dns.TypeSRV},
		want: answer(srv + " 30 IN SRV 0 100 80 " + svcName(ns, "web-0")).state(t),
	})
	createService(t, c, headlessService(ns, "db", tcpPort("sql", 5432)))
	createSlice(t, c, endpointSlice(ns, "db-1", "db", "sql", 5432,
		endpoint("10.244.80.1", true, ""), endpoint("10.244.80.2", true, "")))
	cached = append(cached, probeQuestion{
		q:    question{svcName(ns, "db"), dns.TypeA},
		want: answer(svcName(ns, "db")+" 30 IN A 10.244.80.1", svcName(ns, "db")+" 30 IN A 10.244.80.2").state(t),
	}, probeQuestion{
		q:    question{svcName(ns, "absent"), dns.TypeA},
		want: nxdomain().state(t),
	})
	for i := range cached {
		cached[i].cached = true
	}

	replicas := []*stack.Process{
		stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "insecure"),
		stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "insecure"),
	}
	for _, r := range replicas {
		awaitSynced(t, r)
	}
	fe := stack.StartFrontend(t, bins, replicas[0].Addr+","+replicas[1].Addr)
	for _, pq := range cached {
		stack.Eventually(t, syncTimeout, fe.Addr, pq.q.name, pq.q.qtype, false, func(r *dns.Msg) string {
			if got := stateOf(r); got != pq.want {
				return "got " + got.String() + ", want " + pq.want.String()
			}
			return ""
		})
		waitCached(t, fe, pq.q, false, pq.want)
	}

	pinned := pinnedReplica(t, fe, replicas)
	survivor := 1 - pinned
	pinnedID, survivorID := recordServiceID(t, replicas[pinned]), recordServiceID(t, replicas[survivor])
	t.Logf("frontend follows replica %d (%s, server_id %s); the other is %s (server_id %s)",
		pinned+1, replicas[pinned].Addr, pinnedID, replicas[survivor].Addr, survivorID)
	// Lookups go where the Watch stream goes.
	assertLookupsGoTo(t, fe, replicas, pinned, uniqueQuestions(ns, 1, 8))

	// The prober runs before, during and after the kill.
	ctx, cancel := context.WithCancel(context.Background())
	probe := &failoverProbe{}
	var wg sync.WaitGroup
	wg.Go(func() { probe.run(ctx, fe, cached, ns) })
	stopProbe := func() {
		cancel()
		wg.Wait()
	}
	defer stopProbe()

	time.Sleep(time.Second)
	killed := time.Now()
	replicas[pinned].Kill()
	if got := awaitWatchServer(t, fe, survivorID, failoverBound); got != survivorID {
		t.Fatalf("frontend still follows %q %v after replica %d was killed, want the survivor %s",
			got, failoverBound, pinned+1, survivorID)
	}
	t.Logf("frontend follows the survivor %v after the kill", time.Since(killed).Round(time.Millisecond))
	// Let the prober ask through the new replica for a while.
	time.Sleep(2 * time.Second)
	stopProbe()

	t.Logf("prober: %d questions (%d uncached), SERVFAIL for %d uncached and %d cached names, %d exchange errors, %d wrong answers",
		probe.asked, probe.unique, probe.servfailUncached, probe.servfailCached, len(probe.errors), len(probe.wrong))
	if probe.asked < 200 {
		t.Errorf("only %d questions asked across the failover", probe.asked)
	}
	if len(probe.wrong) > 0 {
		t.Errorf("%d wrong answers across the failover (false NXDOMAIN, NOERROR for absent names, wrong data); the first ones:\n%s",
			len(probe.wrong), strings.Join(probe.wrong[:min(len(probe.wrong), 10)], "\n"))
	}
	if probe.servfailCached > 0 {
		t.Errorf("%d SERVFAIL answers for cached names across the failover: a cached answer must be served (stale if need be) while the record service fails; the first ones:\n%s",
			probe.servfailCached, strings.Join(probe.servfailCachedLog, "\n"))
	}
	if len(probe.errors) > 0 {
		t.Logf("questions without a reply (allowed for uncached names while the frontend fails over):\n%s",
			strings.Join(probe.errors[:min(len(probe.errors), 10)], "\n"))
	}
	if probe.cachedErrors > 0 {
		t.Errorf("%d questions for cached names got no reply across the failover", probe.cachedErrors)
	}

	// Lookups moved with the Watch stream.
	assertLookupsGoTo(t, fe, replicas, survivor, uniqueQuestions(ns, 2, 8))

	// The Watch stream moved too: an NXDOMAIN cached from the survivor is
	// dropped by its invalidation when the Service appears, far within the
	// negative answer's 30 s TTL.
	later := question{svcName(ns, "after-failover"), dns.TypeA}
	absent, present := nxdomain().state(t), answer(later.name+" 30 IN A 10.96.80.99").state(t)
	waitCached(t, fe, later, false, absent)
	createService(t, c, clusterIPService(ns, "after-failover", "10.96.80.99", tcpPort("http", 80)))
	d := awaitState(t, fe, later, false, time.Now(), present, absent)
	t.Logf("Service created after the failover shows through the frontend after %v", d.Round(time.Millisecond))
}

// TestAllReplicasDown is issue #5's "with every replica down, cached names
// are still answered, uncached ones get SERVFAIL, and answers recover when a
// replica returns". The record services give TTL 1 and the frontend keeps
// cluster answers for their record TTL only, so that cached answers are past
// their life a second after the replicas die: they are then served stale
// (RFC 8767: TTL 30) while names never asked get SERVFAIL, never NXDOMAIN,
// and the frontend stays ready. When one replica is started again on its
// address the answers are fresh again (TTL 1) and the frontend follows it.
func TestAllReplicasDown(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "alldown"
	createNamespace(t, c, ns)
	createService(t, c, clusterIPService(ns, "web", "10.96.81.10", tcpPort("http", 80)))
	createService(t, c, clusterIPService(ns, "api", "10.96.81.11", tcpPort("http", 80)))
	web := question{svcName(ns, "web"), dns.TypeA}
	webSRV := question{"_http._tcp." + svcName(ns, "web"), dns.TypeSRV}
	cached := []probeQuestion{
		{q: web, want: answer(web.name + " 1 IN A 10.96.81.10").state(t)},
		{q: webSRV, want: answer(webSRV.name + " 1 IN SRV 0 100 80 " + web.name).state(t)},
		{q: question{svcName(ns, "absent"), dns.TypeA}, want: nxdomain().state(t)},
	}
	api := question{svcName(ns, "api"), dns.TypeA}
	pod := question{"10-244-81-7." + ns + ".pod." + clusterDomain, dns.TypeA}
	uncached := []probeQuestion{
		{q: api, want: answer(api.name + " 1 IN A 10.96.81.11").state(t)},
		{q: pod, want: answer(pod.name + " 1 IN A 10.244.81.7").state(t)},
		{q: question{svcName(ns, "other-absent"), dns.TypeA}, want: nxdomain().state(t)},
	}

	replicas := []*stack.Process{
		stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "insecure", "--ttl", "1"),
		stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig, "--pods", "insecure", "--ttl", "1"),
	}
	for _, r := range replicas {
		awaitSynced(t, r)
	}
	fe := stack.StartFrontend(t, bins, replicas[0].Addr+","+replicas[1].Addr, "--cluster-cache-ttl", "0",
		"--ready-fail-open", readyFailOpen.String())
	for _, pq := range cached {
		stack.Eventually(t, syncTimeout, fe.Addr, pq.q.name, pq.q.qtype, false, func(r *dns.Msg) string {
			if got := stateOf(r); got != pq.want {
				return "got " + got.String() + ", want " + pq.want.String()
			}
			return checkTTLs(r, 0, 1)
		})
		waitCached(t, fe, pq.q, false, pq.want)
	}
	pinnedReplica(t, fe, replicas)

	for _, r := range replicas {
		r.Kill()
	}
	// Every cached answer had a 1 s life: it is past it now.
	time.Sleep(1500 * time.Millisecond)

	t.Run("cached names are answered stale", func(t *testing.T) {
		before := stack.ScrapeMetrics(t, fe.MetricsAddr).SumWhere(staleAnswersMetric, map[string]string{"source": "cluster"})
		const rounds = 3
		for range rounds {
			for _, pq := range cached {
				r := stack.Query(t, fe.Addr, pq.q.name, pq.q.qtype, false)
				if got := stateOf(r); got != pq.want {
					t.Errorf("%s with every replica down: %v, want the cached %v", pq.q, got, pq.want)
				}
				if complaint := checkTTLs(r, staleTTL, staleTTL); complaint != "" {
					t.Errorf("%s with every replica down: %s (a stale answer)", pq.q, complaint)
				}
			}
		}
		after := stack.ScrapeMetrics(t, fe.MetricsAddr).SumWhere(staleAnswersMetric, map[string]string{"source": "cluster"})
		if want := before + float64(rounds*len(cached)); after != want {
			t.Errorf("%s{source=\"cluster\"} went from %v to %v, want %v", staleAnswersMetric, before, after, want)
		}
	})
	t.Run("uncached names get SERVFAIL", func(t *testing.T) {
		for _, pq := range uncached {
			r := stack.Query(t, fe.Addr, pq.q.name, pq.q.qtype, false)
			if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
				t.Errorf("%s with every replica down and nothing cached: %v, want SERVFAIL", pq.q, stateOf(r))
			}
		}
	})
	// Unready first (traffic should move to frontends that can answer
	// everything), then ready again once the outage has lasted
	// --ready-fail-open: it is then everyone's, and an empty kube-dns Service
	// would lose the stale and external answers too.
	t.Run("frontend unready, then fails open", func(t *testing.T) {
		awaitReady(t, fe, http.StatusServiceUnavailable, readyFailOpen)
		awaitReady(t, fe, http.StatusOK, 3*readyFailOpen)
	})

	returned := time.Now()
	replicas[0].Restart(t)
	awaitSynced(t, replicas[0])
	id := recordServiceID(t, replicas[0])
	for _, pq := range append(cached, uncached...) {
		stack.Eventually(t, recoveryBound, fe.Addr, pq.q.name, pq.q.qtype, false, func(r *dns.Msg) string {
			got := stateOf(r)
			switch {
			case got == pq.want:
				return checkTTLs(r, 0, 1)
			case r.Rcode == dns.RcodeServerFailure:
				return "still SERVFAIL"
			default:
				t.Errorf("%s while a replica returns: %v, want %v (or SERVFAIL before it is back)", pq.q, got, pq.want)
				return ""
			}
		})
	}
	t.Logf("fresh answers %v after a replica was started again", time.Since(returned).Round(time.Millisecond))
	if got := awaitWatchServer(t, fe, id, recoveryBound); got != id {
		t.Errorf("frontend follows %q, want the returned replica %s", got, id)
	}
	before := stack.ScrapeMetrics(t, fe.MetricsAddr).SumWhere(staleAnswersMetric, map[string]string{"source": "cluster"})
	for _, pq := range append(cached, uncached...) {
		if got := ask(t, fe, pq.q, false); got != pq.want {
			t.Errorf("%s after recovery: %v, want %v", pq.q, got, pq.want)
		}
	}
	if after := stack.ScrapeMetrics(t, fe.MetricsAddr).SumWhere(staleAnswersMetric, map[string]string{"source": "cluster"}); after != before {
		t.Errorf("%s{source=\"cluster\"} moved from %v to %v after recovery", staleAnswersMetric, before, after)
	}
}

// probeQuestion is a question with its expected answer state; cached marks
// the names the frontend is known to hold.
type probeQuestion struct {
	q      question
	want   answerState
	cached bool
}

// uniqueQuestions returns n questions no other part of a test asks: the A
// records of pod names 10.(200+block).x.y (which exist, with pods insecure,
// in namespace ns) and Service names in namespace <ns>-gone, which does not
// exist, alternately. (Absent names of an existing namespace would be
// answered by the frontend from the namespace's directory.)
func uniqueQuestions(ns string, block, n int) []probeQuestion {
	out := make([]probeQuestion, 0, n)
	for i := range n {
		out = append(out, uniqueQuestion(ns, block, i))
	}
	return out
}

// uniqueQuestion is the i-th question of uniqueQuestions; it may be called
// from any goroutine.
func uniqueQuestion(ns string, block, i int) probeQuestion {
	j := i / 2
	if i%2 == 1 {
		return probeQuestion{
			q:    question{svcName(ns+"-gone", fmt.Sprintf("gone-%d-%d", block, j)), dns.TypeA},
			want: answerState(dns.RcodeToString[dns.RcodeNameError] + "\n"),
		}
	}
	ip := fmt.Sprintf("10.%d.%d.%d", 200+block, j/250%256, j%250+1)
	name := strings.ReplaceAll(ip, ".", "-") + "." + ns + ".pod." + clusterDomain
	rr := &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}}
	rr.A = net.ParseIP(ip).To4()
	return probeQuestion{
		q:    question{name, dns.TypeA},
		want: answerState(dns.RcodeToString[dns.RcodeSuccess] + "\n" + strings.Join(normalized([]dns.RR{rr}), "\n")),
	}
}

// failoverProbe collects what the prober of TestReplicaFailover saw. Only
// its own goroutine touches it until run returns.
type failoverProbe struct {
	asked, unique int
	// servfailCached and servfailUncached count SERVFAIL replies;
	// servfailCachedLog describes the first ones for cached names.
	servfailCached, servfailUncached int
	servfailCachedLog                []string
	// cachedErrors counts exchanges for cached names without a reply.
	cachedErrors int
	// wrong describes each reply that was neither the expected state nor
	// SERVFAIL, errors each exchange that got no reply.
	wrong, errors []string
}

// run asks, in turn, one of the cached questions and one question never
// asked before (block 0 of uniqueQuestion), until ctx ends.
func (p *failoverProbe) run(ctx context.Context, fe *stack.Process, cached []probeQuestion, ns string) {
	for i := 0; ; i++ {
		for _, pq := range []probeQuestion{cached[i%len(cached)], uniqueQuestion(ns, 0, i)} {
			if ctx.Err() != nil {
				return
			}
			r, err := stack.Exchange(ctx, fe.Addr, stack.NewQuery(pq.q.name, pq.q.qtype), false)
			if ctx.Err() != nil {
				return
			}
			p.check(pq, r, err, time.Now().Format("15:04:05.000"))
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// check records one reply (or exchange error) at the time stamp now.
func (p *failoverProbe) check(pq probeQuestion, r *dns.Msg, err error, now string) {
	p.asked++
	if !pq.cached {
		p.unique++
	}
	switch {
	case err != nil:
		if pq.cached {
			p.cachedErrors++
		}
		p.errors = append(p.errors, fmt.Sprintf("%s %s: %v", now, pq.q, err))
	case stateOf(r) == pq.want:
	case r.Rcode == dns.RcodeServerFailure && len(r.Answer) == 0:
		if !pq.cached {
			p.servfailUncached++
			return
		}
		p.servfailCached++
		if len(p.servfailCachedLog) < 10 {
			p.servfailCachedLog = append(p.servfailCachedLog, fmt.Sprintf("%s %s", now, pq.q))
		}
	default:
		p.wrong = append(p.wrong, fmt.Sprintf("%s %s: got %v, want %v", now, pq.q, stateOf(r), pq.want))
	}
}

// awaitSynced waits until the record service reports its indexes synced.
func awaitSynced(t testing.TB, rs *stack.Process) {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := stack.Scrape(ctx, rs.MetricsAddr)
		cancel()
		if err == nil && m.Sum(syncedMetric) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("record service %s not synced after %v (last scrape error: %v)", rs.Addr, syncTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recordServiceID returns the server_id the record service logged at its
// latest start ("record service listening ... server_id=ID").
func recordServiceID(t testing.TB, rs *stack.Process) string {
	t.Helper()
	data, err := os.ReadFile(rs.LogPath)
	if err != nil {
		t.Fatalf("record service log: %v", err)
	}
	id := ""
	for line := range strings.Lines(string(data)) {
		if !strings.Contains(line, `msg="record service listening"`) {
			continue
		}
		for field := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(field, "server_id="); ok {
				id = v
			}
		}
	}
	if id == "" {
		t.Fatalf("record service %s logged no server_id:\n%s", rs.Addr, rs.LogTail(20))
	}
	return id
}

// watchServer returns the server_id whose watchServerMetric sample is 1, ""
// when the frontend follows no stream.
func watchServer(m stack.Metrics) string {
	for sample, v := range m {
		rest, ok := strings.CutPrefix(sample, watchServerMetric+"{")
		if !ok || v != 1 {
			continue
		}
		if _, value, ok := strings.Cut(rest, `server_id="`); ok {
			id, _, _ := strings.Cut(value, `"`)
			return id
		}
	}
	return ""
}

// awaitWatchServer scrapes the frontend until it follows want (or, with want
// "", any replica) or timeout passes, and returns the server_id it follows
// last.
func awaitWatchServer(t testing.TB, fe *stack.Process, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := watchServer(stack.ScrapeMetrics(t, fe.MetricsAddr))
		if (want == "" && got != "") || (want != "" && got == want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pinnedReplica returns the index of the replica whose Watch stream the
// frontend follows.
func pinnedReplica(t testing.TB, fe *stack.Process, replicas []*stack.Process) int {
	t.Helper()
	id := awaitWatchServer(t, fe, "", syncTimeout)
	if id == "" {
		t.Fatalf("frontend opened no Watch stream within %v (no %s sample)", syncTimeout, watchServerMetric)
	}
	for i, r := range replicas {
		if recordServiceID(t, r) == id {
			return i
		}
	}
	t.Fatalf("frontend follows server_id %s, which no replica logged", id)
	return -1
}

// assertLookupsGoTo asks the frontend the questions, each unasked before,
// and checks that their Lookups reached the replica want only: its Lookup
// counter moves by at least one per question (a retried exchange may ask
// twice), the other running replicas' not at all.
func assertLookupsGoTo(t testing.TB, fe *stack.Process, replicas []*stack.Process, want int, questions []probeQuestion) {
	t.Helper()
	counts := func() []float64 {
		out := make([]float64, len(replicas))
		for i, r := range replicas {
			if r.Running() {
				out[i] = stack.ScrapeMetrics(t, r.MetricsAddr).Sum(lookupsMetric)
			}
		}
		return out
	}
	before := counts()
	for _, pq := range questions {
		if got := ask(t, fe, pq.q, false); got != pq.want {
			t.Errorf("%s: %v, want %v", pq.q, got, pq.want)
		}
	}
	after := counts()
	for i, r := range replicas {
		if !r.Running() {
			continue
		}
		moved := after[i] - before[i]
		switch {
		case i == want && moved < float64(len(questions)):
			t.Errorf("replica %d (%s), followed by the frontend, answered %v Lookups for %d new questions, want %d or more",
				i+1, r.Addr, moved, len(questions), len(questions))
		case i != want && moved != 0:
			t.Errorf("replica %d (%s), not followed by the frontend, answered %v Lookups, want 0: Lookup and Watch must go to one replica",
				i+1, r.Addr, moved)
		}
	}
}

// checkTTLs returns a complaint unless every record of the answer and
// authority sections has a TTL from lo to hi.
func checkTTLs(r *dns.Msg, lo, hi uint32) string {
	for _, section := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range section {
			if ttl := rr.Header().Ttl; ttl < lo || ttl > hi {
				return fmt.Sprintf("TTL %d in %q, want %d..%d", ttl, rr.String(), lo, hi)
			}
		}
	}
	return ""
}

// httpStatus returns the status code of a GET of url.
func httpStatus(t testing.TB, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readyFailOpen is the frontends' --ready-fail-open in TestAllReplicasDown:
// long enough to see /ready fail first on a loaded machine.
const readyFailOpen = 15 * time.Second

// awaitReady polls the frontend's /ready until it answers code.
func awaitReady(t *testing.T, fe *stack.Process, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := httpStatus(t, "http://"+fe.MetricsAddr+"/ready")
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready with every replica down: status %d after %v, want %d", got, within, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
