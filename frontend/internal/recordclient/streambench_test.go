package recordclient_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// missAnswer is the record service's answer to a question about a Service
// that does not exist: NXDOMAIN, the zone's SOA, the keys of the Service
// and its namespace.
func missAnswer(name string) *clusterdnsv1.LookupResponse {
	return &clusterdnsv1.LookupResponse{
		Result: clusterdnsv1.Result_RESULT_NAME_ERROR,
		Authority: []*clusterdnsv1.ResourceRecord{{Name: "cluster.local.", Ttl: 5, Data: &clusterdnsv1.ResourceRecord_Soa{
			Soa: &clusterdnsv1.SOARecord{Mname: "ns.dns.cluster.local.", Rname: "hostmaster.cluster.local.", Serial: 1733540000,
				Refresh: 7200, Retry: 1800, Expire: 86400, Minimum: 5}}}},
		Revision: 42,
		Keys:     []string{"svc/default/" + name[:8], "ns/default"},
		Ttl:      5,
		ServerId: "0123456789abcdef",
	}
}

// BenchmarkLookupStream asks over the lookup stream what the frontend asks
// on cache misses of unique names, answered as names that do not exist:
// one lookup at a time (serial: a miss at a low query rate, every hand-off
// and wake-up paid per question) and from 32 goroutines per CPU at once
// (parallel: misses under load, which the stream batches).
func BenchmarkLookupStream(b *testing.B) {
	c := newStreamClient(b, &streamRecords{fakeRecords: newFake(), batching: true, miss: true}, false)
	names := make([]string, 4096)
	for i := range names {
		names[i] = "svc-" + strconv.Itoa(100000+i) + ".default.svc.cluster.local."
	}
	lookup := func(b *testing.B, i int) {
		resp, err := c.Lookup(b.Context(), names[i%len(names)], 1, "10.244.0.7", clusterdnsv1.Transport_TRANSPORT_UDP)
		if err != nil {
			b.Fatal(err)
		}
		if resp.GetResult() != clusterdnsv1.Result_RESULT_NAME_ERROR {
			b.Fatalf("result %v", resp.GetResult())
		}
	}
	lookup(b, 0) // opens the stream
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			lookup(b, i)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lookup(b, int(n.Add(1)))
			}
		})
	})
}
