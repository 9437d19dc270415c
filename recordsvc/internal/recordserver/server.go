// Package recordserver serves the clusterdns.v1.RecordService over gRPC:
// Lookup answers questions through dnsschema from the kubeindex indexes, Watch
// streams the indexes' changes. It also registers gRPC health (NOT_SERVING
// until the indexes have synced) and reflection.
package recordserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

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

	memo *answerMemo
	// encoded shares each change's Watch message between streams.
	encoded encodedChanges
	// clients attributes Lookups and holds the visibility policy
	// (attribution.go, visibility.go).
	clients *clients
	// lameduck is set by Lameduck: not ready, still answering.
	lameduck atomic.Bool
	// streamIdle is how long, in nanoseconds, a LookupStream worker waits
	// for a question before it stops (lookupStreamIdle; tests shorten it).
	streamIdle atomic.Int64

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
		memo:    newAnswerMemo(memoEntries),
		clients: newClients(ix, logger),
		done:    make(chan struct{}),
	}
	s.streamIdle.Store(int64(lookupStreamIdle))
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	go func() { <-s.done; stopPrune() }()
	go s.clients.pruneDeleted(pruneCtx)
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
// (""), the RecordService and the DiscoveryService, which answers from the
// same indexes.
func (s *Server) healthNames() []string {
	return []string{"", clusterdnsv1.RecordService_ServiceDesc.ServiceName, clusterdnsv1.DiscoveryService_ServiceDesc.ServiceName}
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

// Done is closed by Shutdown: other streaming services of the process end
// their streams then, as Watch does.
func (s *Server) Done() <-chan struct{} { return s.done }

// Register registers the RecordService, gRPC health and reflection on gs.
func (s *Server) Register(gs *grpc.Server) {
	clusterdnsv1.RegisterRecordServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
}

// Lameduck starts the lameduck period of a graceful stop: gRPC health
// reports NOT_SERVING and Ready turns false at once, so that load balancers
// and frontends move to other replicas, while Lookups, LookupStreams and
// Watch streams go on as before until Shutdown.
func (s *Server) Lameduck() {
	if s.lameduck.CompareAndSwap(false, true) {
		s.health.Shutdown() // NOT_SERVING, and the sync can no longer turn it SERVING
		s.logger.Info("lameduck: reporting not ready, still answering", "server_id", s.id)
	}
}

// Ready reports whether the server should receive traffic: the indexes have
// synced and no lameduck period has begun.
func (s *Server) Ready() bool { return s.ix.Synced() && !s.lameduck.Load() }

// Shutdown reports NOT_SERVING to health checks and ends every Watch stream
// and LookupStream (with codes.Unavailable, so clients reconnect elsewhere
// and resume), letting grpc.Server.GracefulStop complete. Lookups keep being
// answered until the gRPC server stops.
func (s *Server) Shutdown() {
	s.Lameduck()
	s.shutdown.Do(func() { close(s.done) })
}

// Lookup answers one DNS question.
func (s *Server) Lookup(ctx context.Context, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	resp, err := s.answerAs(scopedIdentity(ctx), req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return resp, nil
}

// answer answers one question for Lookup and LookupStream, counting it; an
// invalid question gets the reason instead. Large answers come from the memo
// while the revision they were computed at is current: the response is
// shared then, and must not be modified.
func (s *Server) answer(req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	return s.answerAs("", req)
}

// answerAs is answer for a caller that is not a frontend when identity is
// set (its record API identity, which a visibility policy may name).
func (s *Server) answerAs(identity string, req *clusterdnsv1.LookupRequest) (*clusterdnsv1.LookupResponse, error) {
	start := time.Now()
	ip, err := validateRequest(req)
	if err != nil {
		s.metrics.invalid.Inc()
		return nil, err
	}
	cl := s.clients.attributeAddr(ip)
	var resp *clusterdnsv1.LookupResponse
	if s.clients.policy != nil {
		resp = s.answerVisible(identity, cl, req)
	} else {
		resp = s.sharedAnswer(req)
	}
	d := time.Since(start)
	s.metrics.observe(resp, d)
	s.clients.observe(req, cl, resp, d)
	return resp, nil
}

// sharedAnswer is the answer of the full index, the same for every client
// but an autopath completion.
func (s *Server) sharedAnswer(req *clusterdnsv1.LookupRequest) *clusterdnsv1.LookupResponse {
	key := memoKey{name: req.GetName(), qtype: req.GetQtype()}
	return s.memo.answer(key, s.ix.Revision(), func() *clusterdnsv1.LookupResponse {
		resp := s.schema.Answer(s.ix, req)
		resp.ServerId = s.id
		return resp
	})
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
