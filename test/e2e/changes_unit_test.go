package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestStateOf(t *testing.T) {
	reply := func(rcode int, records ...string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("web.apps.svc.cluster.local.", dns.TypeA)
		m.Rcode = rcode
		m.Answer = parseRRs(t, records)
		m.SetEdns0(1232, false)
		return m
	}
	cases := []struct {
		name string
		r    *dns.Msg
		want expect
		same bool
	}{
		{"TTL and order ignored",
			reply(dns.RcodeSuccess, "web.apps.svc.cluster.local. 12 IN A 10.0.0.2", "web.apps.svc.cluster.local. 30 IN A 10.0.0.1"),
			answer("web.apps.svc.cluster.local. 30 IN A 10.0.0.1", "web.apps.svc.cluster.local. 30 IN A 10.0.0.2"), true},
		{"another address differs",
			reply(dns.RcodeSuccess, "web.apps.svc.cluster.local. 30 IN A 10.0.0.3"),
			answer("web.apps.svc.cluster.local. 30 IN A 10.0.0.1"), false},
		{"a missing record differs",
			reply(dns.RcodeSuccess, "web.apps.svc.cluster.local. 30 IN A 10.0.0.1"),
			answer("web.apps.svc.cluster.local. 30 IN A 10.0.0.1", "web.apps.svc.cluster.local. 30 IN A 10.0.0.2"), false},
		{"NXDOMAIN", reply(dns.RcodeNameError), nxdomain(), true},
		{"NODATA is not NXDOMAIN", reply(dns.RcodeSuccess), nxdomain(), false},
		{"SERVFAIL is not NXDOMAIN", reply(dns.RcodeServerFailure), nxdomain(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, want := stateOf(tc.r), tc.want.state(t)
			if (got == want) != tc.same {
				t.Errorf("stateOf = %v, expected state %v: equal %v, want %v", got, want, got == want, tc.same)
			}
		})
	}
}

func TestAnswerStateString(t *testing.T) {
	cases := []struct {
		e    expect
		want string
	}{
		{nxdomain(), "NXDOMAIN (no answer)"},
		{answer("a.b.svc.cluster.local. 30 IN A 10.0.0.1", "a.b.svc.cluster.local. 30 IN A 10.0.0.2"),
			"NOERROR [a.b.svc.cluster.local.\t0\tIN\tA\t10.0.0.1; a.b.svc.cluster.local.\t0\tIN\tA\t10.0.0.2]"},
	}
	for _, tc := range cases {
		if got := tc.e.state(t).String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestDurationPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, 0, len(n))
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p1 of 100", ms(hundred...), 1, time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := durationPercentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("durationPercentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

// TestChurnTrackerCheck runs the churn probe's verdicts on a scripted
// sequence of replies for one name at one frontend.
func TestChurnTrackerCheck(t *testing.T) {
	const name = "x.churn.svc.cluster.local."
	a := answer(name + " 30 IN A 10.0.0.1").state(t)
	b := answer(name + " 30 IN A 10.0.0.2").state(t)
	nx := nxdomain().state(t)
	q := question{name, dns.TypeA}
	type step struct {
		change    answerState // announce a change to this state first
		reply     answerState
		wantWrong bool
		settle    bool // settle after the reply
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"steady state", []step{{reply: a}, {reply: a}}},
		{"NXDOMAIN for an existing name is wrong", []step{{reply: nx, wantWrong: true}}},
		{"old then new while in flight", []step{{change: b, reply: a}, {reply: b}, {reply: b, settle: true}, {reply: b}}},
		{"old after new is wrong", []step{{change: b, reply: b}, {reply: a, wantWrong: true}}},
		{"a third state is wrong", []step{{change: b, reply: nx, wantWrong: true}}},
		{"old after settling is wrong", []step{{change: b, reply: b, settle: true}, {reply: a, wantWrong: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newChurnTracker(1, map[question]answerState{q: a})
			for i, s := range tc.steps {
				if s.change != "" {
					tr.change(q, s.change, func() {})
				}
				before := len(tr.wrong)
				tr.mu.Lock()
				tr.check(0, q, tr.names[0][q], s.reply, time.Now())
				tr.mu.Unlock()
				if gotWrong := len(tr.wrong) > before; gotWrong != s.wantWrong {
					t.Fatalf("step %d (reply %v): wrong = %v, want %v (%s)", i, s.reply, gotWrong, s.wantWrong, strings.Join(tr.wrong, "; "))
				}
				if s.settle {
					if pending := tr.settle(); len(pending) > 0 {
						t.Fatalf("step %d: still pending: %v", i, pending)
					}
				}
			}
		})
	}
}
