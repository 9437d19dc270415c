// Package nodelocal makes a frontend on the node's network answer at fixed
// addresses (a link-local address such as 169.254.20.10, and the kube-dns
// Service IP) without leaving anything behind when it dies.
//
// The addresses live on a TUN device the process creates and holds open
// without making it persistent: the kernel destroys the device, with its
// addresses and their local routes, when the last file descriptor closes,
// also after SIGKILL. A second frontend's own device may carry the same
// addresses meanwhile (both bind them with SO_REUSEPORT), which is how an
// upgrade hands them over.
//
// DNS packets to and from the addresses skip connection tracking (so that
// kube-proxy's DNAT of the kube-dns IP does not take them to the Service's
// endpoints) through rules in an nftables table of their own. Every rule
// also asks the kernel whether the address is local right now (fib daddr
// type local), so a table left behind is inert: once no device holds the
// addresses, kube-proxy's rules apply again and pods fall back to the
// cluster kube-dns Service. The next start replaces the table.
package nodelocal
