package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// checkInterval is how often, at most, a handshake looks at the files: a
// stat of three files per second costs nothing, and a rotation then applies
// within a second.
const checkInterval = time.Second

// material is one loaded set of files.
type material struct {
	cert tls.Certificate
	pool *x509.CertPool
}

// fileStamp tells whether a file changed without reading it: a Secret
// volume swaps a symlink to a new directory, which os.Stat follows, so the
// inode changes even when size and mtime happen to match.
type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// reloader keeps the last good material of a Files and reloads it lazily.
type reloader struct {
	files  Files
	logger *slog.Logger
	// interval is checkInterval; tests shorten it.
	interval time.Duration

	mu        sync.Mutex
	mat       material
	stamps    [3]fileStamp
	lastCheck time.Time
	// badStamps are the stamps of the last set that failed to load, so a
	// broken set is logged once, not once a second.
	badStamps [3]fileStamp
}

// newReloader loads f, failing when it cannot.
func newReloader(_ context.Context, f Files, logger *slog.Logger) (*reloader, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, errors.New("mtls: certificate, key and CA files are all required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &reloader{files: f, logger: logger, interval: checkInterval}
	stamps, err := r.stat()
	if err != nil {
		return nil, err
	}
	m, err := load(f)
	if err != nil {
		return nil, err
	}
	r.mat, r.stamps, r.lastCheck = m, stamps, time.Now()
	return r, nil
}

// current returns the material to use now, reloading it first when the
// files changed since the last check (at most once per checkInterval).
func (r *reloader) current() material {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.lastCheck) < r.interval {
		return r.mat
	}
	r.lastCheck = now
	stamps, err := r.stat()
	if err != nil || stamps == r.stamps {
		if err != nil && stamps != r.badStamps {
			r.badStamps = stamps
			r.logger.Error("TLS files unreadable, keeping the last good ones", "cert", r.files.Cert, "err", err)
		}
		return r.mat
	}
	if stamps == r.badStamps {
		return r.mat
	}
	m, err := load(r.files)
	if err != nil {
		r.badStamps = stamps
		r.logger.Error("TLS files changed but do not load, keeping the last good ones", "cert", r.files.Cert, "err", err)
		return r.mat
	}
	r.mat, r.stamps = m, stamps
	r.logger.Info("TLS files reloaded", "cert", r.files.Cert, "not_after", m.cert.Leaf.NotAfter)
	return r.mat
}

// stat stamps the three files.
func (r *reloader) stat() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range []string{r.files.Cert, r.files.Key, r.files.CA} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("mtls: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			out[i].ino = st.Ino
		}
	}
	return out, nil
}

// load reads and checks one set of files: the key must match the
// certificate and the CA file must hold at least one certificate.
func load(f Files) (material, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return material{}, fmt.Errorf("mtls: %s, %s: %w", f.Cert, f.Key, err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return material{}, fmt.Errorf("mtls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return material{}, fmt.Errorf("mtls: %s: no PEM certificate", f.CA)
	}
	return material{cert: cert, pool: pool}, nil
}
