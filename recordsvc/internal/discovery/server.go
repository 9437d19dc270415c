// Package discovery serves the clusterdns.v1.DiscoveryService: typed
// Services and endpoints read from the same kubeindex indexes that answer
// DNS, and per-Service push of their changes. Authorization happens before
// the handlers, in the record server's interceptors, which also put the
// caller's grant in the context; a handler refuses a call that comes
// without one.
package discovery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/authz"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// Limits of one call, so that no client can make the server hold or send an
// unbounded amount for it.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
	// maxRefs bounds the Services one WatchServices stream follows.
	maxRefs = 256
	// maxMessageBytes is the size a WatchServicesResponse is split at: well
	// under the 4 MiB a gRPC client accepts by default.
	maxMessageBytes = 1 << 20
)

// Server implements clusterdnsv1.DiscoveryServiceServer.
type Server struct {
	clusterdnsv1.UnimplementedDiscoveryServiceServer

	ix     *kubeindex.Index
	id     string
	done   <-chan struct{}
	logger *slog.Logger

	calls    *prometheus.CounterVec
	watchers prometheus.Gauge
	// view is the visibility policy's filter of each caller (visibility.go).
	view ViewFunc
}

// New returns a Server answering from ix. id is the server_id it sends (the
// RecordService's, so revisions of both services compare); done, when
// closed, ends every WatchServices stream with UNAVAILABLE.
func New(ix *kubeindex.Index, id string, done <-chan struct{}, logger *slog.Logger) *Server {
	return &Server{
		ix:     ix,
		id:     id,
		done:   done,
		logger: logger,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_discovery_calls_total",
			Help: "DiscoveryService calls answered by the handlers, by method and gRPC code (refusals of the authorization policy are counted by clusterdns_recordsvc_denied_total).",
		}, []string{"method", "code"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clusterdns_recordsvc_discovery_watch_streams",
			Help: "Open WatchServices streams.",
		}),
	}
}

// Collectors are the Server's metrics.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.calls, s.watchers}
}

// count records the outcome of a call and returns err.
func (s *Server) count(method string, err error) error {
	s.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	return err
}

// grant is the caller's grant, put in the context by the authorizer.
func grant(ctx context.Context) (authz.Grant, error) {
	g, ok := authz.FromContext(ctx)
	if !ok || g.Role == authz.RoleNone {
		return authz.Grant{}, status.Error(codes.PermissionDenied, "no authorization for the caller")
	}
	return g, nil
}

// synced refuses calls before the indexes reflect the cluster: a missing
// Service would be a false NOT_FOUND.
func (s *Server) synced() error {
	if !s.ix.Synced() {
		return status.Error(codes.Unavailable, "record service has not synced with the Kubernetes API yet")
	}
	return nil
}

// GetService returns one Service with its endpoints.
func (s *Server) GetService(ctx context.Context, req *clusterdnsv1.GetServiceRequest) (*clusterdnsv1.GetServiceResponse, error) {
	resp, err := s.getService(ctx, req)
	return resp, s.count("GetService", err)
}

func (s *Server) getService(ctx context.Context, req *clusterdnsv1.GetServiceRequest) (*clusterdnsv1.GetServiceResponse, error) {
	if _, err := grant(ctx); err != nil {
		return nil, err
	}
	if err := checkRef(req.GetRef()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.synced(); err != nil {
		return nil, err
	}
	st := s.stateFor(req.GetRef(), s.shows(ctx))
	if !st.Exists {
		return nil, status.Errorf(codes.NotFound, "service %s/%s not found", req.GetRef().GetNamespace(), req.GetRef().GetName())
	}
	return &clusterdnsv1.GetServiceResponse{State: toState(req.GetRef(), st), Revision: st.Revision, ServerId: s.id}, nil
}

// ListServices returns one page of Services.
func (s *Server) ListServices(ctx context.Context, req *clusterdnsv1.ListServicesRequest) (*clusterdnsv1.ListServicesResponse, error) {
	resp, err := s.listServices(ctx, req)
	return resp, s.count("ListServices", err)
}

func (s *Server) listServices(ctx context.Context, req *clusterdnsv1.ListServicesRequest) (*clusterdnsv1.ListServicesResponse, error) {
	g, err := grant(ctx)
	if err != nil {
		return nil, err
	}
	if ns := req.GetNamespace(); ns != "" && !isName(ns) {
		return nil, status.Errorf(codes.InvalidArgument, "namespace %q is not a Kubernetes name", ns)
	}
	afterNS, afterName, err := parsePageToken(req.GetPageToken(), req.GetNamespace())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.synced(); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	page := s.ix.ListServices(req.GetNamespace(), afterNS, afterName, size, allowBoth(g.AllowsNamespace, s.shows(ctx)))
	resp := &clusterdnsv1.ListServicesResponse{Revision: page.Revision, ServerId: s.id,
		Services: make([]*clusterdnsv1.Service, 0, len(page.Services))}
	for _, svc := range page.Services {
		resp.Services = append(resp.Services, toService(svc))
	}
	if page.More && len(page.Services) > 0 {
		last := page.Services[len(page.Services)-1]
		resp.NextPageToken = pageToken(req.GetNamespace(), last.Namespace, last.Name)
	}
	return resp, nil
}

// A page token names the last Service of the previous page and the
// namespace filter it was made for ("filter\x00namespace\x00name"), so that
// a token cannot be replayed against another listing unnoticed.
func pageToken(filter, namespace, name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(filter + "\x00" + namespace + "\x00" + name))
}

func parsePageToken(token, filter string) (namespace, name string, err error) {
	if token == "" {
		return "", "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", "", errors.New("page_token: not a token of ListServices")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || !isName(parts[1]) || !isName(parts[2]) {
		return "", "", errors.New("page_token: not a token of ListServices")
	}
	if parts[0] != filter {
		return "", "", fmt.Errorf("page_token: made for namespace %q, not %q", parts[0], filter)
	}
	return parts[1], parts[2], nil
}

// checkRef validates a ServiceRef: both names present and of a form
// Kubernetes allows (DNS labels; the index matches them case-insensitively).
func checkRef(ref *clusterdnsv1.ServiceRef) error {
	switch {
	case ref == nil:
		return errors.New("ref: missing")
	case !isName(ref.GetNamespace()):
		return fmt.Errorf("ref.namespace %q is not a Kubernetes namespace name", ref.GetNamespace())
	case !isName(ref.GetName()):
		return fmt.Errorf("ref.name %q is not a Kubernetes Service name", ref.GetName())
	}
	return nil
}

// isName accepts an RFC 1123 label in either letter case, the form of
// namespace and Service names.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
