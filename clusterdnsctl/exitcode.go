package main

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes, for scripts: documented in the usage text and README.md.
const (
	exitOK          = 0
	exitNegative    = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitOther       = 4
)

// usageError is a bad command line: unknown command or flag, missing or
// malformed argument. Its message names the problem.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// errNegative marks a negative answer: a name that does not exist or has
// no record of the type, a Service that does not exist. The command has
// already printed what it found.
var errNegative = errors.New("negative answer")

// errUnreachable marks an error of reaching a server that has no gRPC
// status, such as a watch stream that ended cleanly or a metrics endpoint
// that refused the connection.
var errUnreachable = errors.New("server unreachable")

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if ue := (usageError{}); errors.As(err, &ue) {
		return exitUsage
	}
	if ie := (inputError{}); errors.As(err, &ie) {
		return exitUsage
	}
	if errors.Is(err, errNegative) || errors.Is(err, errNotCarried) {
		return exitNegative
	}
	if errors.Is(err, errUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		return exitUnreachable
	}
	// A wrapped gRPC status: status.FromError looks through %w.
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		switch s.Code() {
		case codes.NotFound:
			return exitNegative
		case codes.InvalidArgument:
			return exitUsage
		case codes.Unavailable, codes.DeadlineExceeded, codes.PermissionDenied, codes.Unauthenticated,
			codes.ResourceExhausted, codes.Canceled:
			return exitUnreachable
		}
		return exitOther
	}
	if ne := net.Error(nil); errors.As(err, &ne) {
		return exitUnreachable
	}
	return exitOther
}
