package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/clusterdns/clusterdns/test/kubecluster"
	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	// churnRounds is how many rounds of changes TestChurn makes; each round
	// changes three names.
	churnRounds = 50
	// churnProbePause is the pause between two questions of one prober; it
	// bounds the resolution of the measured delays.
	churnProbePause = 2 * time.Millisecond
)

// TestChurn is issue #5's probe: probers ask a fixed set of names
// continuously through two frontends (each on its own record service
// replica, cluster answers cached for 5 minutes) while Services and
// EndpointSlices churn: every round rewrites an EndpointSlice's addresses
// and readiness, flips an ExternalName target, and creates or deletes a
// Service. Every reply must be the state before or after the change in
// flight for its name (once a frontend has shown the new state, only the
// new state), and a name that exists throughout is never NXDOMAIN. For each
// change and frontend the time from the API write returning to the first
// reply with the new state is recorded, and the distribution is logged as
// `propagation p50=... p99=... n=...`. Performance is measured here, not
// asserted; the only bound is propagationBound per change.
func TestChurn(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "churn"
	createNamespace(t, c, ns)
	createService(t, c, clusterIPService(ns, "stable", "10.96.70.10", tcpPort("http", 80)))
	createService(t, c, headlessService(ns, "eps", tcpPort("http", 80)))
	createSlice(t, c, endpointSlice(ns, "eps-1", "eps", "http", 80, churnEndpoints(0)...))
	createService(t, c, externalNameService(ns, "ext", churnTarget(0)))

	s := startReplicated(t, bins, c, "--cluster-cache-ttl", "5m")

	var (
		stable = question{svcName(ns, "stable"), dns.TypeA}
		eps    = question{svcName(ns, "eps"), dns.TypeA}
		ext    = question{svcName(ns, "ext"), dns.TypeCNAME}
		toggle = question{svcName(ns, "toggle"), dns.TypeA}
	)
	questions := []question{stable, eps, ext, toggle}
	initial := map[question]answerState{
		stable: answer(stable.name + " 30 IN A 10.96.70.10").state(t),
		eps:    churnEndpointsState(t, eps.name, 0),
		ext:    answer(ext.name + " 30 IN CNAME " + churnTarget(0) + ".").state(t),
		toggle: nxdomain().state(t),
	}
	for _, fe := range s.frontends {
		for _, q := range questions {
			stack.Eventually(t, syncTimeout, fe.Addr, q.name, q.qtype, false, func(r *dns.Msg) string {
				if got := stateOf(r); got != initial[q] {
					return "got " + got.String() + ", want " + initial[q].String()
				}
				return ""
			})
		}
	}

	track := newChurnTracker(len(s.frontends), initial)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// One prober per frontend and name, so that a change is seen within
	// about churnProbePause of reaching a frontend.
	for i, fe := range s.frontends {
		for _, q := range questions {
			wg.Go(func() { track.probe(ctx, i, fe, q) })
		}
	}
	stopProbes := func() {
		cancel()
		wg.Wait()
	}
	defer stopProbes()

	started := time.Now()
	for round := 1; round <= churnRounds; round++ {
		track.change(eps, churnEndpointsState(t, eps.name, round), func() {
			updateSlice(t, c, ns, "eps-1", func(s *discoveryv1.EndpointSlice) { s.Endpoints = churnEndpoints(round) })
		})
		track.change(ext, answer(ext.name+" 30 IN CNAME "+churnTarget(round)+".").state(t), func() {
			updateService(t, c, ns, "ext", func(s *corev1.Service) { s.Spec.ExternalName = churnTarget(round) })
		})
		if round%2 == 1 {
			ip := fmt.Sprintf("10.96.71.%d", round)
			track.change(toggle, answer(toggle.name+" 30 IN A "+ip).state(t), func() {
				createService(t, c, clusterIPService(ns, "toggle", ip, tcpPort("http", 80)))
			})
		} else {
			track.change(toggle, nxdomain().state(t), func() { deleteService(t, c, ns, "toggle") })
		}
		if pending := track.awaitSettled(propagationBound); len(pending) > 0 {
			t.Errorf("round %d: not propagated within %v: %s", round, propagationBound, strings.Join(pending, "; "))
			break
		}
	}
	elapsed := time.Since(started)
	stopProbes()

	delays, asked, wrong := track.results()
	slices.Sort(delays)
	t.Logf("%d rounds of 3 changes in %v; %d questions asked through %d frontends", churnRounds, elapsed.Round(time.Millisecond), asked, len(s.frontends))
	t.Logf("propagation p50=%v p99=%v n=%d (max %v; from the API write returning to the new answer at a frontend, probed every ~%v)",
		durationPercentile(delays, 50).Round(10*time.Microsecond), durationPercentile(delays, 99).Round(10*time.Microsecond), len(delays),
		durationPercentile(delays, 100).Round(10*time.Microsecond), churnProbePause)
	if len(wrong) > 0 {
		t.Errorf("%d wrong answers during the churn; the first ones:\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 10)], "\n"))
	}
	if want := churnRounds * 3 * len(s.frontends); len(delays) != want && !t.Failed() {
		t.Errorf("%d propagation delays measured, want %d", len(delays), want)
	}
}

// churnEndpoints are the endpoints of the churned EndpointSlice in a round:
// two addresses of their own, the second one unready in odd rounds.
func churnEndpoints(round int) []discoveryv1.Endpoint {
	return []discoveryv1.Endpoint{
		endpoint(fmt.Sprintf("10.244.70.%d", 2*round+1), true, ""),
		endpoint(fmt.Sprintf("10.244.70.%d", 2*round+2), round%2 == 0, ""),
	}
}

// churnEndpointsState is the answer of the churned headless Service in a
// round: its ready addresses.
func churnEndpointsState(t testing.TB, name string, round int) answerState {
	t.Helper()
	var records []string
	for _, e := range churnEndpoints(round) {
		if *e.Conditions.Ready {
			records = append(records, name+" 30 IN A "+e.Addresses[0])
		}
	}
	return answer(records...).state(t)
}

// churnTarget is the ExternalName target in a round.
func churnTarget(round int) string {
	return fmt.Sprintf("t%d.example.invalid", round)
}

// churnTracker holds, for each frontend and name, the state the name
// answers and the change in flight, and collects what the probers saw.
type churnTracker struct {
	mu     sync.Mutex
	names  []map[question]*trackedName
	delays []time.Duration
	asked  int
	wrong  []string
	// settled is signalled when a prober sees a pending state.
	settled chan struct{}
}

// trackedName is one name at one frontend.
type trackedName struct {
	current answerState
	// next is the state of the change in flight, "" when none.
	next answerState
	// written is when the API write of next returned; zero before.
	written time.Time
	// seen is when a reply first showed next; zero before.
	seen time.Time
}

func newChurnTracker(frontends int, initial map[question]answerState) *churnTracker {
	tr := &churnTracker{settled: make(chan struct{}, 1)}
	for range frontends {
		m := make(map[question]*trackedName, len(initial))
		for q, s := range initial {
			m[q] = &trackedName{current: s}
		}
		tr.names = append(tr.names, m)
	}
	return tr
}

// change announces that q moves to next, runs write (the API call) and
// records when it returned. Probers accept next from the announcement on:
// the record service may see the change before the write returns.
func (tr *churnTracker) change(q question, next answerState, write func()) {
	tr.mu.Lock()
	for _, m := range tr.names {
		n := m[q]
		n.next, n.written, n.seen = next, time.Time{}, time.Time{}
	}
	tr.mu.Unlock()
	write()
	now := time.Now()
	tr.mu.Lock()
	for _, m := range tr.names {
		m[q].written = now
	}
	tr.mu.Unlock()
}

// awaitSettled waits until every change in flight has been seen at every
// frontend, records their delays and makes the new states current. It
// returns the changes still pending after timeout, described.
func (tr *churnTracker) awaitSettled(timeout time.Duration) []string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		pending := tr.settle()
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-tr.settled:
		case <-deadline.C:
			return tr.settle()
		}
	}
}

