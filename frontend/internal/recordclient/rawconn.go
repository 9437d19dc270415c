package recordclient

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
)

// rawCredentials hands the handshake of the wrapped credentials, and gRPC
// after it, the record service connection's TCP socket as a rawConn
// (rawconn_linux.go), which writes and reads it without telling the Go
// scheduler that the thread may block. Everything else is the wrapped
// credentials' own, so gRPC's dialing (proxies, unix sockets, keepalive)
// stays as it is.
type rawCredentials struct {
	credentials.TransportCredentials
}

// ClientHandshake runs the wrapped handshake over the raw connection.
func (c rawCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.TransportCredentials.ClientHandshake(ctx, authority, newRawConn(conn))
}

// Clone clones the wrapped credentials, still wrapped.
func (c rawCredentials) Clone() credentials.TransportCredentials {
	return rawCredentials{c.TransportCredentials.Clone()}
}
