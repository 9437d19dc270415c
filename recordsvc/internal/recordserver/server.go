// Package recordserver serves the clusterdns.v1.RecordService over gRPC:
// Lookup answers questions through dnsschema from the kubeindex indexes, Watch
// streams the indexes' changes. It also registers gRPC health (NOT_SERVING
// until the indexes have synced) and reflection.
package recordserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Server implements clusterdnsv1.RecordServiceServer.
type Server struct {
	clusterdnsv1.UnimplementedRecordServiceServer

	schema  *dnsschema.Schema
	ix      *kubeindex.Index
	logger  *slog.Logger
	id      string
	health  *health.Server
	metrics *metrics

	done     chan struct{}
	shutdown sync.Once
}

// New returns a Server answering from ix with schema. Its health status turns
// SERVING once ix is synced. Call Shutdown to end it.
func New(schema *dnsschema.Schema, ix *kubeindex.Index, logger *slog.Logger) *Server {
	s := &Server{
		schema:  schema,
		ix:      ix,
		logger:  logger,
		id:      newServerID(),
		health:  health.NewServer(),
		metrics: newMetrics(ix),
		done:    make(chan struct{}),
	}
	for _, name := range s.healthNames() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	go func() {
		select {
		case <-ix.SyncedChan():
			for _, name := range s.healthNames() {
				s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
			}
			logger.Info("record service ready", "server_id", s.id, "revision", ix.Revision())
		case <-s.done:
		}
	}()
	return s
}

// healthNames are the services whose health Server reports: the whole server
// ("") and the RecordService.
func (s *Server) healthNames() []string {
	return []string{"", clusterdnsv1.RecordService_ServiceDesc.ServiceName}
}

// newServerID returns a random identity for this process: revisions are only
// comparable between messages of the same server.
func newServerID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// ID is the server identity sent as server_id.
func (s *Server) ID() string { return s.id }

// Register registers the RecordService, gRPC health and reflection on gs.
func (s *Server) Register(gs *grpc.Server) {
	clusterdnsv1.RegisterRecordServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
}

// Shutdown reports NOT_SERVING to health checks and ends every Watch stream
// (with codes.Unavailable, so clients reconnect elsewhere), letting
// grpc.Server.GracefulStop complete. Lookups keep being answered until the
// gRPC server stops.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.health.Shutdown()
		close(s.done)
	})
}

// Lookup answers one DNS question.
func (s *Server) Lookup(_ context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	resp, err := s.answer(req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return resp, nil
}

// answer answers one question for Lookup and LookupStream, counting it; an
// invalid question gets the reason instead.
func (s *Server) answer(req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	start := time.Now()
	if err := validateRequest(req); err != nil {
		s.metrics.invalid.Inc()
		return nil, err
	}
	resp := s.schema.Answer(s.ix, req)
	resp.ServerId = s.id
	s.metrics.observe(resp, time.Since(start))
	return resp, nil
}

// lookupStreamQueue is how many received questions of a LookupStream wait
// for their answer: the receiving goroutine reads ahead this far while the
// stream's goroutine answers and sends.
const lookupStreamQueue = 64

// LookupStream answers the questions of one stream in arrival order, each
// as Lookup would. A question Lookup would refuse with INVALID_ARGUMENT gets
// a response carrying invalid_argument instead, and the stream goes on. The
// stream ends when the client closes it or at Shutdown (codes.Unavailable:
// clients then ask elsewhere), so that GracefulStop is not held up.
//
// One goroutine receives and this one answers and sends: gRPC allows one
// of each, and only the handler's goroutine may send. Both live as long as
// the stream, so a question costs no goroutine and no stack growth.
func (s *Server) LookupStream(stream grpc.BidiStreamingServer[clusterdnsv1.LookupStreamRequest, clusterdnsv1.LookupStreamResponse]) error {
	ctx := stream.Context()
	reqs := make(chan *clusterdnsv1.LookupStreamRequest, lookupStreamQueue)
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				close(reqs)
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case req, open := <-reqs:
			if !open {
				if err := <-recvErr; !errors.Is(err, io.EOF) {
					return err
				}
				return nil
			}
			if err := stream.Send(s.answerStream(req)); err != nil {
				return err
			}
		case <-s.done:
			return status.Error(codes.Unavailable, "record service shutting down")
		}
	}
}

// answerStream answers one question of a LookupStream.
func (s *Server) answerStream(req *clusterdnsv1.LookupStreamRequest) *clusterdnsv1.LookupStreamResponse {
	resp, err := s.answer(req.GetRequest())
	if err != nil {
		return &clusterdnsv1.LookupStreamResponse{Id: req.GetId(), InvalidArgument: err.Error()}
	}
	return &clusterdnsv1.LookupStreamResponse{Id: req.GetId(), Response: resp}
}

// Watch streams a resync marker at the current revision, then every change
// in revision order, each dated by its change_time. A watcher that falls
// behind is ended with codes.Unavailable and must resync.
func (s *Server) Watch(req *clusterdnsv1.WatchRequest, stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse]) error {
	ctx := stream.Context()
	sub := s.ix.Subscribe(ctx)
	defer sub.Close()
	s.metrics.watchStreams.Inc()
	defer s.metrics.watchStreams.Dec()

	logger := s.logger.With("client", req.GetClientName())
	if p, ok := peer.FromContext(ctx); ok {
		logger = logger.With("peer", p.Addr.String())
	}
	logger.Debug("watch started", "revision", sub.Revision())

	first := &clusterdnsv1.WatchResponse{Revision: sub.Revision(), Resync: true, ServerId: s.id}
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		select {
		case c, open := <-sub.Changes():
			if !open {
				return s.watchEnded(ctx, logger, sub.Err())
			}
			if err := s.sendChange(stream, c); err != nil {
				logger.Debug("watch send failed", "err", err)
				return err
			}
		case <-s.done:
			logger.Debug("watch ended by shutdown")
			return status.Error(codes.Unavailable, "record service shutting down")
		}
	}
}

// maxKeysPerMessage splits the keys of a large change (a reload of a big
// file) over several messages of the same revision, keeping each far below
// gRPC's default 4 MiB message limit. A watcher applies each message as it
// comes; entries depending on keys of a later message stay valid only until
// it arrives, as if the network had delayed them.
const maxKeysPerMessage = 8192

func (s *Server) sendChange(stream grpc.ServerStreamingServer[clusterdnsv1.WatchResponse], c kubeindex.Change) error {
	keys := c.Keys
	for {
		n := min(len(keys), maxKeysPerMessage)
		msg := &clusterdnsv1.WatchResponse{Revision: c.Revision, Keys: keys[:n], ServerId: s.id,
			ChangeTime: timestamppb.New(c.ChangeTime)}
		if err := stream.Send(msg); err != nil {
			return err
		}
		keys = keys[n:]
		if len(keys) == 0 {
			return nil
		}
	}
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

// ServerOptions are the gRPC server options the record service wants beside
// the caller's own (keepalive): fixed flow-control windows, which turn off
// gRPC's bandwidth-delay estimator. Left on, it pings the client after
// nearly every question when questions come one at a time (small messages
// never let its estimate reach the limit that stops the pings), adding two
// writes, two reads and two wakeups per cache miss across the two processes.
// The windows are larger than the 64 KiB defaults so that bursts of
// invalidations or questions never wait for a window update.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(4 << 20),
	}
}
