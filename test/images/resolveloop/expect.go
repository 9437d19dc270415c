package resolveloop

import (
	"fmt"
	"net/netip"
	"strings"
)

// Target is one name to resolve and the answer it must get.
type Target struct {
	Name string
	// Any accepts any address; NXDomain demands that the name not exist;
	// otherwise every address returned must be in Addrs.
	Any      bool
	NXDomain bool
	Addrs    []netip.Addr
}

// ParseTarget parses NAME=EXPECT (see the package documentation).
func ParseTarget(arg string) (Target, error) {
	name, expect, ok := strings.Cut(arg, "=")
	if !ok || name == "" || expect == "" {
		return Target{}, fmt.Errorf("%q: want NAME=EXPECT (EXPECT: any, NXDOMAIN or ADDR[,ADDR])", arg)
	}
	t := Target{Name: name}
	switch expect {
	case "any":
		t.Any = true
	case "NXDOMAIN":
		t.NXDomain = true
	default:
		for _, s := range strings.Split(expect, ",") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return Target{}, fmt.Errorf("%q: %q is not an address, any or NXDOMAIN", arg, s)
			}
			t.Addrs = append(t.Addrs, a.Unmap())
		}
	}
	return t, nil
}

// Class is the outcome of one lookup.
type Class int

// The outcomes, as the output names them.
const (
	OK Class = iota
	Failed
	Wrong
)

func (c Class) String() string {
	switch c {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	default:
		return "wrong"
	}
}

// Result is what the resolver said: addresses, "not found", or another error.
type Result struct {
	Addrs    []netip.Addr
	NotFound bool
	// Err describes any other failure (timeout, SERVFAIL, ...); empty when
	// the resolver answered.
	Err string
}

// Classify judges r against the target's expectation and gives the reason
// when it is not OK.
func (t Target) Classify(r Result) (Class, string) {
	switch {
	case r.Err != "":
		return Failed, r.Err
	case r.NotFound || len(r.Addrs) == 0:
		if t.NXDomain {
			return OK, ""
		}
		return Wrong, "NXDOMAIN"
	case t.NXDomain:
		return Wrong, "exists: " + r.Addrs[0].Unmap().String()
	case t.Any:
		return OK, ""
	}
	for _, a := range r.Addrs {
		if !t.has(a.Unmap()) {
			return Wrong, "unexpected address " + a.Unmap().String()
		}
	}
	return OK, ""
}

func (t Target) has(a netip.Addr) bool {
	for _, b := range t.Addrs {
		if a == b {
			return true
		}
	}
	return false
}
