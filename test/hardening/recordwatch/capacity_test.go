package recordwatch

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/grpc"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/stack"
)

// headlessDocs is a headless Service big in namespace demo with n ready
// endpoints (slices of at most 1,000, as the API allows) of four ports.
func headlessDocs(n int) string {
	var b strings.Builder
	b.WriteString(namespaceDocs("demo", "default"))
	ports := "  - name: http\n    port: 80\n    protocol: TCP\n  - name: https\n    port: 443\n    protocol: TCP\n" +
		"  - name: metrics\n    port: 9090\n    protocol: TCP\n  - name: grpc\n    port: 9091\n    protocol: TCP\n"
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: big\n  namespace: demo\nspec:\n  clusterIP: None\n  ports:\n%s", ports)
	for s := 0; s*1000 < n; s++ {
		fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-%d\n  namespace: demo\n"+
			"  labels:\n    kubernetes.io/service-name: big\naddressType: IPv4\nports:\n%sendpoints:\n", s, ports)
		for i := s * 1000; i < min(n, (s+1)*1000); i++ {
			fmt.Fprintf(&b, "- addresses: [10.%d.%d.%d]\n  hostname: h%d\n  conditions: {ready: true}\n", 1+i>>16, (i>>8)&255, i&255, i)
		}
	}
	return b.String()
}

// toMsg builds the DNS response a DNS server would send for resp.
func toMsg(t *testing.T, qname string, qtype uint16, resp *clusterdnsv1.LookupResponse) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Response, m.Authoritative, m.Truncated = true, true, resp.GetTruncated()
	conv := func(rr *clusterdnsv1.ResourceRecord) dns.RR {
		hdr := dns.RR_Header{Name: rr.GetName(), Class: dns.ClassINET, Ttl: rr.GetTtl()}
		switch d := rr.GetData().(type) {
		case *clusterdnsv1.ResourceRecord_A:
			hdr.Rrtype = dns.TypeA
			return &dns.A{Hdr: hdr, A: net.ParseIP(d.A.GetAddress())}
		case *clusterdnsv1.ResourceRecord_Srv:
			hdr.Rrtype = dns.TypeSRV
			return &dns.SRV{Hdr: hdr, Priority: uint16(d.Srv.GetPriority()), Weight: uint16(d.Srv.GetWeight()),
				Port: uint16(d.Srv.GetPort()), Target: d.Srv.GetTarget()}
		default:
			t.Fatalf("unexpected record %v", rr)
			return nil
		}
	}
	for _, rr := range resp.GetAnswer() {
		m.Answer = append(m.Answer, conv(rr))
	}
	for _, rr := range resp.GetAdditional() {
		m.Extra = append(m.Extra, conv(rr))
	}
	m.SetEdns0(dns.DefaultMsgSize, false)
	return m
}

// TestHugeHeadlessSRV asks, on one LookupStream, the SRV question of a
// headless Service with 12,000 endpoints x 4 ports (48,000 records, 4.6 MB
// uncut) again and again between small questions: each big answer comes
// truncated and packs into one DNS message under 64 KiB, the stream stays
// up, and every small question on it is answered.
func TestHugeHeadlessSRV(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	writeFile(t, file, headlessDocs(12000)+serviceDoc("default", "kubernetes", "10.96.0.1"))
	rsvc := stack.StartRecordService(t, bins, "--source", "file:"+file)
	_, rs := dial(t, rsvc.Addr)
	const big, small = "big.demo.svc.cluster.local.", "kubernetes.default.svc.cluster.local."

	stream, err := rs.LookupStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 10
	sendErr := make(chan error, 1)
	go func() {
		for i := range rounds {
			for j, q := range []*clusterdnsv1.LookupRequest{{Name: big, Qtype: uint32(dns.TypeSRV)},
				{Name: small, Qtype: uint32(dns.TypeA)}, {Name: small, Qtype: uint32(dns.TypeA)}} {
				if err := stream.Send(&clusterdnsv1.LookupStreamRequest{Id: uint64(3*i + j), Request: q}); err != nil {
					sendErr <- err
					return
				}
			}
		}
		sendErr <- nil
	}()
	largest := 0
	for range 3 * rounds {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("LookupStream torn down: %v", err)
		}
		resp := msg.GetResponse()
		if resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS {
			t.Fatalf("id %d: %v %s", msg.GetId(), resp.GetResult(), msg.GetInvalidArgument())
		}
		if msg.GetId()%3 != 0 {
			if len(resp.GetAnswer()) != 1 || resp.GetTruncated() {
				t.Fatalf("small answer %v", resp)
			}
			continue
		}
		if !resp.GetTruncated() || len(resp.GetAnswer()) == 0 {
			t.Fatalf("big answer: truncated %v with %d records", resp.GetTruncated(), len(resp.GetAnswer()))
		}
		m := toMsg(t, big, dns.TypeSRV, resp)
		for _, compress := range []bool{false, true} {
			m.Compress = compress
			wire, err := m.Pack()
			if err != nil {
				t.Fatalf("pack: %v", err)
			}
			if len(wire) > dns.MaxMsgSize {
				t.Fatalf("big answer packs to %d bytes (compress %v)", len(wire), compress)
			}
			largest = max(largest, len(wire))
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("Send: %v", err)
	}
	// The stream is still up for more.
	if err := stream.Send(&clusterdnsv1.LookupStreamRequest{Id: 1000, Request: &clusterdnsv1.LookupRequest{Name: small, Qtype: 1}}); err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); err != nil || msg.GetId() != 1000 {
		t.Fatalf("after the big answers: %v %v", msg, err)
	}
	t.Logf("truncated SRV answer: at most %d bytes packed", largest)
}

