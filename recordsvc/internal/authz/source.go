package authz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// pollInterval is how often the policy file is re-read: it is small, so
// reading and comparing it costs less than tracking stamps, and catches
// every kind of replacement (editors' renames, ConfigMap symlink swaps).
const pollInterval = time.Second

// Source holds the current policy, reloaded from a file.
type Source struct {
	path   string
	logger *slog.Logger
	cur    atomic.Pointer[Policy]
	// last is the content of the file as last read, good or bad, so a bad
	// edit is logged once.
	last []byte
}

// StaticSource returns a Source that always answers p (nil: only the
// built-in frontend identity).
func StaticSource(p *Policy) *Source {
	s := &Source{}
	if p == nil {
		p = &Policy{}
	}
	s.cur.Store(p)
	return s
}

// LoadFile reads the policy at path, failing when it is unreadable or
// invalid, and rereads it every second until ctx ends. A later bad edit is
// logged and the last good policy kept.
func LoadFile(ctx context.Context, path string, logger *slog.Logger) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Source{path: path, logger: logger, last: data}
	s.cur.Store(p)
	go s.run(ctx)
	return s, nil
}

// Policy returns the current policy.
func (s *Source) Policy() *Policy { return s.cur.Load() }

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

// reload applies the file's content if it changed and parses.
func (s *Source) reload() {
	data, err := os.ReadFile(s.path)
	if err != nil {
		if s.last != nil {
			s.logger.Error("authorization policy unreadable, keeping the last good one", "file", s.path, "err", err)
			s.last = nil
		}
		return
	}
	if s.last != nil && bytes.Equal(data, s.last) {
		return
	}
	s.last = data
	p, err := ParsePolicy(data)
	if err != nil {
		s.logger.Error("authorization policy invalid, keeping the last good one", "file", s.path, "err", err)
		return
	}
	s.cur.Store(p)
	s.logger.Info("authorization policy reloaded", "file", s.path, "clients", p.Len())
}
