package recordserver

import (
	"io"
	"log/slog"
	"testing"

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
