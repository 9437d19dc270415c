package nodelocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultDevice = "cdnslocal%d"
	DefaultResync = 10 * time.Second
)

// Config says which addresses a node-local frontend answers at.
type Config struct {
	// Addresses are held on the device, e.g. 169.254.20.10 and the kube-dns
	// Service IP.
	Addresses []netip.Addr
	// Port is the DNS port the NOTRACK rules match (53).
	Port uint16
	// Device is the TUN device's name; a "%d" in it is replaced by the first
	// free number, so that two frontends can overlap (default
	// DefaultDevice).
	Device string
	// Table is the nftables inet table of the rules (default DefaultTable).
	Table string
	// Resync is how often Run puts the table back if it is gone (default
	// DefaultResync).
	Resync time.Duration
	// Logger receives what Run repairs and what Close leaves; nil discards.
	Logger *slog.Logger
}

// Setup is the addresses held by this process.
type Setup struct {
	cfg Config

	mu  sync.Mutex
	dev *device
}

// ParseAddresses parses a comma-separated list of IP addresses, such as the
// value of a flag; duplicates and an empty list are errors.
func ParseAddresses(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, f := range strings.Split(s, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", f, err)
		}
		a = a.Unmap()
		if a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("address %s: not a unicast address", a)
		}
		if seen[a] {
			return nil, fmt.Errorf("address %s given twice", a)
		}
		seen[a] = true
		out = append(out, a)
	}
	return out, nil
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Addresses) == 0 {
		return c, errors.New("nodelocal: no addresses")
	}
	if c.Port == 0 {
		return c, errors.New("nodelocal: no port")
	}
	if c.Device == "" {
		c.Device = DefaultDevice
	}
	if len(c.Device) > 15 || strings.ContainsAny(c.Device, "/ ") {
		return c, fmt.Errorf("nodelocal: device name %q: at most 15 characters, no '/' or space", c.Device)
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.Resync <= 0 {
		c.Resync = DefaultResync
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Up creates the device with the addresses; the sockets may bind them once
// it returns, and Activate then installs the rules. Until then a query to
// the kube-dns IP still goes through kube-proxy's DNAT to the Service (or to
// another frontend holding the addresses, whose rules stay in force), never
// to an address with no socket bound yet. A table left by a killed frontend
// is deleted first when no device holds the addresses, for the same reason:
// its rules would deliver locally as soon as the device is up. On failure
// nothing of this process is left.
func Up(cfg Config) (*Setup, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	local, err := localAddrs(c.Addresses)
	if err != nil {
		return nil, err
	}
	if len(local) == 0 {
		if err := removeRules(c.Table); err != nil {
			return nil, err
		}
	}
	dev, err := openDevice(c.Device, c.Addresses)
	if err != nil {
		return nil, err
	}
	return &Setup{cfg: c, dev: dev}, nil
}

// Activate installs (or replaces) the rules that deliver DNS to the
// addresses locally: call it once the sockets are bound.
func (s *Setup) Activate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return errors.New("nodelocal: Activate after Close")
	}
	return installRules(s.cfg.Table, s.cfg.Addresses, s.cfg.Port)
}

// Device is the name of the TUN device, "" after Close.
func (s *Setup) Device() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return ""
	}
	return s.dev.name
}

// Run puts the table back whenever it has gone (another frontend that
// stopped while this one held the addresses deletes it) until ctx ends.
// Start it after Activate.
func (s *Setup) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		held := s.dev != nil
		s.mu.Unlock()
		if !held {
			return
		}
		ok, err := tableExists(s.cfg.Table)
		if err == nil && !ok {
			err = installRules(s.cfg.Table, s.cfg.Addresses, s.cfg.Port)
			if err == nil {
				s.cfg.Logger.Info("node-local: NOTRACK rules were gone, installed again", "table", s.cfg.Table)
			}
		}
		if err != nil {
			s.cfg.Logger.Warn("node-local: checking the NOTRACK rules", "err", err)
		}
	}
}

// Close removes the device (and with it the addresses, unless another
// process's device holds them too) and then the rules, unless the addresses
// are still local: then another frontend serves them and needs the rules.
// It is safe to call more than once.
func (s *Setup) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return nil
	}
	err := s.dev.close()
	s.dev = nil
	local, lerr := localAddrs(s.cfg.Addresses)
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	if len(local) > 0 {
		s.cfg.Logger.Info("node-local: addresses held by another device, NOTRACK rules kept", "addresses", local)
		return err
	}
	return errors.Join(err, removeRules(s.cfg.Table))
}
