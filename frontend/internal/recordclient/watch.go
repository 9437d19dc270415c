package recordclient

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// WatchHandler receives the invalidation stream. Watch calls it from one
// goroutine, in stream order. dnscache.Cache implements it.
type WatchHandler interface {
	// Resync announces that a stream (re)started: serverID is the record
	// service process now followed and revision the revision the stream
	// starts at. Answers cached from an earlier revision or another server
	// may have missed changes.
	Resync(serverID string, revision uint64)
	// Invalidate announces that keys changed at revision on serverID.
	Invalidate(serverID string, revision uint64, keys []string)
	// Disconnected announces that the stream broke after a Resync: no
	// invalidation arrives until the next Resync.
	Disconnected()
}

// Watch keeps a Watch stream open until ctx is done and feeds its messages
// to h. The first message of every stream is delivered as a Resync whether
// or not the server marked it, and so is any later resync marker. A broken
// stream is reported with Disconnected and reopened after an exponential
// backoff with jitter (MinBackoff doubling up to MaxBackoff, reset once a
// stream delivers a message). Watch returns nil when ctx is done.
func (c *Client) Watch(ctx context.Context, h WatchHandler) error {
	delay := c.cfg.MinBackoff
	failures := 0
	for {
		delivered, err := c.watchOnce(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		if delivered {
			delay, failures = c.cfg.MinBackoff, 0
		}
		failures++
		wait := delay/2 + rand.N(delay/2+1)
		// Warn once per outage; the retries that follow log at debug level.
		level := slog.LevelDebug
		if failures == 1 {
			level = slog.LevelWarn
		}
		c.cfg.Logger.Log(ctx, level, "record service watch stream broken; reconnecting",
			"target", c.cfg.Target, "err", err, "retry_in", wait, "attempt", failures)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, c.cfg.MaxBackoff)
	}
}

// watchOnce runs one stream until it fails; delivered tells whether it got
// at least one message.
func (c *Client) watchOnce(ctx context.Context, h WatchHandler) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Watch(ctx, &clusterdnsv1.WatchRequest{ClientName: c.cfg.ClientName})
	if err != nil {
		return false, err
	}
	defer func() {
		if delivered {
			// The replica was usable until now.
			c.markUp()
			c.watchUp.Store(false)
			c.serverID.Store(nil)
			c.cfg.Metrics.disconnected()
			h.Disconnected()
		}
	}()
	for {
		msg, err := stream.Recv()
		if err != nil {
			return delivered, err
		}
		c.markUp()
		if !delivered || msg.GetResync() {
			// The client's state is set before the handler hears of the
			// resync, so whoever observes the resync also sees the stream
			// as connected and following this server.
			id := msg.GetServerId()
			c.serverID.Store(&id)
			first := !delivered
			if first {
				delivered = true
				c.watchUp.Store(true)
			}
			h.Resync(id, msg.GetRevision())
			c.cfg.Metrics.resync(id)
			if first {
				c.cfg.Logger.Info("record service watch stream open",
					"target", c.cfg.Target, "server_id", id, "revision", msg.GetRevision())
			}
			continue
		}
		h.Invalidate(msg.GetServerId(), msg.GetRevision(), msg.GetKeys())
		var changed time.Time
		if ct := msg.GetChangeTime(); ct != nil && ct.IsValid() && (ct.GetSeconds() != 0 || ct.GetNanos() != 0) {
			changed = ct.AsTime()
		}
		c.cfg.Metrics.invalidation(len(msg.GetKeys()), changed, time.Now())
	}
}
