package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clusterdns/clusterdns/recordsvc/internal/recordserver"
	"github.com/clusterdns/clusterdns/recordsvc/internal/visibility"
)

// startVisibility loads --visibility-policy (a bad file stops the start)
// and keeps it reloaded into srv until ctx ends.
func startVisibility(ctx context.Context, cfg config, srv *recordserver.Server, reg prometheus.Registerer, logger *slog.Logger) error {
	if cfg.VisibilityPolicy == "" {
		return nil
	}
	src, err := visibility.LoadFile(ctx, cfg.VisibilityPolicy, srv.VisibilityChanged, logger)
	if err != nil {
		return fmt.Errorf("--visibility-policy: %w", err)
	}
	for _, c := range src.Collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	srv.SetVisibility(src)
	logger.Info("visibility policy loaded", "file", cfg.VisibilityPolicy, "restricted_clients", src.Policy().Rules())
	return nil
}
