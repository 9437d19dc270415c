package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// WatchServices sends the state of each followed Service, then its new state
// after every change that touched it.
func (s *Server) WatchServices(req *clusterdnsv1.WatchServicesRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]) error {
	return s.count("WatchServices", s.watchServices(req, stream))
}

// watched is one followed Service.
type watched struct {
	ref *clusterdnsv1.ServiceRef
	// sentAt is the revision of the last state sent; a change at or before
	// it is already reflected in what the watcher has.
	sentAt uint64
}

func (s *Server) watchServices(req *clusterdnsv1.WatchServicesRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]) error {
	ctx := stream.Context()
	if _, err := grant(ctx); err != nil {
		return err
	}
	refs, byKey, err := followed(req.GetRefs())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	// A watcher that connects before the sync waits for it rather than
	// being told that Services do not exist.
	select {
	case <-s.ix.SyncedChan():
	case <-s.done:
		return status.Error(codes.Unavailable, "record service shutting down")
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}

	var from kubeindex.ResumePoint
	if req.GetResumeServerId() == s.id {
		from = kubeindex.ResumePoint{Revision: req.GetResumeRevision(), ByRevision: true}
	}
	sub := s.ix.SubscribeFrom(ctx, from)
	defer sub.Close()
	s.watchers.Inc()
	defer s.watchers.Dec()
	logger := s.logger.With("client", req.GetClientName(), "services", len(refs))
	if p, ok := peer.FromContext(ctx); ok {
		logger = logger.With("peer", p.Addr.String())
	}

	// The resume point before the first message: the request's when resumed,
	// else none (0 never resumes).
	var safe uint64
	first := make([]int, 0, len(refs))
	if sub.Resumed() {
		safe = req.GetResumeRevision()
		first = policyChanged(sub.CatchUp(), refs, touched(sub.CatchUp(), byKey, first))
		logger.Debug("discovery watch resumed", "from_revision", safe, "revision", sub.Revision(), "changed", len(first))
	} else {
		for i := range refs {
			first = append(first, i)
		}
		logger.Debug("discovery watch started", "revision", sub.Revision())
	}
	w := &watchStream{s: s, ctx: ctx, stream: stream, refs: refs, safe: safe}
	if err := w.send(first, sub.Revision(), sub.Resumed()); err != nil {
		return err
	}

	var batch []kubeindex.Change
	var changed []int
	for {
		select {
		case <-sub.Ready():
			var open bool
			batch, open = sub.Take(batch[:0])
			if len(batch) > 0 {
				changed = changed[:0]
				for _, c := range batch {
					changed = w.changed(c, byKey, changed)
				}
				if err := w.send(changed, batch[len(batch)-1].Revision, false); err != nil {
					logger.Debug("discovery watch send failed", "err", err)
					return err
				}
			}
			clear(batch)
			if !open {
				return ended(ctx.Err(), sub.Err(), logger)
			}
		case <-s.done:
			return status.Error(codes.Unavailable, "record service shutting down")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// followed validates and deduplicates the refs of a request, indexing them
// by the invalidation key that announces their changes.
func followed(in []*clusterdnsv1.ServiceRef) ([]watched, map[string]int, error) {
	if len(in) == 0 {
		return nil, nil, errors.New("refs: name at least one Service")
	}
	if len(in) > maxRefs {
		return nil, nil, fmt.Errorf("refs: %d Services, at most %d per stream", len(in), maxRefs)
	}
	refs := make([]watched, 0, len(in))
	byKey := make(map[string]int, len(in))
	for i, ref := range in {
		if err := checkRef(ref); err != nil {
			return nil, nil, fmt.Errorf("refs[%d]: %w", i, err)
		}
		key := kubeindex.ServiceKey(ref.GetNamespace(), ref.GetName())
		if _, dup := byKey[key]; dup {
			continue
		}
		byKey[key] = len(refs)
		refs = append(refs, watched{ref: ref})
	}
	return refs, byKey, nil
}

// touched appends to dst the followed Services that keys name.
func touched(keys []string, byKey map[string]int, dst []int) []int {
	for _, k := range keys {
		if !strings.HasPrefix(k, "svc/") {
			continue
		}
		if i, ok := byKey[k]; ok {
			dst = append(dst, i)
		}
	}
	return dst
}

func ended(ctxErr, subErr error, logger *slog.Logger) error {
	if errors.Is(subErr, kubeindex.ErrSubscriberBehind) {
		logger.Warn("discovery watch ended: the client fell behind the change stream")
		return status.Error(codes.Unavailable, "watch fell behind the change stream: resume")
	}
	if ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	return status.Errorf(codes.Unavailable, "watch ended: %v", subErr)
}

// watchStream sends the states of one WatchServices stream.
type watchStream struct {
	s      *Server
	ctx    context.Context
	stream grpc.ServerStreamingServer[clusterdnsv1.WatchServicesResponse]
	refs   []watched
	// safe is the last resume point sent.
	safe uint64
}

// changed appends to dst the followed Services that c touched and whose
// last sent state predates it.
func (w *watchStream) changed(c kubeindex.Change, byKey map[string]int, dst []int) []int {
	before := len(dst)
	dst = touched(c.Keys, byKey, dst)
	dst = policyChanged(c.Keys, w.refs, dst)
	kept := dst[:before]
	for _, i := range dst[before:] {
		if c.Revision > w.refs[i].sentAt && !slices.Contains(kept, i) {
			kept = append(kept, i)
		}
	}
	return kept
}

// send reads the current state of the refs at idx and sends them, split
// into messages of at most maxMessageBytes. Every change up to revision is
// reflected once they are sent: the last message carries it as the resume
// point, the earlier ones the previous point (a stream cut between the
// parts resumes before them). A first message is sent even when idx is
// empty: it tells the watcher the stream is up to date.
func (w *watchStream) send(idx []int, revision uint64, resumed bool) error {
	first := resumed || w.safe == 0
	if len(idx) == 0 && !first {
		w.safe = revision
		return nil
	}
	msg := &clusterdnsv1.WatchServicesResponse{ServerId: w.s.id, Resumed: resumed}
	size := 0
	shows := w.s.shows(w.ctx)
	for _, i := range idx {
		st := w.s.stateFor(w.refs[i].ref, shows)
		w.refs[i].sentAt = st.Revision
		state := toState(w.refs[i].ref, st)
		stateSize := proto.Size(state)
		if len(msg.States) > 0 && size+stateSize > maxMessageBytes {
			msg.Revision = w.safe
			if err := w.stream.Send(msg); err != nil {
				return err
			}
			msg = &clusterdnsv1.WatchServicesResponse{ServerId: w.s.id}
			size = 0
		}
		msg.States = append(msg.States, state)
		size += stateSize
	}
	msg.Revision = revision
	w.safe = revision
	return w.stream.Send(msg)
}
