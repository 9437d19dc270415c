package forward

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// startEchoUpstream answers every UDP datagram with itself, QR set: a reply to the query's question with
// no records, made with one read and one write, so that a benchmark measures the forwarder and not the
// upstream. It stops at the end of the benchmark.
func startEchoUpstream(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen udp: %v", err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if n < 12 {
				continue
			}
			buf[2] |= 0x80
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	b.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// BenchmarkForward sends distinct A questions through Forward from many goroutines at once (as a busy
// frontend forwards cache misses) to one loopback upstream over UDP: an echoing one that costs next to
// nothing, and a miekg/dns server answering one A record.
func BenchmarkForward(b *testing.B) {
	upstreams := []struct {
		name  string
		start func(b *testing.B) string
	}{
		{"echo", startEchoUpstream},
		{"miekg", startBenchMiekg},
	}
	for _, up := range upstreams {
		b.Run("upstream="+up.name, func(b *testing.B) {
			addr := up.start(b)
			f, err := New(Config{Upstreams: []string{addr}}, nil)
			if err != nil {
				b.Fatalf("New: %v", err)
			}
			var seq atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					name := "host-" + strconv.FormatUint(seq.Add(1)%10000, 10) + ".example.com."
					if _, err := f.Forward(ctx, query(name, dns.TypeA, 1)); err != nil {
						b.Errorf("Forward: %v", err)
						return
					}
				}
			})
		})
	}
}

// startBenchMiekg starts a miekg/dns UDP server on 127.0.0.1 answering one A record.
func startBenchMiekg(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen udp: %v", err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(answerA("192.0.2.1")), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	b.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
