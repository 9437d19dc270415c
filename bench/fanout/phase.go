package fanout

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clusterdns/clusterdns/bench"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// quiesceTimeout bounds the wait for every subscriber to reach the record
// service's revision after a churn.
const quiesceTimeout = 60 * time.Second

// PhaseResult is one measurement at a number of subscribers.
type PhaseResult struct {
	Subscribers int
	// Writes is the number of churn writes; Elapsed the churn's time.
	Writes  int
	Elapsed time.Duration
	Prop    Propagation
	// FromWrite and FromRevision are per-delivery quantiles: p50, p99.
	FromWrite, FromRevision [2]time.Duration
	// ChurnCPU is the record service's CPU time during the churn with the
	// lookup load; LookupCPU during as long a time of the lookup load
	// alone.
	ChurnCPU, LookupCPU time.Duration
	// HarnessCPU is this process's CPU time during the churn (all
	// subscribers, the churn and the lookup load), and ChurnWall the
	// churn's wall time until every subscriber had the last change.
	HarnessCPU, ChurnWall time.Duration
	// Idle is each CPU's idle share during the churn.
	Idle []float64
	// Lookups is the lookup load's outcome during both windows.
	Lookups *LookupStats
	// Memory of the record service after the phase, and its goroutines.
	Memory     bench.Memory
	Goroutines int
	// Runtime is the record service's Go memory after the phase.
	Runtime RuntimeMemory
}

// CPUPerChange is the record service's CPU time per delivered change,
// with the lookup load's share taken out (never below 0).
func (p PhaseResult) CPUPerChange() time.Duration {
	if p.Prop.Changes == 0 {
		return 0
	}
	return max(p.ChurnCPU-p.LookupCPU, 0) / time.Duration(p.Prop.Changes)
}

// RawCPUPerChange is the CPU time during the churn per change, lookups
// included.
func (p PhaseResult) RawCPUPerChange() time.Duration {
	if p.Prop.Changes == 0 {
		return 0
	}
	return p.ChurnCPU / time.Duration(p.Prop.Changes)
}

// Phase runs the churn with the lookup load, waits until every subscriber
// has the record service's revision, then runs the lookup load alone for
// as long, measuring the record service throughout.
func Phase(ctx context.Context, f *Fleet, rs *RecordService, churn *Churn, load LookupLoad) (PhaseResult, error) {
	res := PhaseResult{Subscribers: len(f.Subscribers()), Lookups: &LookupStats{}}
	rec := NewRecorder()
	f.Record(rec)
	defer f.Record(nil)

	lctx, stopLookups := context.WithCancel(ctx)
	lookupsDone := make(chan struct{})
	go func() { defer close(lookupsDone); load.Run(lctx, f, res.Lookups) }()
	cpu0, err := rs.CPUTime()
	var self0 time.Duration
	if err == nil {
		self0, err = processCPU(os.Getpid())
	}
	if err != nil {
		stopLookups()
		<-lookupsDone
		return res, err
	}
	idle0, err := snapshotCPUs()
	if err != nil {
		stopLookups()
		<-lookupsDone
		return res, err
	}
	start := time.Now()
	res.Writes, err = churn.Run(ctx, rec)
	res.Elapsed = time.Since(start)
	if err == nil {
		err = Quiesce(ctx, f, rs.Addr)
	}
	res.ChurnWall = time.Since(start)
	cpu1, cerr := rs.CPUTime()
	if err == nil {
		err = cerr
	}
	self1, cerr := processCPU(os.Getpid())
	if err == nil {
		err = cerr
	}
	idle1, cerr := snapshotCPUs()
	if err == nil {
		err = cerr
	}
	for i := range idle1 {
		res.Idle = append(res.Idle, bench.IdleShare(idle0[i], idle1[i]))
	}
	if err == nil {
		// The lookup load alone, as long as the churn took.
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(time.Since(start)):
		}
	}
	cpu2, cerr := rs.CPUTime()
	stopLookups()
	<-lookupsDone
	if err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	res.ChurnCPU = cpu1 - cpu0
	res.HarnessCPU = self1 - self0
	res.LookupCPU = cpu2 - cpu1
	res.Prop = rec.Summary(res.Subscribers)
	res.FromWrite = [2]time.Duration{rec.FromWrite.Quantile(0.5), rec.FromWrite.Quantile(0.99)}
	res.FromRevision = [2]time.Duration{rec.FromRevision.Quantile(0.5), rec.FromRevision.Quantile(0.99)}
	if res.Memory, err = rs.Memory(); err != nil {
		return res, err
	}
	res.Runtime, err = rs.RuntimeMemory(ctx)
	return res, err
}

