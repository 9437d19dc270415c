package recordclient

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
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

// Resumer is a WatchHandler that can keep what it cached across a broken
// stream. Watch asks the record service to resume only for a handler that
// implements it.
type Resumer interface {
	WatchHandler
	// Resume announces that a stream reopened at serverID's revision
	// resumed from the point the previous stream had reached: keys are the
	// keys changed since (more may follow as Invalidate calls of the same
	// revision), everything else cached then is still valid. sameServer
	// tells that serverID is the server of that point, so its revisions
	// continue the ones cached; otherwise they are not comparable and the
	// answers kept count as computed before every revision of serverID.
	Resume(serverID string, revision uint64, keys []string, sameServer bool)
}

// resumePoint is the last state of the stream fully applied: the revision,
// server and state digest of the last message carrying a digest.
type resumePoint struct {
	revision uint64
	serverID string
	digest   []byte
}

// Watch keeps a Watch stream open until ctx is done and feeds its messages
// to h. The first message of every stream is delivered as a Resync whether
// or not the server marked it (as a Resume when the stream resumed, see
// Resumer), and so is any later resync marker. A broken stream is reported
// with Disconnected and reopened after an exponential backoff with jitter
// (MinBackoff doubling up to MaxBackoff, reset once a stream delivers a
// message). While it runs, the record service's health is probed whenever
// traffic is silent (probe.go), so that Ready follows it. Watch returns nil
// when ctx is done.
func (c *Client) Watch(ctx context.Context, h WatchHandler) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	wg.Go(func() { c.probe(probeCtx) })

	var point resumePoint
	delay := c.cfg.MinBackoff
	failures := 0
	for {
		delivered, err := c.watchOnce(ctx, h, &point)
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
		msg := "record service watch stream broken; reconnecting"
		if failures == 1 {
			level = slog.LevelWarn
			if !delivered && c.handshakeFailed(err) {
				// The usual cause is a certificate or CA that does not
				// match the record service's: say so plainly.
				level = slog.LevelError
				msg = "record service TLS handshake failed, or the record service closed the connection right after it " +
					"as it does when it refuses the client certificate (check --recordsvc-tls-cert, --recordsvc-tls-key, " +
					"--recordsvc-tls-ca and --recordsvc-tls-server-name against the record service's certificate and " +
					"client CA); reconnecting"
			}
		}
		c.cfg.Logger.Log(ctx, level, msg,
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

// handshakeFailed tells whether err, the failure of a stream that never
// delivered a message, is gRPC's report of a failed TLS handshake or of a
// peer that refused ours. gRPC gives no error type for it, only its text.
// With TLS 1.3 a server checks the client's certificate after the client
// has finished its side of the handshake, so a refused certificate often
// shows only as the connection closed at the first write or read.
func (c *Client) handshakeFailed(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	for _, sign := range []string{"handshake", "tls:", "x509:", "certificate"} {
		if strings.Contains(s, sign) {
			return true
		}
	}
	if !c.tls {
		return false
	}
	for _, sign := range []string{"broken pipe", "connection reset", "EOF", "server preface"} {
		if strings.Contains(s, sign) {
			return true
		}
	}
	return false
}

// watchOnce runs one stream until it fails; delivered tells whether it got
// at least one message. point is the resume point, sent in the request when
// h can resume and moved on as messages carrying a state digest are
// applied.
func (c *Client) watchOnce(ctx context.Context, h WatchHandler, point *resumePoint) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resumer, canResume := h.(Resumer)
	req := &clusterdnsv1.WatchRequest{ClientName: c.cfg.ClientName}
	asked := canResume && point.serverID != ""
	if asked {
		req.ResumeRevision, req.ResumeServerId, req.ResumeDigest = point.revision, point.serverID, point.digest
	}
	stream, err := c.rpc.Watch(ctx, req)
	if err != nil {
		return false, err
	}
	defer func() {
		if delivered {
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
		resynced := false
		switch {
		case !delivered || msg.GetResync():
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
			resumed := first && asked && msg.GetResumed() && !msg.GetResync()
			if resumed {
				resumer.Resume(id, msg.GetRevision(), msg.GetKeys(), id == point.serverID)
				c.cfg.Metrics.resumed(id, len(msg.GetKeys()))
			} else {
				h.Resync(id, msg.GetRevision())
				c.cfg.Metrics.resync(id)
				resynced = true
			}
			if first {
				c.cfg.Logger.Info("record service watch stream open", "target", c.cfg.Target,
					"server_id", id, "revision", msg.GetRevision(), "resumed", resumed, "keys_changed", len(msg.GetKeys()))
			}
		default:
			h.Invalidate(msg.GetServerId(), msg.GetRevision(), msg.GetKeys())
			var changed time.Time
			if ct := msg.GetChangeTime(); ct != nil && ct.IsValid() && (ct.GetSeconds() != 0 || ct.GetNanos() != 0) {
				changed = ct.AsTime()
			}
			c.cfg.Metrics.invalidation(len(msg.GetKeys()), changed, time.Now())
		}
		// A revision split over several messages is applied once its last
		// message, the one with the digest, is. A resync without a digest
		// (a server that cannot resume) leaves nothing to resume from.
		if d := msg.GetStateDigest(); len(d) > 0 {
			*point = resumePoint{revision: msg.GetRevision(), serverID: msg.GetServerId(), digest: d}
		} else if resynced {
			*point = resumePoint{}
		}
	}
}
