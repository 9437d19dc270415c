package dnsserver

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterdns/clusterdns/frontend/internal/dnscache"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// heldRecords answers every lookup once release is closed, counting them.
type heldRecords struct {
	release  chan struct{}
	autopath bool
	calls    atomic.Int64
}

func (r *heldRecords) Lookup(ctx context.Context, name string, _ uint16, _ string, _ clusterdnsv1.Transport) (*clusterdnsv1.LookupResponse, error) {
	r.calls.Add(1)
	<-r.release
	resp := &clusterdnsv1.LookupResponse{Result: clusterdnsv1.Result_RESULT_NAME_ERROR}
	if r.autopath {
		resp.AutopathNamespace = "default"
	}
	return resp, nil
}

// fakeWriter is a ResponseWriter of a client at an address.
type fakeWriter struct {
	dns.ResponseWriter
	addr net.Addr
}

func (w fakeWriter) RemoteAddr() net.Addr { return w.addr }

// TestFetchShares: identical questions in flight share one lookup, except
// that an answer completed from one client's search path (autopath) is
// not handed to another client, which asks for itself.
func TestFetchShares(t *testing.T) {
	tests := []struct {
		name      string
		autopath  bool
		otherIP   bool
		wantCalls int64
	}{
		{"same client", false, false, 1},
		{"other client", false, true, 1},
		{"autopath, same client", true, false, 1},
		{"autopath, other client", true, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := &heldRecords{release: make(chan struct{}), autopath: tt.autopath}
			h, err := NewHandler(t.Context(), Config{Records: recs})
			if err != nil {
				t.Fatal(err)
			}
			q := dns.Question{Name: "x.default.svc.cluster.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
			key := dnscache.NewKey(q.Name, q.Qtype, q.Qclass, false)
			exchangeFor := func(ip string) *exchange {
				return &exchange{
					w:         fakeWriter{addr: &net.UDPAddr{IP: net.ParseIP(ip), Port: 5353}},
					req:       new(dns.Msg).SetQuestion(q.Name, q.Qtype),
					transport: clusterdnsv1.Transport_TRANSPORT_UDP,
				}
			}
			second := "10.0.0.1"
			if tt.otherIP {
				second = "10.0.0.2"
			}
			var wg sync.WaitGroup
			shared := make([]bool, 2)
			for i, ip := range []string{"10.0.0.1", second} {
				if i == 1 {
					// The second asks once the first's lookup is under way.
					waitFor(t, func() bool { return recs.calls.Load() > 0 })
				}
				wg.Go(func() {
					resp, s, err := h.fetch(exchangeFor(ip), q, key)
					if err != nil || resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR {
						t.Errorf("asker %d: %v %v", i, resp, err)
					}
					shared[i] = s
				})
			}
			waitFor(t, func() bool { return h.flights.waiting.Load() > 0 })
			close(recs.release)
			wg.Wait()
			if got := recs.calls.Load(); got != tt.wantCalls {
				t.Errorf("%d lookups, want %d", got, tt.wantCalls)
			}
			if shared[0] || shared[1] != (tt.wantCalls == 1) {
				t.Errorf("shared %v", shared)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 20s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGate: a gate admits up to its size at once and admits again when
// slots are given back.
func TestGate(t *testing.T) {
	tests := []struct {
		size, enter, leave, enterAgain int
		wantIn, wantAgain              int
	}{
		{size: 1, enter: 3, leave: 1, enterAgain: 3, wantIn: 1, wantAgain: 1},
		{size: 4, enter: 3, leave: 0, enterAgain: 3, wantIn: 3, wantAgain: 1},
		{size: 4, enter: 10, leave: 4, enterAgain: 2, wantIn: 4, wantAgain: 2},
	}
	for _, tt := range tests {
		g := newGate(tt.size)
		in := 0
		for range tt.enter {
			if g.enter() {
				in++
			}
		}
		for range tt.leave {
			g.leave()
		}
		again := 0
		for range tt.enterAgain {
			if g.enter() {
				again++
			}
		}
		if in != tt.wantIn || again != tt.wantAgain || g.inUse() > int64(tt.size) {
			t.Errorf("%+v: admitted %d then %d (in use %d), want %d then %d", tt, in, again, g.inUse(), tt.wantIn, tt.wantAgain)
		}
	}
}
