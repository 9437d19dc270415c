package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/clusterdns/clusterdns/frontend/internal/dnsserver"
	"github.com/clusterdns/clusterdns/frontend/internal/nodelocal"
)

// nodeLocalConfig is the node-local mode (deploy/node-local): the frontend,
// on the node's network, holds its addresses on a device of its own and
// answers at each of them on the port of --listen.
type nodeLocalConfig struct {
	// Addresses is --node-local-addresses as given ("" turns the mode off).
	Addresses string
	// Device is --node-local-device, the TUN device's name pattern.
	Device string
	// Table is --node-local-table, the nftables table of the NOTRACK rules.
	Table string

	addrs []netip.Addr
	port  uint16
}

// registerNodeLocalFlags adds the node-local flags to fs.
func registerNodeLocalFlags(fs *flag.FlagSet, c *nodeLocalConfig) {
	fs.StringVar(&c.Addresses, "node-local-addresses", "", "node-local mode: comma-separated addresses (e.g. 169.254.20.10,10.96.0.10) held on a TUN device of this process and served at the port of --listen; needs CAP_NET_ADMIN on the node's network")
	fs.StringVar(&c.Device, "node-local-device", "", "node-local mode: name of the TUN device; %d is replaced by the first free number so that an upgrade's two frontends overlap (default "+nodelocal.DefaultDevice+")")
	fs.StringVar(&c.Table, "node-local-table", "", "node-local mode: nftables table (family inet) of the NOTRACK rules (default "+nodelocal.DefaultTable+")")
}

// checkNodeLocal validates the node-local flags against the rest of cfg:
// the addresses parse, --listen gives the port, and no --upstream points
// back at a node-local address (a loop).
func checkNodeLocal(cfg *Config) error {
	c := &cfg.NodeLocal
	if c.Addresses == "" {
		return nil
	}
	addrs, err := nodelocal.ParseAddresses(c.Addresses)
	if err != nil {
		return fmt.Errorf("--node-local-addresses %q: %w", c.Addresses, err)
	}
	_, p, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return fmt.Errorf("--listen %q: node-local mode needs a fixed port", cfg.Listen)
	}
	for _, u := range cfg.Upstreams {
		if ap, err := netip.ParseAddrPort(u); err == nil && containsAddr(addrs, ap.Addr().Unmap()) {
			return fmt.Errorf("--upstream %s: is a node-local address of this frontend (a forwarding loop)", u)
		}
	}
	c.addrs, c.port = addrs, uint16(port)
	return nil
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

// dnsServers is what run serves DNS with: one server at --listen, or in
// node-local mode one per node-local address, sharing the cache, the record
// client and the forwarder.
type dnsServers struct {
	servers []*dnsserver.Server
	local   *nodelocal.Setup
	stop    context.CancelFunc
}

// serveDNS starts the DNS servers of dnsCfg. In node-local mode it first
// takes the addresses (device and rules), then binds each.
func serveDNS(ctx context.Context, dnsCfg dnsserver.Config, nl nodeLocalConfig, log *slog.Logger) (*dnsServers, error) {
	if len(nl.addrs) == 0 {
		srv, err := dnsserver.New(dnsCfg)
		if err != nil {
			return nil, err
		}
		if err := srv.Start(ctx); err != nil {
			return nil, err
		}
		return &dnsServers{servers: []*dnsserver.Server{srv}, stop: func() {}}, nil
	}
	local, err := nodelocal.Up(nodelocal.Config{Addresses: nl.addrs, Port: nl.port, Device: nl.Device, Table: nl.Table, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--node-local-addresses: %w", err)
	}
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	d := &dnsServers{local: local, stop: stop}
	for _, a := range nl.addrs {
		c := dnsCfg
		c.Listen = netip.AddrPortFrom(a, nl.port).String()
		// SO_REUSEPORT on every socket lets an upgrade's successor bind
		// the addresses while this frontend still answers.
		c.ShareAddress = true
		srv, err := dnsserver.New(c)
		if err == nil {
			err = srv.Start(ctx)
		}
		if err != nil {
			return nil, errors.Join(err, d.Shutdown(context.WithoutCancel(ctx)))
		}
		d.servers = append(d.servers, srv)
	}
	// Only now, with every socket bound, may the rules deliver queries
	// locally: before, they go on to the Service or the previous holder.
	if err := local.Activate(); err != nil {
		return nil, errors.Join(fmt.Errorf("--node-local-addresses: %w", err), d.Shutdown(context.WithoutCancel(ctx)))
	}
	go local.Run(life)
	log.Info("node-local mode: serving on a device of this process", "device", local.Device(), "addresses", nl.addrs)
	return d, nil
}

// UDPAddr is the first server's UDP address.
func (d *dnsServers) UDPAddr() net.Addr { return d.servers[0].UDPAddr() }

// TCPAddr is the first server's TCP address.
func (d *dnsServers) TCPAddr() net.Addr { return d.servers[0].TCPAddr() }

// Shutdown gives up the node-local addresses first (a successor holding
// them keeps them local; otherwise pods fall back to the kube-dns Service
// at once instead of meeting closed sockets), then drains the servers.
func (d *dnsServers) Shutdown(ctx context.Context) error {
	d.stop()
	var errs []error
	if d.local != nil {
		errs = append(errs, d.local.Close())
	}
	for _, s := range d.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
