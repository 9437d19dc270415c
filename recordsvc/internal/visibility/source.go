package visibility

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pollInterval is how often the policy file is re-read: comparing a small
// file catches every kind of replacement (editors' renames, a mounted
// ConfigMap's symlink swap) without tracking stamps.
const pollInterval = time.Second

// Source holds the current policy, read from a file and reloaded when the
// file changes. A bad edit keeps the last good policy; it is logged and
// counted in clusterdns_recordsvc_visibility_reloads_total{result="invalid"}.
type Source struct {
	path     string
	logger   *slog.Logger
	onChange func(p *Policy, content []byte)
	cur      atomic.Pointer[Policy]
	reloads  *prometheus.CounterVec
	// last is the content as last read, good or bad, so a bad edit is
	// logged once.
	last []byte
}

// LoadFile reads and parses the policy at path, failing when it is
// unreadable or invalid (the record service then does not start). Until
// ctx ends the file is re-read every second; onChange is called with each
// good policy and the file content it came from, the first one included
// (before LoadFile returns).
func LoadFile(ctx context.Context, path string, onChange func(p *Policy, content []byte), logger *slog.Logger) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("visibility policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Source{path: path, logger: logger, onChange: onChange, last: data,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterdns_recordsvc_visibility_reloads_total",
			Help: "Changes of the --visibility-policy file seen, by result: applied, or invalid and unreadable (the last good policy is kept).",
		}, []string{"result"}),
	}
	for _, r := range []string{"applied", "invalid", "unreadable"} {
		s.reloads.WithLabelValues(r)
	}
	s.cur.Store(p)
	if onChange != nil {
		onChange(p, data)
	}
	go s.run(ctx)
	return s, nil
}

// Policy returns the current policy.
func (s *Source) Policy() *Policy { return s.cur.Load() }

// Collectors are the Source's metrics.
func (s *Source) Collectors() []prometheus.Collector { return []prometheus.Collector{s.reloads} }

func (s *Source) run(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reload()
		}
	}
}

// reload applies the file's content when it changed and parses.
func (s *Source) reload() {
	data, err := os.ReadFile(s.path)
	if err != nil {
		if s.last != nil {
			s.reloads.WithLabelValues("unreadable").Inc()
			s.logger.Error("visibility policy unreadable, keeping the last good one", "file", s.path, "err", err)
			s.last = nil
		}
		return
	}
	if s.last != nil && bytes.Equal(data, s.last) {
		return
	}
	s.last = data
	p, err := Parse(data)
	if err != nil {
		s.reloads.WithLabelValues("invalid").Inc()
		s.logger.Error("visibility policy invalid, keeping the last good one", "file", s.path, "err", err)
		return
	}
	s.cur.Store(p)
	s.reloads.WithLabelValues("applied").Inc()
	s.logger.Info("visibility policy reloaded", "file", s.path, "restricted_clients", p.Rules())
	if s.onChange != nil {
		s.onChange(p, data)
	}
}
