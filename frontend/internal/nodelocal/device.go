package nodelocal

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tunPath is the TUN clone device.
const tunPath = "/dev/net/tun"

// device is a non-persistent TUN device holding the addresses: closing its
// file (or the process's death) makes the kernel remove it.
type device struct {
	name string
	file *os.File
}

// openDevice creates a TUN device named after pattern (a "%d" in it is
// replaced by the kernel with the first free number), sets it up and adds
// addrs as host addresses. On failure nothing is left.
func openDevice(pattern string, addrs []netip.Addr) (*device, error) {
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("nodelocal: open %s (TUN support and CAP_NET_ADMIN needed): %w", tunPath, err)
	}
	ifr, err := unix.NewIfreq(pattern)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("nodelocal: device name %q: %w", pattern, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("nodelocal: create TUN device %q: %w", pattern, err)
	}
	d := &device{name: ifr.Name(), file: os.NewFile(uintptr(fd), tunPath)}
	if err := d.configure(addrs); err != nil {
		_ = d.close()
		return nil, err
	}
	return d, nil
}

// configure adds the addresses and sets the device up: IPv4 local routes
// appear only on a device that is up.
func (d *device) configure(addrs []netip.Addr) error {
	link, err := netlink.LinkByName(d.name)
	if err != nil {
		return fmt.Errorf("nodelocal: device %s: %w", d.name, err)
	}
	for _, a := range addrs {
		// No duplicate address detection: the address is meant to be on
		// another device too during a handover, and DAD would keep an IPv6
		// address tentative (unusable) for a second or more.
		nl := &netlink.Addr{IPNet: hostNet(a), Flags: unix.IFA_F_NODAD, Scope: unix.RT_SCOPE_HOST}
		if err := netlink.AddrAdd(link, nl); err != nil {
			return fmt.Errorf("nodelocal: add %s to %s: %w", a, d.name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("nodelocal: set %s up: %w", d.name, err)
	}
	return nil
}

// close releases the device; the kernel deletes it with its addresses.
func (d *device) close() error {
	if err := d.file.Close(); err != nil {
		return fmt.Errorf("nodelocal: close %s: %w", d.name, err)
	}
	return nil
}

// hostNet is a as a host prefix (/32 or /128), so the device gets a local
// route for the address and no subnet route.
func hostNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
}

// localAddrs returns which of addrs are on some interface of the current
// network namespace.
func localAddrs(addrs []netip.Addr) ([]netip.Addr, error) {
	list, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("nodelocal: list addresses: %w", err)
	}
	var local []netip.Addr
	for _, a := range addrs {
		for _, l := range list {
			if got, ok := netip.AddrFromSlice(l.IP); ok && got.Unmap() == a {
				local = append(local, a)
				break
			}
		}
	}
	return local, nil
}

// deviceExists reports whether a link named name exists.
func deviceExists(name string) (bool, error) {
	_, err := netlink.LinkByName(name)
	if err == nil {
		return true, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return false, nil
	}
	return false, fmt.Errorf("nodelocal: look up %s: %w", name, err)
}
