package nodelocal

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// DefaultTable is the nftables table (family inet) of the NOTRACK rules.
const DefaultTable = "clusterdns-nodelocal"

// rulesFor builds the table's chains and rules for addrs and port: in
// prerouting (pods' queries) and output (the node's own queries, and the
// replies), DNS over UDP and TCP to or from each address skips conntrack
// while the address is local. Both chains hook at the raw priority, before
// conntrack and so before kube-proxy's DNAT.
//
// A pod's query also needs a socket bound for it. A killed frontend's
// sockets may be released before its device (the kernel releases the files
// of a dead process in no order we can choose), and for that moment the
// address is still local with nothing listening: a query delivered locally
// would come back as an ICMP port unreachable, which stub resolvers count
// as a failed lookup, where a tracked one goes on to the Service. (In
// output the socket the kernel finds is the sender's, so the node's own
// queries cannot be checked that way.)
func rulesFor(c *nftables.Conn, table string, addrs []netip.Addr, port uint16) {
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: table})
	// Deleting and adding again in one transaction replaces whatever an
	// earlier process left, atomically; the first add makes the delete
	// valid when there was none.
	c.DelTable(t)
	t = c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: table})
	policy := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, Policy: &policy})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw, Policy: &policy})
	for _, a := range addrs {
		for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
			c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: notrack(a, proto, port, true, true)})
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: notrack(a, proto, port, true, false)})
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: notrack(a, proto, port, false, false)})
		}
	}
}

// notrack is one rule: packets of proto to (toAddr) or from a:port, when
// the kernel's routing says a is a local address and, with bound, a socket
// takes the packet, are not tracked.
func notrack(a netip.Addr, proto byte, port uint16, toAddr, bound bool) []expr.Any {
	nfproto, addrOffset := byte(unix.NFPROTO_IPV4), uint32(12) // IPv4 saddr
	if a.Is6() {
		nfproto, addrOffset = unix.NFPROTO_IPV6, 8 // IPv6 saddr
	}
	portOffset := uint32(0) // source port
	if toAddr {
		addrOffset += uint32(a.BitLen() / 8) // the destination follows the source
		portOffset = 2
	}
	local := make([]byte, 4)
	binary.NativeEndian.PutUint32(local, unix.RTN_LOCAL)
	rule := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOffset, Len: uint32(a.BitLen() / 8)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: portOffset, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		// Inert unless the address is local now: a table left by a killed
		// process does nothing once its device is gone.
		&expr.Fib{Register: 1, FlagDADDR: toAddr, FlagSADDR: !toAddr, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: local},
	}
	if bound {
		// The socket lookup ends the rule when no socket takes the
		// packet; when one does it yields whether that socket is
		// transparent, which ours are not.
		rule = append(rule,
			&expr.Socket{Key: expr.SocketKeyTransparent, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}})
	}
	return append(rule, &expr.Notrack{})
}

// installRules replaces the table with the rules for addrs and port.
func installRules(table string, addrs []netip.Addr, port uint16) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nodelocal: nftables: %w", err)
	}
	rulesFor(c, table, addrs, port)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nodelocal: install nftables table inet %s: %w", table, err)
	}
	return nil
}

// removeRules deletes the table; a table already gone is no error.
func removeRules(table string) error {
	ok, err := tableExists(table)
	if err != nil || !ok {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nodelocal: nftables: %w", err)
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: table})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nodelocal: delete nftables table inet %s: %w", table, err)
	}
	return nil
}

// tableExists reports whether the inet table exists.
func tableExists(table string) (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("nodelocal: nftables: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("nodelocal: list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == table {
			return true, nil
		}
	}
	return false, nil
}