// settle moves every seen change to current, recording its delay, and
// describes the changes not seen yet.
func (tr *churnTracker) settle() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var pending []string
	for i, m := range tr.names {
		for q, n := range m {
			switch {
			case n.next == "":
			case n.seen.IsZero():
				pending = append(pending, fmt.Sprintf("frontend %s %s still %v, want %v", frontendLabel(i), q, n.current, n.next))
			default:
				// The record service may publish the change before the API
				// server's reply reaches the writer: that is no delay.
				tr.delays = append(tr.delays, max(n.seen.Sub(n.written), 0))
				n.current, n.next, n.written, n.seen = n.next, "", time.Time{}, time.Time{}
			}
		}
	}
	slices.Sort(pending)
	return pending
}

// probe asks q through frontend i until ctx ends and checks every reply
// against the tracked state of the name.
func (tr *churnTracker) probe(ctx context.Context, i int, fe *stack.Process, q question) {
	for {
		r, err := stack.Exchange(ctx, fe.Addr, stack.NewQuery(q.name, q.qtype), false)
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		tr.mu.Lock()
		tr.asked++
		if err != nil {
			tr.wrong = append(tr.wrong, fmt.Sprintf("%s frontend %s %s: no reply: %v", now.Format("15:04:05.000"), frontendLabel(i), q, err))
		} else {
			tr.check(i, q, tr.names[i][q], stateOf(r), now)
		}
		tr.mu.Unlock()
		time.Sleep(churnProbePause)
	}
}

// check compares a reply's state with the tracked state of name q at
// frontend i. tr.mu must be held.
func (tr *churnTracker) check(i int, q question, n *trackedName, got answerState, now time.Time) {
	switch {
	case n.next != "" && got == n.next:
		if n.seen.IsZero() {
			n.seen = now
			select {
			case tr.settled <- struct{}{}:
			default:
			}
		}
	case got == n.current && n.seen.IsZero():
		// The state before the change in flight (or no change in flight).
	default:
		want := n.current.String()
		if n.next != "" {
			if n.seen.IsZero() {
				want += " or " + n.next.String()
			} else {
				want = n.next.String() + " (shown already)"
			}
		}
		tr.wrong = append(tr.wrong, fmt.Sprintf("%s frontend %s %s: got %v, want %s",
			now.Format("15:04:05.000"), frontendLabel(i), q, got, want))
	}
}

// results returns the recorded delays, the number of questions asked and
// the wrong answers.
func (tr *churnTracker) results() ([]time.Duration, int, []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.delays), tr.asked, slices.Clone(tr.wrong)
}
