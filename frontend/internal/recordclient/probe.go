package recordclient

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// probe keeps Ready honest while no traffic says anything: every
// ProbeInterval in which neither a Watch message nor a Lookup answer
// arrived, it asks the record service's gRPC health service, over the same
// connection as Lookups, with ProbeInterval as the deadline. A stopped or
// unreachable replica thus turns the client not Ready within about two
// intervals, while a busy frontend sends no probes at all. It returns when
// ctx is done.
func (c *Client) probe(ctx context.Context) {
	health := healthpb.NewHealthClient(c.conn)
	req := &healthpb.HealthCheckRequest{Service: clusterdnsv1.RecordService_ServiceDesc.ServiceName}
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		up := c.lastUp.Load()
		if up >= c.lastDown.Load() && time.Since(time.Unix(0, up)) < c.cfg.ProbeInterval {
			continue // traffic proved it answers
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeInterval)
		resp, err := health.Check(pctx, req)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING:
			c.markUp()
		case status.Code(err) == codes.Unimplemented:
			// A server without the health service answered: it is there.
			c.markUp()
		default:
			// NOT_SERVING (not synced, shutting down), or no answer.
			c.markDown()
		}
	}
}
