package recordserver

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// BenchmarkBigSRV answers the SRV question of a headless Service of 12,000
// endpoints x 4 ports: computed every time (schema) and through the
// server's memo (memo).
func BenchmarkBigSRV(b *testing.B) {
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ix := kubeindex.New(kubeindex.Config{})
	bigHeadless(ix, 12000)
	ix.MarkSynced()
	srv := New(schema, ix, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer srv.Shutdown()
	req := &clusterdnsv1.LookupRequest{Name: "big.demo.svc.cluster.local.", Qtype: 33}
	b.Run("schema", func(b *testing.B) {
		for b.Loop() {
			schema.Answer(ix, req)
		}
	})
	b.Run("memo", func(b *testing.B) {
		for b.Loop() {
			if _, err := srv.answer(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAnswerMemoOneComputation asks a known-expensive question from many
// goroutines at a new revision: one computes, the others wait for it.
func TestAnswerMemoOneComputation(t *testing.T) {
	m := newAnswerMemo(8)
	k := memoKey{"big.demo.svc.cluster.local.", 33}
	big := func(rev uint64) *clusterdnsv1.LookupResponse {
		return &clusterdnsv1.LookupResponse{Revision: rev, Truncated: true}
	}
	m.answer(k, 1, func() *clusterdnsv1.LookupResponse { return big(1) })

	const askers = 10
	release := make(chan struct{})
	var computed atomic.Int32
	var wg sync.WaitGroup
	for range askers {
		wg.Go(func() {
			resp := m.answer(k, 2, func() *clusterdnsv1.LookupResponse {
				computed.Add(1)
				<-release
				return big(2)
			})
			if resp.GetRevision() != 2 {
				t.Errorf("answer at revision %d", resp.GetRevision())
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		m.mu.Lock()
		waiting := m.waiting
		m.mu.Unlock()
		if waiting == askers-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", waiting, askers-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := computed.Load(); n != 1 {
		t.Fatalf("computed %d times, want once", n)
	}
}

// BenchmarkLookupMiss answers what a frontend asks on a cache miss in the
// bench's unique-name workload: names of Services that do not exist
// (NXDOMAIN with the zone SOA), each asked once, from a client address.
func BenchmarkLookupMiss(b *testing.B) {
	schema, err := dnsschema.New(dnsschema.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ix := kubeindex.New(kubeindex.Config{})
	feed(ix)
	ix.MarkSynced()
	srv := New(schema, ix, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer srv.Shutdown()
	names := make([]string, 4096)
	for i := range names {
		names[i] = "svc-" + strconv.Itoa(i) + ".default.svc.cluster.local."
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := &clusterdnsv1.LookupRequest{Name: names[i%len(names)], Qtype: 1, ClientIp: "10.244.0.7"}
		i++
		if _, err := srv.answer(req); err != nil {
			b.Fatal(err)
		}
	}
}
