package nodee2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// loopClient is one resolver of the test images, run as a pod with
// kubelet's resolv.conf (dnsPolicy ClusterFirst: ndots:5 and the search list).
type loopClient struct {
	name  string // glibc, musl, go or srv
	image string
	// command is the container's command line for the workload.
	command func(w *workload) []string
}

var loopClients = []loopClient{
	{"glibc", "localhost/dnsclient-glibc:test", dnsloop},
	{"musl", "localhost/dnsclient-musl:test", dnsloop},
	{"go", "localhost/dnsclient-go:test", dnsloop},
	{"srv", "localhost/dnsclient-glibc:test", srvLoop},
}

// dnsloop is the address loop of the three resolvers (test/images/resolveloop).
func dnsloop(w *workload) []string {
	return append([]string{
		"/usr/local/bin/dnsloop",
		"-rate", strconv.Itoa(loopRate),
		"-duration", strconv.Itoa(int(loopMaxDuration.Seconds())),
		"-count", strconv.Itoa(loopRate * int(loopMaxDuration.Seconds())),
		"-report", "2",
	}, w.targets()...)
}

// srvScript asks for the SRV record of a Service with dig, about five times
// a second, and prints dnsloop's JSON lines: none of the address resolvers
// asks for SRV. A lookup is ok when the status is NOERROR and an SRV record
// ends in the expected port and target, wrong for any other answer, failed
// when there is none (timeout, SERVFAIL).
const srvScript = `name=$1 want=$2 lookups=0 ok=0 failed=0 wrong=0 end=$((SECONDS + $3))
report() { printf '{"event":"%s","client":"srv","lookups":%d,"ok":%d,"failed":%d,"wrong":%d}\n' "$1" $lookups $ok $failed $wrong; }
failure() { printf '{"event":"failure","client":"srv","name":"%s","class":"%s","reason":"%s","elapsed":%d}\n' "$name" "$1" "$2" $SECONDS; }
trap 'report final; exit 0' TERM
while [ $SECONDS -lt $end ]; do
  out=$(dig +time=5 +tries=2 +noall +comments +answer SRV "$name")
  st=$(printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
  lookups=$((lookups + 1))
  if [ "$st" = NOERROR ] && printf '%s\n' "$out" | grep -q "SRV.* $want\$"; then ok=$((ok + 1))
  elif [ "$st" = NOERROR ] || [ "$st" = NXDOMAIN ]; then wrong=$((wrong + 1)); failure wrong "$st"
  else failed=$((failed + 1)); failure failed "${st:-no answer}"
  fi
  [ $((lookups % 10)) -eq 0 ] && report report
  sleep 0.2
done
report final`

// srvLoop runs srvScript for the "web" Service's named port.
func srvLoop(w *workload) []string {
	return []string{"bash", "-c", srvScript, "srv",
		"_http._tcp.web." + w.ns + ".svc.cluster.local.",
		"80 web." + w.ns + ".svc.cluster.local.",
		strconv.Itoa(int(loopMaxDuration.Seconds()))}
}

// Bounds of one client's run: loopRate lookups/s per address client (three
// of them: 60/s, above the 50/s the tests promise, and about 5/s of SRV),
// and a run never outlives loopMaxDuration even if the test that started
// it dies.
const (
	loopRate        = 20
	loopMaxDuration = 15 * time.Minute
)

// loopEvent is one JSON line of dnsloop's output.
type loopEvent struct {
	Event   string  `json:"event"`
	Client  string  `json:"client"`
	Time    string  `json:"time"`
	Elapsed float64 `json:"elapsed"`
	Lookups int     `json:"lookups"`
	OK      int     `json:"ok"`
	Failed  int     `json:"failed"`
	Wrong   int     `json:"wrong"`
	MaxMS   float64 `json:"max_ms"`
	Name    string  `json:"name"`
	Class   string  `json:"class"`
	Reason  string  `json:"reason"`
	MS      float64 `json:"ms"`
}

// loopResult is what one client counted: its last cumulative line (the
// final one when the run ended properly) and every lookup that was not ok.
type loopResult struct {
	client   string
	last     loopEvent
	final    bool
	failures []loopEvent
}

func (r loopResult) String() string {
	s := fmt.Sprintf("%-5s lookups %6d  ok %6d  failed %3d  wrong %3d  max %5.0f ms",
		r.client, r.last.Lookups, r.last.OK, r.last.Failed, r.last.Wrong, r.last.MaxMS)
	if !r.final {
		s += "  (no final line: counts of the last report)"
	}
	return s
}

// loadRun is the loop clients of one test, running in namespace ns.
type loadRun struct {
	cs      kubernetes.Interface
	ns      string
	started time.Time

	clients []string // names, in report order

	mu      sync.Mutex
	results map[string]*loopResult
	done    sync.WaitGroup
	cancel  context.CancelFunc
}

