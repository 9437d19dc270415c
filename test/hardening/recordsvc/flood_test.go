package recordsvc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

const (
	// floodStreams is how many Watch streams each attack attempts, as in
	// the report (2,000 streams took the RSS from 75 to 342 MB).
	floodStreams = 2000
	// floodDeadline bounds each attack.
	floodDeadline = 3 * time.Minute
	// rssBound is the record service's RSS the attacks must stay under: a
	// fifth of deploy/'s 512Mi limit, on the example cluster.
	rssBound = 100 << 20
	// beforeEnv, when set, also runs the attacks with the limits off and
	// logs the RSS they reach (the "before" figures).
	beforeEnv = "CLUSTERDNS_HARDENING_BEFORE"
	// beforeBinEnv, when set, names an older recordsvc binary (one without
	// TLS and limits) to run the same attacks against over plaintext.
	beforeBinEnv = "CLUSTERDNS_HARDENING_BEFORE_BIN"
)

// floodResult counts how the attempted streams ended.
type floodResult struct {
	admitted, exhausted, refused, other atomic.Int64
	firstOther                          atomic.Value
}

func (r *floodResult) String() string {
	return fmt.Sprintf("admitted %d, resource_exhausted %d, connection refused %d, other %d",
		r.admitted.Load(), r.exhausted.Load(), r.refused.Load(), r.other.Load())
}

// flood opens floodStreams Watch streams spread over conns connections
// from the addresses in from (round robin), holding every admitted one until
// the attack is over. It returns once every attempt has ended or been
// admitted, with the streams still held; release ends them.
func flood(t *testing.T, addr string, p *pki, identity string, conns int, from []string) (*floodResult, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), floodDeadline)
	clients := make([]clusterdnsv1.RecordServiceClient, conns)
	for i := range clients {
		clients[i], _ = dial(t, addr, dialOpts{files: p.clients[identity], plain: p.plain, from: from[i%len(from)]})
	}
	res := &floodResult{}
	var wg sync.WaitGroup
	for i := range floodStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := clients[i%conns].Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: "flood"})
			if err == nil {
				_, err = s.Recv()
			}
			switch code := status.Code(err); {
			case err == nil:
				res.admitted.Add(1)
			case code == codes.ResourceExhausted:
				res.exhausted.Add(1)
			case code == codes.Unavailable:
				res.refused.Add(1)
			default:
				res.other.Add(1)
				res.firstOther.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	return res, cancel
}

// legitClient asks a question from 127.0.0.2 in a loop until stop is
// closed and reports answers and failures.
func legitClient(t *testing.T, addr string, p *pki, stop <-chan struct{}) (answered, failed *atomic.Int64, done <-chan struct{}) {
	t.Helper()
	c, _ := dial(t, addr, dialOpts{files: p.clients["frontend"], plain: p.plain, from: "127.0.0.2"})
	answered, failed = &atomic.Int64{}, &atomic.Int64{}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for i := 0; i < 100000; i++ { // bounded; stop ends it long before
			select {
			case <-stop:
				return
			default:
			}
			if resp, err := lookup(c, kubernetesName, typeA, ""); err == nil && resp.GetResult() == clusterdnsv1.Result_RESULT_SUCCESS {
				answered.Add(1)
			} else {
				failed.Add(1)
			}
			time.Sleep(20 * time.Millisecond) // pacing, not synchronisation
		}
	}()
	return answered, failed, ch
}

// attack runs one flood against a fresh record service started with args
// and reports the result and the RSS before and at the end.
type attackReport struct {
	res              *floodResult
	rssBefore, rssAt int64
	answered, failed int64
}

