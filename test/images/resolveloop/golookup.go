package resolveloop

import (
	"context"
	"errors"
	"net"
)

// GoLookup resolves with Go's resolver r (net.DefaultResolver when nil): the
// pure Go resolver when built with CGO_ENABLED=0.
func GoLookup(r *net.Resolver) LookupFunc {
	if r == nil {
		r = net.DefaultResolver
	}
	return func(ctx context.Context, name, family string) Result {
		network := "ip"
		switch family {
		case "4":
			network = "ip4"
		case "6":
			network = "ip6"
		}
		addrs, err := r.LookupNetIP(ctx, network, name)
		if err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return Result{NotFound: true}
			}
			return Result{Err: err.Error()}
		}
		return Result{Addrs: addrs}
	}
}