// snapshotCPUs reads the times of every CPU.
func snapshotCPUs() ([]bench.CPUSnapshot, error) {
	snaps := make([]bench.CPUSnapshot, runtime.NumCPU())
	for i := range snaps {
		var err error
		if snaps[i], err = bench.TakeCPUSnapshot(i, nil); err != nil {
			return nil, err
		}
	}
	return snaps, nil
}

// Quiesce waits until every subscriber's stream has reached the record
// service's current revision (read from a Lookup's answer).
func Quiesce(ctx context.Context, f *Fleet, addr string) error {
	rev, server, err := currentRevision(ctx, addr)
	if err != nil {
		return err
	}
	_, err = f.WaitAll(ctx, quiesceTimeout, func(s *Subscriber) bool {
		return s.ServerID() == server && s.revision.Load() >= rev
	})
	if err != nil {
		return fmt.Errorf("quiesce at revision %d of %s: %w", rev, server, err)
	}
	return nil
}

// currentRevision asks the record service a question and returns the
// revision and server of the answer.
func currentRevision(ctx context.Context, addr string) (uint64, string, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, "", fmt.Errorf("revision: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := clusterdnsv1.NewRecordServiceClient(conn).Lookup(ctx, &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1})
	if err != nil {
		return 0, "", fmt.Errorf("revision: %w", err)
	}
	return resp.GetRevision(), resp.GetServerId(), nil
}

// RestartResult is what a restart of the record service showed.
type RestartResult struct {
	Subscribers int
	// Stopped is the time SIGTERM took to end the old process; Ready the
	// new process's time from start to SERVING; AllBack the time from the
	// SIGTERM until the last subscriber had a stream on the new process,
	// and AfterReady the part of it after the new process was SERVING.
	Stopped, Ready, AllBack, AfterReady time.Duration
	// Resumed and Resynced count how the subscribers' first streams on the
	// new process started.
	Resumed, Resynced int64
	Lookups           *LookupStats
}

// Restart stops the record service, starts it again on the same address
// and waits until every subscriber follows the new process, with the lookup
// load running throughout.
func Restart(ctx context.Context, f *Fleet, rs *RecordService, load LookupLoad, timeout time.Duration) (RestartResult, error) {
	res := RestartResult{Subscribers: len(f.Subscribers()), Lookups: &LookupStats{}}
	lctx, stopLookups := context.WithCancel(ctx)
	lookupsDone := make(chan struct{})
	go func() { defer close(lookupsDone); load.Run(lctx, f, res.Lookups) }()
	defer func() { stopLookups(); <-lookupsDone }()

	_, oldID, err := currentRevision(ctx, rs.Addr)
	if err != nil {
		return res, err
	}
	before := f.Counts()
	t0 := time.Now()
	rs.Stop()
	res.Stopped = time.Since(t0)
	if err := rs.Start(); err != nil {
		return res, err
	}
	if res.Ready, err = rs.Ready(ctx); err != nil {
		return res, err
	}
	readyAt := time.Now()
	if _, err := f.WaitAll(ctx, timeout, func(s *Subscriber) bool {
		id := s.ServerID()
		return id != "" && id != oldID
	}); err != nil {
		return res, fmt.Errorf("after the restart: %w", err)
	}
	var last int64
	for _, s := range f.Subscribers() {
		last = max(last, s.upAt.Load())
	}
	res.AllBack = time.Unix(0, last).Sub(t0)
	res.AfterReady = max(time.Unix(0, last).Sub(readyAt), 0)
	after := f.Counts()
	res.Resumed, res.Resynced = after.Resumes-before.Resumes, after.Resyncs-before.Resyncs
	// A second of lookups on the new process.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(time.Second):
	}
	return res, nil
}