// olderBinary, when set, runs the attack against that binary over plaintext
// instead (args are then ignored).
func runAttack(t *testing.T, olderBinary string, args []string, conns int, from []string, identity string) attackReport {
	t.Helper()
	p := newPKI(t, "frontend", "billing")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	writeAtomic(t, policy, []byte(testPolicy))
	src := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	var rs *recordsvc
	if olderBinary != "" {
		p.plain = true
		rs = startRecordsvcBinary(t, olderBinary, "--source", "file:"+src)
	} else {
		rs = startRecordsvc(t, append(append(p.serverArgs(), "--source", "file:"+src, "--authz-policy", policy), args...)...)
	}
	warm, _ := dial(t, rs.addr, dialOpts{files: p.clients["frontend"], plain: p.plain, from: "127.0.0.2"})
	if _, err := lookup(warm, kubernetesName, typeA, ""); err != nil {
		t.Fatal(err)
	}
	rep := attackReport{rssBefore: rssBytes(t, rs.proc.PID())}

	stop := make(chan struct{})
	answered, failed, legitDone := legitClient(t, rs.addr, p, stop)
	res, release := flood(t, rs.addr, p, identity, conns, from)
	rep.rssAt = rssBytes(t, rs.proc.PID()) // every admitted stream still open
	close(stop)
	<-legitDone
	release()
	rep.res, rep.answered, rep.failed = res, answered.Load(), failed.Load()
	if !rs.proc.Running() {
		t.Fatalf("recordsvc died during the attack: %v", rs.proc.ExitError())
	}
	m := stack.ScrapeMetrics(t, rs.metrics)
	t.Logf("%d streams over %d connections: %v; RSS %.1f MB -> %.1f MB; legit lookups answered %d, failed %d; admission_rejected %v",
		floodStreams, conns, res, float64(rep.rssBefore)/(1<<20), float64(rep.rssAt)/(1<<20), rep.answered, rep.failed,
		m.Sum("clusterdns_recordsvc_admission_rejected_total"))
	return rep
}

// loopbackAddrs are n source addresses 127.0.1.1, 127.0.1.2, ...
func loopbackAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
	}
	return out
}

// TestWatchFlood attempts 2,000 Watch streams on one connection, then over
// many connections from one address and from many addresses: the streams
// beyond the limits get RESOURCE_EXHAUSTED (or the connection is refused),
// the RSS stays under rssBound and a legitimate client keeps being
// answered throughout.
func TestWatchFlood(t *testing.T) {
	cases := []struct {
		name     string
		identity string
		conns    int
		from     []string
		// maxAdmitted is what the default limits allow.
		maxAdmitted int64
	}{
		{"one connection, frontend identity", "frontend", 1, []string{"127.0.0.1"}, 16},
		{"one connection, scoped identity", "billing", 1, []string{"127.0.0.1"}, 16},
		{"50 connections from one address", "frontend", 50, []string{"127.0.0.1"}, 16},
		{"100 connections from 100 addresses", "frontend", 100, loopbackAddrs(100), 1600},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			rep := runAttack(t, "", nil, tt.conns, tt.from, tt.identity)
			if n := rep.res.admitted.Load(); n > tt.maxAdmitted {
				t.Errorf("%d streams admitted, want at most %d", n, tt.maxAdmitted)
			}
			if rep.res.exhausted.Load() == 0 {
				t.Errorf("no stream got RESOURCE_EXHAUSTED: %v", rep.res)
			}
			if n := rep.res.other.Load(); n > 0 {
				t.Errorf("%d streams failed otherwise, first: %v", n, rep.res.firstOther.Load())
			}
			if rep.rssAt > rssBound {
				t.Errorf("RSS %d MB during the attack, want under %d MB", rep.rssAt>>20, rssBound>>20)
			}
			if rep.failed > 0 || rep.answered == 0 {
				t.Errorf("legitimate client: %d answered, %d failed during the attack", rep.answered, rep.failed)
			}
		})
	}
	if bin := os.Getenv(beforeBinEnv); bin != "" {
		t.Run("before: older binary", func(t *testing.T) {
			runAttack(t, bin, nil, 1, []string{"127.0.0.1"}, "frontend")
			runAttack(t, bin, nil, 100, loopbackAddrs(100), "frontend")
		})
	}
	if os.Getenv(beforeEnv) == "" {
		return
	}
	t.Run("before: limits off", func(t *testing.T) {
		off := []string{"--max-connections=0", "--max-connections-per-ip=0", "--max-streams=0", "--max-streams-per-client=0",
			"--max-streams-per-connection=100000"}
		runAttack(t, "", off, 1, []string{"127.0.0.1"}, "frontend")
		runAttack(t, "", off, 100, loopbackAddrs(100), "frontend")
	})
}
