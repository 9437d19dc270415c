package forward

import (
	"errors"
	"math/rand/v2"
	"net"

	"github.com/miekg/dns"
)

// errMismatch reports a TCP reply whose ID or question differs from the query. Over UDP such replies are
// skipped instead: anyone can send a datagram to our port, only the upstream shares the TCP connection.
var errMismatch = errors.New("reply does not match the query")

// maxUDPReply is the read buffer for UDP replies: a reply larger than the advertised EDNS size is still read
// whole (and then used), not cut into a malformed message.
const maxUDPReply = dns.MaxMsgSize

// newID returns a random query ID. math/rand/v2's top-level source is a ChaCha8 generator seeded by the
// runtime, so IDs are not predictable from earlier ones.
func newID() uint16 { return uint16(rand.Uint32()) }

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
