package recordserver

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Outcomes of the watch_starts metric.
const (
	watchFresh    = "fresh"
	watchResumed  = "resumed"
	watchNoResume = "resume_failed"
)

// Watch streams a resync marker at the current revision, or the catch-up
// of a resumed stream (see WatchResponse.resumed), then every change in
// revision order, each dated by its change_time. A watcher that falls
// behind is ended with codes.Unavailable and must resume or resync.
func (s *Server) Watch(req *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	ctx := stream.Context()
	from, asked := s.resumePoint(req)
	if asked {
		if err := s.waitSynced(ctx); err != nil {
			return err
		}
	}
	sub := s.ix.SubscribeFrom(ctx, from)
	defer sub.Close()
	s.metrics.watchStreams.Inc()
	defer s.metrics.watchStreams.Dec()

	logger := s.logger.With("client", req.GetClientName())
	if p, ok := peer.FromContext(ctx); ok {
		logger = logger.With("peer", p.Addr.String())
	}
	outcome := watchFresh
	switch {
	case sub.Resumed():
		outcome = watchResumed
		logger.Debug("watch resumed", "revision", sub.Revision(), "keys", len(sub.CatchUp()),
			"from_server", req.GetResumeServerId(), "from_revision", req.GetResumeRevision())
	case asked:
		outcome = watchNoResume
		logger.Info("watch could not resume: resync", "from_server", req.GetResumeServerId(),
			"from_revision", req.GetResumeRevision(), "revision", sub.Revision())
	default:
		logger.Debug("watch started", "revision", sub.Revision())
	}
	s.metrics.watchStarts.WithLabelValues(outcome).Inc()

	if err := s.sendFirst(stream, sub); err != nil {
		return err
	}
	shared := shareable(ctx, stream)
	var batch []kubeindex.Change
	for {
		select {
		case <-sub.Ready():
			var open bool
			batch, open = sub.Take(batch[:0])
			for _, c := range batch {
				if err := s.sendChange(stream, c, shared); err != nil {
					logger.Debug("watch send failed", "err", err)
					return err
				}
			}
			clear(batch) // let the keys go
			if cap(batch) > 64 {
				batch = nil // a burst's buffer is not kept by an idle stream
			}
			if !open {
				return s.watchEnded(ctx, logger, sub.Err())
			}
		case <-s.done:
			logger.Debug("watch ended by shutdown")
			return status.Error(codes.Unavailable, "record service shutting down")
		}
	}
}

// waitSynced holds a watcher that asks to resume until the indexes have
// synced. A replica that just started (a restart, a rolling update) knows
// the digest of the watcher's resume point only once it holds the same
// objects: answered earlier, every one of a fleet of frontends would be
// told to resync against a half-loaded index and drop its whole cache,
// then refill it with a storm of lookups. A fresh watcher has nothing to
// keep and starts at once.
func (s *Server) waitSynced(ctx context.Context) error {
	select {
	case <-s.ix.SyncedChan():
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-s.done:
		return status.Error(codes.Unavailable, "record service shutting down")
	}
}

// resumePoint reads where req wants to resume; asked is false when it
// names no resume point at all.
func (s *Server) resumePoint(req *clusterdnsv1.WatchRequest) (from kubeindex.ResumePoint, asked bool) {
	asked = req.GetResumeServerId() != "" || req.GetResumeRevision() != 0 || len(req.GetResumeDigest()) > 0
	if req.GetResumeServerId() == s.id {
		from.Revision, from.ByRevision = req.GetResumeRevision(), true
	}
	from.Digest, from.ByDigest = kubeindex.ParseDigest(req.GetResumeDigest())
	return from, asked
}

// sendFirst sends the resync marker, or the catch-up of a resumed
// subscription: its keys over as many messages as they need, all at the
// subscription's revision, resumed set on the first, the digest on the last.
func (s *Server) sendFirst(stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse], sub *kubeindex.Subscription) error {
	digest := sub.Digest()
	if !sub.Resumed() {
		return stream.Send(&clusterdnsv1.WatchResponse{Revision: sub.Revision(), Resync: true, ServerId: s.id,
			StateDigest: digest[:]})
	}
	keys := sub.CatchUp()
	first := true
	for {
		n := min(len(keys), maxKeysPerMessage)
		msg := &clusterdnsv1.WatchResponse{Revision: sub.Revision(), Keys: keys[:n], ServerId: s.id, Resumed: first}
		keys = keys[n:]
		if len(keys) == 0 {
			msg.StateDigest = digest[:]
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		first = false
	}
}

// maxKeysPerMessage splits the keys of a large change (a reload of a big
// file) over several messages of the same revision, keeping each far below
// gRPC's default 4 MiB message limit. A watcher applies each message as it
// comes; entries depending on keys of a later message stay valid only until
// it arrives, as if the network had delayed them. Only the last message of
// a revision carries the state digest: a watcher resumes from complete
// revisions only.
const maxKeysPerMessage = 8192

// sendChange sends c, over as many messages as its keys need. A change
// that fits one message goes to a shared stream encoded once for all of
// them (encoded.go).
func (s *Server) sendChange(stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse], c kubeindex.Change, shared bool) error {
	if shared && len(c.Keys) <= maxKeysPerMessage {
		pm, err := s.encoded.get(c.Revision, func() (*grpc.PreparedMsg, int, error) {
			msg := s.changeMessage(c, c.Keys, true)
			pm := new(grpc.PreparedMsg)
			if err := pm.Encode(stream, msg); err != nil {
				return nil, 0, err
			}
			return pm, proto.Size(msg), nil
		})
		if err != nil {
			return err
		}
		return stream.SendMsg(pm)
	}
	keys := c.Keys
	for {
		n := min(len(keys), maxKeysPerMessage)
		last := n == len(keys)
		if err := stream.Send(s.changeMessage(c, keys[:n], last)); err != nil {
			return err
		}
		if last {
			return nil
		}
		keys = keys[n:]
	}
}

// changeMessage is one message of change c carrying keys; the last of its
// messages carries the state digest.
func (s *Server) changeMessage(c kubeindex.Change, keys []string, last bool) *clusterdnsv1.WatchResponse {
	msg := &clusterdnsv1.WatchResponse{Revision: c.Revision, Keys: keys, ServerId: s.id, ChangeTime: timestamppb.New(c.ChangeTime)}
	if last {
		msg.StateDigest = c.Digest[:]
	}
	return msg
}

func (s *Server) watchEnded(ctx context.Context, logger *slog.Logger, err error) error {
	if errors.Is(err, kubeindex.ErrSubscriberBehind) {
		s.metrics.watchOverflows.Inc()
		logger.Warn("watch ended: the client fell behind the change stream")
		return status.Error(codes.Unavailable, "watch fell behind the change stream: reconnect and resync")
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		logger.Debug("watch ended by client", "err", ctxErr)
		return status.FromContextError(ctxErr).Err()
	}
	logger.Warn("watch ended", "err", err)
	return status.Errorf(codes.Unavailable, "watch ended: %v", err)
}