// idleStreams is how many idle Watch streams TestIdleWatchStreamsMemory
// opens, over connections of streamsPerConn (below the server's HTTP/2
// stream limit per connection).
const (
	idleStreams    = 2000
	streamsPerConn = 50
	// idleStreamsRSSBound bounds the growth of the record service's RSS
	// for idleStreams streams: before Watch queues were allocated lazily
	// each stream preallocated 4,096 changes and 2,000 streams took
	// ~300-400 MB.
	idleStreamsRSSBound = 96 << 20
)

// TestIdleWatchStreamsMemory opens 2,000 idle Watch streams to one record
// service and bounds its RSS growth; then a change reaches every stream.
func TestIdleWatchStreamsMemory(t *testing.T) {
	ctx := testCtx(t)
	bins := stack.Installed(t)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	base := namespaceDocs("default") + serviceDoc("default", "kubernetes", "10.96.0.1")
	writeFile(t, file, base)
	args := append([]string{"--source", "file:" + file}, securityLimitsOff(t, bins.RecordService)...)
	rsvc := stack.StartRecordService(t, bins, args...)
	// Warm up: one stream, so the baseline includes the gRPC machinery.
	_, rs := dial(t, rsvc.Addr)
	w, _ := openWatch(t, ctx, rs, &clusterdnsv1.WatchRequest{ClientName: "warm-up"})
	w.CloseSend()
	before := rssBytes(t, rsvc.PID())

	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var streams []grpc.ServerStreamingClient[clusterdnsv1.WatchResponse]
	for i := range idleStreams {
		if i%streamsPerConn == 0 {
			_, rs = dial(t, rsvc.Addr)
		}
		s, _ := openWatch(t, streamCtx, rs, &clusterdnsv1.WatchRequest{ClientName: fmt.Sprintf("idle-%d", i)})
		streams = append(streams, s)
	}
	eventually(t, "watch streams counted", func() string {
		m, err := stack.Scrape(ctx, rsvc.MetricsAddr)
		if err != nil {
			return err.Error()
		}
		if n := m.Sum("clusterdns_recordsvc_watch_streams"); n < idleStreams {
			return fmt.Sprintf("%v streams", n)
		}
		return ""
	})
	after := rssBytes(t, rsvc.PID())
	t.Logf("record service RSS: %d MiB before, %d MiB with %d idle Watch streams (+%d KiB per stream)",
		before>>20, after>>20, idleStreams, (after-before)/idleStreams>>10)
	if after-before > idleStreamsRSSBound {
		t.Fatalf("RSS grew by %d MiB for %d idle streams, bound %d MiB", (after-before)>>20, idleStreams, idleStreamsRSSBound>>20)
	}

	// The streams are alive: one change reaches each.
	writeFile(t, file, base+namespaceDocs("wake"))
	var wg sync.WaitGroup
	errs := make(chan error, len(streams))
	for _, s := range streams {
		wg.Go(func() {
			msg, err := s.Recv()
			switch {
			case err != nil:
				errs <- err
			case !keysOf([]*clusterdnsv1.WatchResponse{msg})["ns/wake"]:
				errs <- fmt.Errorf("got %v, want ns/wake", msg)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("stream after the change: %v", err)
	}
}
