package e2e

import (
	"context"
	"fmt"
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

// replicatedStack is the issue #5 topology on one API server: two record
// service replicas, and two frontends each pinned to one of them.
type replicatedStack struct {
	replicas  [2]*stack.Process
	frontends [2]*stack.Process
}

// startReplicated starts two record services on c and a frontend on each,
// with frontendArgs.
func startReplicated(t *testing.T, bins stack.Binaries, c *kubecluster.Cluster, frontendArgs ...string) *replicatedStack {
	t.Helper()
	s := &replicatedStack{}
	for i := range s.replicas {
		s.replicas[i] = stack.StartRecordService(t, bins, "--kubeconfig", c.Kubeconfig)
		s.frontends[i] = stack.StartFrontend(t, bins, s.replicas[i].Addr, frontendArgs...)
	}
	return s
}

// frontendLabel names frontend i in messages: A (to replica 1) or B.
func frontendLabel(i int) string {
	return string(rune('A' + i))
}

// TestInvalidation is issue #5's first proof: a name cached in two frontends,
// each following its own record service replica, changes in the API (a
// ClusterIP Service created where NXDOMAIN was cached, then deleted, an
// ExternalName target changed, an endpoint turned unready), and both
// frontends answer the new data within propagationBound, far below the 30 s
// record TTL; every name the change does not touch stays a cache hit.
func TestInvalidation(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "inv"
	createNamespace(t, c, ns)
	createService(t, c, clusterIPService(ns, "stable", "10.96.50.10", tcpPort("http", 80)))
	createService(t, c, externalNameService(ns, "ext", "one.example.invalid"))
	createService(t, c, headlessService(ns, "hl", tcpPort("http", 80)))
	createSlice(t, c, endpointSlice(ns, "hl-1", "hl", "http", 80,
		endpoint("10.244.50.1", true, ""), endpoint("10.244.50.2", true, "")))

	s := startReplicated(t, bins, c, "--cluster-cache-ttl", "5m")

	var (
		stable = question{svcName(ns, "stable"), dns.TypeA}
		ext    = question{svcName(ns, "ext"), dns.TypeCNAME}
		hl     = question{svcName(ns, "hl"), dns.TypeA}
		fresh  = question{svcName(ns, "fresh"), dns.TypeA}
	)
	// current is what every name answers now; the steps update it.
	current := map[question]expect{
		stable: answer(stable.name + " 30 IN A 10.96.50.10"),
		ext:    answer(ext.name + " 30 IN CNAME one.example.invalid."),
		hl:     answer(hl.name+" 30 IN A 10.244.50.1", hl.name+" 30 IN A 10.244.50.2"),
		fresh:  nxdomain(),
	}
	order := []question{stable, ext, hl, fresh}

	// Both replicas have synced the fixture once both frontends answer every
	// name as expected; then every answer is cached in both.
	for _, fe := range s.frontends {
		for _, q := range order {
			want := current[q].state(t)
			stack.Eventually(t, syncTimeout, fe.Addr, q.name, q.qtype, false, func(r *dns.Msg) string {
				if got := stateOf(r); got != want {
					return "got " + got.String() + ", want " + want.String()
				}
				return ""
			})
			waitCached(t, fe, q, false, want)
		}
	}

	steps := []struct {
		name   string
		q      question
		change func(t *testing.T)
		after  expect
	}{
		{
			name: "ClusterIP Service created where NXDOMAIN was cached",
			q:    fresh,
			change: func(t *testing.T) {
				createService(t, c, clusterIPService(ns, "fresh", "10.96.50.11", tcpPort("http", 80)))
			},
			after: answer(fresh.name + " 30 IN A 10.96.50.11"),
		},
		{
			name:   "ClusterIP Service deleted",
			q:      fresh,
			change: func(t *testing.T) { deleteService(t, c, ns, "fresh") },
			after:  nxdomain(),
		},
		{
			name: "ExternalName target changed",
			q:    ext,
			change: func(t *testing.T) {
				updateService(t, c, ns, "ext", func(s *corev1.Service) { s.Spec.ExternalName = "two.example.invalid" })
			},
			after: answer(ext.name + " 30 IN CNAME two.example.invalid."),
		},
		{
			name: "endpoint turned unready",
			q:    hl,
			change: func(t *testing.T) {
				updateSlice(t, c, ns, "hl-1", func(s *discoveryv1.EndpointSlice) { setReady(s, "10.244.50.2", false) })
			},
			after: answer(hl.name + " 30 IN A 10.244.50.1"),
		},
	}
	for _, step := range steps {
		ok := t.Run(step.name, func(t *testing.T) {
			before, after := current[step.q].state(t), step.after.state(t)
			step.change(t)
			written := time.Now()
			// Both frontends are polled at once: each must show the change
			// within the bound, whatever the other does.
			var wg sync.WaitGroup
			delays := make([]time.Duration, len(s.frontends))
			for i, fe := range s.frontends {
				wg.Go(func() {
					delays[i] = awaitStateAsync(t, fe, step.q, written, after, before)
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			t.Logf("%s: new answer at frontend A after %v, at B after %v", step.q,
				delays[0].Round(time.Millisecond), delays[1].Round(time.Millisecond))
			current[step.q] = step.after
			for i, fe := range s.frontends {
				// The changed name is cached again with its new answer ...
				waitCached(t, fe, step.q, false, after)
				// ... and the change dropped nothing else.
				for _, q := range order {
					if q != step.q {
						t.Run(fmt.Sprintf("frontend %s keeps %s cached", frontendLabel(i), q), func(t *testing.T) {
							assertCacheHit(t, fe, q, current[q].state(t))
						})
					}
				}
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}

// awaitStateAsync is awaitState for a goroutine other than the test's: it
// reports a failure with t.Errorf and returns 0.
func awaitStateAsync(t *testing.T, fe *stack.Process, q question, since time.Time, want answerState, allowed ...answerState) time.Duration {
	d, err := pollState(fe, q, false, since, want, allowed...)
	if err != nil {
		t.Errorf("%v", err)
	}
	return d
}

// TestAPIServerRestart is issue #5's "restarting the kube-apiserver (a
// relist) produces no false NXDOMAIN": while probers ask a fixed set of
// existing names continuously through two frontends without a cache (every
// question reaches a record service replica), the kube-apiserver is stopped
// and started again on the same etcd and port. The record services keep
// serving their last state while it is away and relist when it is back;
// no reply may differ from the unchanged truth, before, during or after.
func TestAPIServerRestart(t *testing.T) {
	t.Parallel()
	bins := stack.Installed(t)
	c := kubecluster.Start(t)
	const ns = "restart"
	createNamespace(t, c, ns)
	names := map[question]expect{
		{"kubernetes.default.svc.cluster.local.", dns.TypeA}: answer("kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"),
	}
	for i := range 4 {
		name := fmt.Sprintf("web-%d", i)
		ip := fmt.Sprintf("10.96.60.%d", 10+i)
		createService(t, c, clusterIPService(ns, name, ip, tcpPort("http", 80)))
		names[question{svcName(ns, name), dns.TypeA}] = answer(svcName(ns, name) + " 30 IN A " + ip)
		srv := "_http._tcp." + svcName(ns, name)
		names[question{srv, dns.TypeSRV}] = answer(srv + " 30 IN SRV 0 100 80 " + svcName(ns, name))
	}
	for i := range 2 {
		name := fmt.Sprintf("db-%d", i)
		createService(t, c, headlessService(ns, name, tcpPort("sql", 5432)))
		a, b := fmt.Sprintf("10.244.60.%d", 10*i+1), fmt.Sprintf("10.244.60.%d", 10*i+2)
		createSlice(t, c, endpointSlice(ns, name+"-1", name, "sql", 5432,
			endpoint(a, true, ""), endpoint(b, true, ""), endpoint(fmt.Sprintf("10.244.60.%d", 10*i+3), false, "")))
		names[question{svcName(ns, name), dns.TypeA}] = answer(svcName(ns, name)+" 30 IN A "+a, svcName(ns, name)+" 30 IN A "+b)
	}
	createService(t, c, externalNameService(ns, "ext", "db.example.invalid"))
	names[question{svcName(ns, "ext"), dns.TypeCNAME}] = answer(svcName(ns, "ext") + " 30 IN CNAME db.example.invalid.")
	// A name that does not exist stays NXDOMAIN: a relist must not make it
	// appear either.
	names[question{svcName(ns, "absent"), dns.TypeA}] = nxdomain()

	s := startReplicated(t, bins, c, "--cache-size", "0")
	want := make(map[question]answerState, len(names))
	questions := make([]question, 0, len(names))
	for q, e := range names {
		want[q] = e.state(t)
		questions = append(questions, q)
	}
	for _, fe := range s.frontends {
		for _, q := range questions {
			stack.Eventually(t, syncTimeout, fe.Addr, q.name, q.qtype, false, func(r *dns.Msg) string {
				if got := stateOf(r); got != want[q] {
					return "got " + got.String() + ", want " + want[q].String()
				}
				return ""
			})
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	probes := make([]*probeResult, len(s.frontends))
	var wg sync.WaitGroup
	for i, fe := range s.frontends {
		probes[i] = &probeResult{frontend: frontendLabel(i)}
		wg.Go(func() { probes[i].run(ctx, fe, questions, want) })
	}
	stopProbes := func() {
		cancel()
		wg.Wait()
	}
	defer stopProbes()

	time.Sleep(time.Second)
	restartStart := time.Now()
	c.RestartAPIServer(t)
	t.Logf("kube-apiserver stopped and ready again after %v", time.Since(restartStart).Round(time.Millisecond))

	// A Service created after the restart shows in both frontends once the
	// replicas' watches are back: the probes have then covered the relist.
	createService(t, c, clusterIPService(ns, "after-restart", "10.96.60.99", tcpPort("http", 80)))
	afterName := svcName(ns, "after-restart")
	for _, fe := range s.frontends {
		stack.Eventually(t, 60*time.Second, fe.Addr, afterName, dns.TypeA, false, func(r *dns.Msg) string {
			return checkAnswer(t, r, afterName+" 30 IN A 10.96.60.99")
		})
	}
	t.Logf("both replicas saw a change %v after the restart began", time.Since(restartStart).Round(time.Millisecond))
	time.Sleep(time.Second)
	stopProbes()

	for _, p := range probes {
		t.Logf("frontend %s: %d questions, %d wrong answers, %d exchange errors", p.frontend, p.asked, len(p.wrong), len(p.errors))
		if p.asked < 100 {
			t.Errorf("frontend %s: only %d questions asked during the restart", p.frontend, p.asked)
		}
		if len(p.wrong) > 0 {
			t.Errorf("frontend %s: %d wrong answers across the kube-apiserver restart; the first ones:\n%s",
				p.frontend, len(p.wrong), strings.Join(p.wrong[:min(len(p.wrong), 10)], "\n"))
		}
		if len(p.errors) > 0 {
			t.Errorf("frontend %s: %d questions without a reply across the kube-apiserver restart; the first ones:\n%s",
				p.frontend, len(p.errors), strings.Join(p.errors[:min(len(p.errors), 10)], "\n"))
		}
	}
}

// probeResult collects what one prober saw.
type probeResult struct {
	frontend string
	asked    int
	// wrong describes each reply that differed from the expected state,
	// errors each exchange that got no reply.
	wrong, errors []string
}

// run asks questions in turn through fe until ctx ends and compares every
// reply with want. Only its own goroutine touches p until it returns.
func (p *probeResult) run(ctx context.Context, fe *stack.Process, questions []question, want map[question]answerState) {
	for {
		for _, q := range questions {
			if ctx.Err() != nil {
				return
			}
			r, err := stack.Exchange(ctx, fe.Addr, stack.NewQuery(q.name, q.qtype), false)
			if ctx.Err() != nil {
				return
			}
			p.asked++
			if err != nil {
				p.errors = append(p.errors, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), q, err))
				continue
			}
			if got := stateOf(r); got != want[q] {
				p.wrong = append(p.wrong, fmt.Sprintf("%s %s: got %v, want %v", time.Now().Format("15:04:05.000"), q, got, want[q]))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