// startLoad starts one pod per loop client resolving w's targets, waits
// until each has made lookups, and follows their output. Call stop to end
// the runs and collect the counts.
func startLoad(ctx context.Context, t *testing.T, cs kubernetes.Interface, w *workload) *loadRun {
	t.Helper()
	for _, c := range loopClients {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "client-" + c.name, Labels: map[string]string{"app": "dnsloop"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				// Covers a dig in flight (two tries of five seconds) before
				// the script's TERM trap prints the final line.
				TerminationGracePeriodSeconds: new(int64(20)),
				Containers: []corev1.Container{{
					Name:            "dnsloop",
					Image:           c.image,
					ImagePullPolicy: corev1.PullNever,
					Command:         c.command(w),
				}},
			},
		}
		if _, err := cs.CoreV1().Pods(w.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create client pod %s: %v", pod.Name, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, c := range loopClients {
			pod, err := cs.CoreV1().Pods(w.ns).Get(ctx, "client-"+c.name, metav1.GetOptions{})
			if err != nil || pod.Status.Phase == corev1.PodPending {
				return false, nil
			}
			if pod.Status.Phase != corev1.PodRunning {
				return false, fmt.Errorf("client pod %s is %s", pod.Name, pod.Status.Phase)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("client pods not running: %v", err)
	}
	names := make([]string, 0, len(loopClients))
	for _, c := range loopClients {
		names = append(names, c.name)
	}
	return followLoad(ctx, t, cs, w.ns, names, time.Minute)
}

// followLoad follows the output of the client pods "client-<name>" of ns
// and waits, up to within, until each has made lookups: every client must
// be resolving before the test changes anything.
func followLoad(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, clients []string, within time.Duration) *loadRun {
	t.Helper()
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &loadRun{cs: cs, ns: ns, started: time.Now(), clients: clients, results: map[string]*loopResult{}, cancel: cancel}
	for _, name := range clients {
		r.results[name] = &loopResult{client: name}
		r.done.Add(1)
		go r.follow(fctx, name)
	}
	t.Cleanup(cancel)
	err := wait.PollUntilContextTimeout(ctx, time.Second, within, true, func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, res := range r.results {
			if res.last.Lookups == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("a client made no lookup within %s: %v\n%s", within, err, r.table())
	}
	return r
}

// follow reads one client's output until its container ends. A broken log
// stream is read again from the start (the counts are cumulative), so the
// result is always that of one complete reading.
func (r *loadRun) follow(ctx context.Context, client string) {
	defer r.done.Done()
	pod := "client-" + client
	for ctx.Err() == nil {
		res := r.readLog(ctx, pod, client)
		r.mu.Lock()
		if res.last.Lookups >= r.results[client].last.Lookups {
			r.results[client] = res
		}
		r.mu.Unlock()
		if res.final {
			return
		}
		p, err := r.cs.CoreV1().Pods(r.ns).Get(ctx, pod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return // gone with its log: the last reading stands
		}
		if err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			// Ended without a final line we saw: one last complete read.
			res := r.readLog(ctx, pod, client)
			r.mu.Lock()
			if res.last.Lookups >= r.results[client].last.Lookups {
				r.results[client] = res
			}
			r.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// readLog streams the pod's log from the start and returns what it says.
func (r *loadRun) readLog(ctx context.Context, pod, client string) *loopResult {
	res := &loopResult{client: client}
	stream, err := r.cs.CoreV1().Pods(r.ns).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		return res
	}
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		var ev loopEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Event {
		case "failure":
			res.failures = append(res.failures, ev)
		case "report", "final":
			res.last = ev
			res.final = ev.Event == "final"
			r.mu.Lock()
			if cur := r.results[client]; ev.Lookups > cur.last.Lookups {
				cur.last = ev // progress for startLoad's wait
			}
			r.mu.Unlock()
		}
	}
	return res
}

// stop ends the runs (SIGTERM through pod deletion makes each client print
// its final line) and returns the counts per client.
func (r *loadRun) stop(ctx context.Context, t *testing.T) []loopResult {
	t.Helper()
	for _, name := range r.clients {
		if err := r.cs.CoreV1().Pods(r.ns).Delete(ctx, "client-"+name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete client pod %s: %v", name, err)
		}
	}
	ended := make(chan struct{})
	go func() { r.done.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(2 * time.Minute):
		t.Errorf("the clients' output did not end within 2 minutes of their deletion")
		r.cancel()
		<-ended
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]loopResult, 0, len(r.clients))
	for _, name := range r.clients {
		out = append(out, *r.results[name])
	}
	return out
}

// lookups is how many lookups the clients have counted so far.
func (r *loadRun) lookups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, res := range r.results {
		total += res.last.Lookups
	}
	return total
}

// table formats the current counts, one line per client.
func (r *loadRun) table() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, c := range loopClients {
		fmt.Fprintf(&b, "  %s\n", r.results[c.name])
	}
	return b.String()
}

// checkLoad reports the counts of a run and fails the test for every lookup
// that failed or was wrong, naming it and when it happened.
func checkLoad(t *testing.T, what string, results []loopResult, elapsed time.Duration) {
	t.Helper()
	if bad := reportLoad(t, what, results, elapsed); bad > 0 {
		t.Errorf("%s: %d lookups failed or were wrong, want 0", what, bad)
	}
}

// reportLoad logs the counts of a run, each lookup that failed or was wrong
// with when it happened, and returns how many did. A client that made no
// lookup fails the test: its counts would prove nothing.
func reportLoad(t *testing.T, what string, results []loopResult, elapsed time.Duration) int {
	t.Helper()
	var total, bad int
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "  %s\n", r)
		total += r.last.Lookups
		bad += r.last.Failed + r.last.Wrong
		for _, f := range r.failures {
			fmt.Fprintf(&b, "    %s %s %s: %s (%.0f ms, ended %.1fs after start, at %s)\n", r.client, f.Class, f.Name, f.Reason, f.MS, f.Elapsed, f.Time)
		}
	}
	t.Logf("%s: %d lookups in %s (%.0f/s) by client:\n%s", what, total, elapsed.Round(time.Second),
		float64(total)/elapsed.Seconds(), b.String())
	for _, r := range results {
		if r.last.Lookups == 0 {
			t.Errorf("%s: client %s made no lookup", what, r.client)
		}
	}
	return bad
}
