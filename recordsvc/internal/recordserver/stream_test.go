package recordserver

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// TestLookupStream checks that LookupStream gives every question the answer
// Lookup gives, refuses what Lookup refuses without ending the stream, and
// ends cleanly when the client closes its side.
func TestLookupStream(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	feed(ts.ix)
	ts.ix.MarkSynced()
	stream, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     *clusterdnsv1.LookupRequest
		invalid string
	}{
		{"service A", &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1}, ""},
		{"case kept", &clusterdnsv1.LookupRequest{Name: "Kubernetes.Default.SVC.cluster.local.", Qtype: 1,
			ClientIp: "10.244.0.5", Transport: clusterdnsv1.Transport_TRANSPORT_UDP}, ""},
		{"no AAAA", &clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 28}, ""},
		{"unknown service", &clusterdnsv1.LookupRequest{Name: "unknown.default.svc.cluster.local.", Qtype: 1}, ""},
		{"outside the zone", &clusterdnsv1.LookupRequest{Name: "example.com.", Qtype: 1}, ""},
		{"empty label", &clusterdnsv1.LookupRequest{Name: "a..cluster.local.", Qtype: 1}, "label 2 is empty"},
		{"no request", nil, "name: empty"},
	}
	// Every question is sent before the first answer is read: the stream
	// holds them all in flight.
	for i, tt := range tests {
		if err := stream.Send(&clusterdnsv1.LookupStreamRequest{Id: uint64(100 + i), Request: tt.req}); err != nil {
			t.Fatalf("%s: Send: %v", tt.name, err)
		}
	}
	got := map[uint64]*clusterdnsv1.LookupStreamResponse{}
	for range tests {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got[msg.GetId()] = msg
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := got[uint64(100+i)]
			if msg == nil {
				t.Fatalf("no response with id %d", 100+i)
			}
			if tt.invalid != "" {
				if !strings.Contains(msg.GetInvalidArgument(), tt.invalid) || msg.GetResponse() != nil {
					t.Fatalf("got %v, want invalid_argument containing %q", msg, tt.invalid)
				}
				_, err := ts.rs.Lookup(ctx, tt.req)
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("Lookup: %v, want InvalidArgument like the stream", err)
				}
				return
			}
			want, err := ts.rs.Lookup(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(msg.GetResponse(), want) || msg.GetInvalidArgument() != "" {
				t.Fatalf("stream answered %v, Lookup %v", msg, want)
			}
		})
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v %v, want the end of the stream (EOF)", msg, err)
	}
}

// TestShutdownEndsLookupStream checks that Shutdown ends lookup streams
// (Unavailable) so that GracefulStop can complete.
func TestShutdownEndsLookupStream(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	ts.ix.MarkSynced()
	stream, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&clusterdnsv1.LookupStreamRequest{Id: 1,
		Request: &clusterdnsv1.LookupRequest{Name: "x.default.svc.cluster.local.", Qtype: 1}}); err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); err != nil || msg.GetResponse().GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR {
		t.Fatalf("got %v %v, want NAME_ERROR", msg, err)
	}
	ts.srv.Shutdown()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Shutdown: %v, want Unavailable", err)
	}
	requireGracefulStop(t, ts)
}

// TestLookupStreamBatch checks batched questions: every question of a
// message's batch gets the answer Lookup gives, more of them than the
// stream holds in flight; answers come in batches only to a client that
// set accept_batch, and every answer says the server reads batches.
func TestLookupStreamBatch(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ctx := callCtx(t)
	feed(ts.ix)
	ts.ix.MarkSynced()
	names := []string{"kubernetes.default.svc.cluster.local.", "Kubernetes.Default.svc.cluster.local.", "unknown.default.svc.cluster.local.", "example.com."}
	for _, accept := range []bool{false, true} {
		stream, err := ts.rs.LookupStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Three messages of lookupStreamInFlight questions each: the
		// server must take slots question by question.
		want := map[uint64]*clusterdnsv1.LookupRequest{}
		var id uint64
		for range 3 {
			var msg *clusterdnsv1.LookupStreamRequest
			for range lookupStreamInFlight {
				id++
				req := &clusterdnsv1.LookupRequest{Name: names[id%uint64(len(names))], Qtype: 1}
				want[id] = req
				q := &clusterdnsv1.LookupStreamRequest{Id: id, Request: req}
				if msg == nil {
					msg = q
					msg.AcceptBatch = accept
					continue
				}
				msg.Batch = append(msg.Batch, q)
			}
			if err := stream.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
		got := map[uint64]*clusterdnsv1.LookupStreamResponse{}
		batched := false
		for len(got) < len(want) {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatalf("accept_batch %v: Recv after %d answers: %v", accept, len(got), err)
			}
			if !msg.GetAcceptsBatch() {
				t.Fatalf("accept_batch %v: answer %d without accepts_batch", accept, msg.GetId())
			}
			batched = batched || len(msg.GetBatch()) > 0
			for _, m := range append([]*clusterdnsv1.LookupStreamResponse{msg}, msg.GetBatch()...) {
				if got[m.GetId()] != nil {
					t.Fatalf("answer %d twice", m.GetId())
				}
				got[m.GetId()] = m
			}
		}
		if !accept && batched {
			t.Errorf("answers batched for a client that did not set accept_batch")
		}
		for id, req := range want {
			resp, err := ts.rs.Lookup(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if m := got[id]; !proto.Equal(m.GetResponse(), resp) {
				t.Fatalf("accept_batch %v: question %d answered %v, Lookup %v", accept, id, m, resp)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if msg, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseSend: %v %v, want EOF", msg, err)
		}
	}
}

// TestLookupStreamWorkersIdle checks that a LookupStream answers cheap
// questions without workers, starts at most lookupStreamWorkers workers for
// a burst of known-expensive ones (a question whose large answer is
// memoized), that they stop once idle (an idle stream holds none), and that
// the stream answers every question of a second burst after they stopped.
func TestLookupStreamWorkersIdle(t *testing.T) {
	ts := start(t, kubeindex.Config{})
	ts.srv.streamIdle.Store(int64(50 * time.Millisecond))
	feed(ts.ix)
	bigHeadless(ts.ix, 100)
	ts.ix.MarkSynced()
	ctx := callCtx(t)
	stream, err := ts.rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const big = "big.demo.svc.cluster.local."
	burst := func(round int, expensive bool) {
		t.Helper()
		const n = 3 * lookupStreamInFlight
		// Sent from another goroutine: the stream stops reading at
		// lookupStreamInFlight until answers are read here.
		sent := make(chan error, 1)
		go func() {
			for i := range n {
				req := &clusterdnsv1.LookupStreamRequest{Id: uint64(round*n + i), Request: &clusterdnsv1.LookupRequest{
					Name: fmt.Sprintf("svc-%d.default.svc.cluster.local.", i%7), Qtype: 1}}
				switch {
				case i%7 != 0:
				case expensive:
					req.Request.Name, req.Request.Qtype = big, 33
				default:
					req.Request.Name = "kubernetes.default.svc.cluster.local."
				}
				if err := stream.Send(req); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		peak := 0
		for i := range n {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatalf("round %d: Recv %d: %v", round, i, err)
			}
			id := int(msg.GetId()) - round*n
			want := clusterdnsv1.Result_RESULT_NAME_ERROR
			if id%7 == 0 {
				want = clusterdnsv1.Result_RESULT_SUCCESS
			}
			if got := msg.GetResponse().GetResult(); got != want {
				t.Fatalf("round %d: question %d: %v, want %v", round, id, got, want)
			}
			if id%7 == 0 && expensive && len(msg.GetResponse().GetAnswer()) != 4*100 {
				t.Fatalf("round %d: question %d: %d records, want 400", round, id, len(msg.GetResponse().GetAnswer()))
			}
			peak = max(peak, answerWorkers())
		}
		if err := <-sent; err != nil {
			t.Fatalf("round %d: Send: %v", round, err)
		}
		switch {
		case peak > lookupStreamWorkers:
			t.Errorf("round %d: %d workers at once, want at most %d", round, peak, lookupStreamWorkers)
		case !expensive && peak > 0:
			t.Errorf("round %d: %d workers for cheap questions, want none", round, peak)
		case expensive && peak == 0:
			t.Errorf("round %d: no worker for known-expensive questions", round)
		}
	}
	idle := func(round int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for answerWorkers() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d workers still running on an idle stream", round, answerWorkers())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	burst(0, false)
	// The first answer to big is computed where it is asked, then
	// memoized: from then on big is known to be expensive.
	if _, err := ts.srv.answer(&clusterdnsv1.LookupRequest{Name: big, Qtype: 33}); err != nil {
		t.Fatal(err)
	}
	for round := 1; round < 3; round++ {
		burst(round, true)
		idle(round)
	}
}

// answerWorkers counts the goroutines running answerWorker in this process.
func answerWorkers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "recordserver.(*Server).answerWorker(")
		}
		buf = make([]byte, 2*len(buf))
	}
}
