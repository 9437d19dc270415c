package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

const (
	// maxWatchedServices is the server's limit of Services per stream.
	maxWatchedServices = 256
	// Backoff of --follow between attempts: from the first to the last,
	// doubling, reset by a stream that delivered messages.
	firstBackoff = time.Second
	maxBackoff   = 30 * time.Second
	// clientName is how the record service's logs name our streams.
	clientName = "clusterdnsctl"
)

// errNoFirstMessage is the cause of a stream cancelled because its first
// message did not come within --timeout.
var errNoFirstMessage = errors.New("no message within --timeout")

func watchServicesCommand() command {
	return command{
		path:    []string{"watch"},
		args:    "NS/NAME [NS/NAME...]",
		summary: "follow Services as they change (DiscoveryService.WatchServices)",
		help: `Prints the full state of each Service (at most 256) as the record service sends it:
first every one of them, then each Service a change touched, one block per message
(-o json: one WatchServicesResponse per line). When the stream ends (the record service
stops or restarts) clusterdnsctl exits 3 with the error, unless --follow is given: then
it reconnects and resumes from the last revision and server id it received. An
interrupt (Ctrl-C) ends it with exit code 0. See also: watch changes.

  clusterdnsctl watch default/kubernetes kube-system/kube-dns -o json`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			follow := fs.Bool("follow", false, "reconnect and resume when the stream ends, until interrupted")
			return func(ctx context.Context, e *env, args []string) error {
				return runWatchServices(ctx, e, args, *follow)
			}
		},
	}
}

func watchChangesCommand() command {
	return command{
		path:    []string{"watch", "changes"},
		summary: "follow the invalidation stream (RecordService.Watch)",
		help: `Prints each message of the invalidation stream the frontends follow, one line each:
the revision, the server id, resync or resumed when set, and the keys that changed
(-o json: one WatchResponse per line). Like watch, it exits 3 when the stream ends
unless --follow resumes it (from the last revision, server id and state digest).`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			follow := fs.Bool("follow", false, "reconnect and resume when the stream ends, until interrupted")
			return func(ctx context.Context, e *env, args []string) error {
				return runWatchChanges(ctx, e, args, *follow)
			}
		},
	}
}

func runWatchServices(ctx context.Context, e *env, args []string, follow bool) error {
	if err := wantArgs(args, 1, maxWatchedServices, "NS/NAME [NS/NAME...] (at most 256)"); err != nil {
		return err
	}
	req := &clusterdnsv1.WatchServicesRequest{ClientName: clientName}
	for _, a := range args {
		ref, err := parseServiceRef(a)
		if err != nil {
			return err
		}
		req.Refs = append(req.Refs, ref)
	}
	return e.withConn(ctx, false, func(ctx context.Context, cc *grpc.ClientConn) error {
		client := clusterdnsv1.NewDiscoveryServiceClient(cc)
		open := func(ctx context.Context) (grpc.ServerStreamingClient[clusterdnsv1.WatchServicesResponse], error) {
			return client.WatchServices(ctx, req)
		}
		return watchLoop(ctx, e, follow, streamSession("watch services", open, func(msg *clusterdnsv1.WatchServicesResponse) error {
			// Parts of a split batch but the last repeat the previous resume
			// point, 0 on a fresh stream: only a non-zero one moves it.
			if msg.GetRevision() != 0 {
				req.ResumeRevision, req.ResumeServerId = msg.GetRevision(), msg.GetServerId()
			}
			return printWatchServices(e, msg)
		}))
	})
}

func runWatchChanges(ctx context.Context, e *env, args []string, follow bool) error {
	if err := wantArgs(args, 0, 0, "no argument"); err != nil {
		return err
	}
	req := &clusterdnsv1.WatchRequest{ClientName: clientName}
	return e.withConn(ctx, false, func(ctx context.Context, cc *grpc.ClientConn) error {
		client := clusterdnsv1.NewRecordServiceClient(cc)
		open := func(ctx context.Context) (grpc.ServerStreamingClient[clusterdnsv1.WatchResponse], error) {
			return client.Watch(ctx, req)
		}
		return watchLoop(ctx, e, follow, streamSession("watch changes", open, func(msg *clusterdnsv1.WatchResponse) error {
			// Only the last message of a revision carries the digest, and
			// only it is a resume point.
			if len(msg.GetStateDigest()) > 0 {
				req.ResumeRevision, req.ResumeServerId, req.ResumeDigest = msg.GetRevision(), msg.GetServerId(), msg.GetStateDigest()
			}
			return printWatchChange(e, msg)
		}))
	})
}

// streamSession is one stream of a watch: it opens it, and hands each
// message to handle (which prints it and moves the resume point the next
// session opens with) until the stream or handle fails.
func streamSession[M any](what string, open func(context.Context) (grpc.ServerStreamingClient[M], error),
	handle func(*M) error) func(context.Context, func()) error {
	return func(ctx context.Context, received func()) error {
		stream, err := open(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for {
			msg, err := stream.Recv()
			if err != nil {
				return streamEnd(what, err)
			}
			received()
			if err := handle(msg); err != nil {
				return err
			}
		}
	}
}

// streamEnd wraps the error that ended a stream: a clean end (io.EOF)
// counts as the server going away, like UNAVAILABLE.
func streamEnd(what string, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the record service ended the stream: %w", what, errUnreachable)
	}
	return fmt.Errorf("%s: stream ended: %w", what, err)
}

// watchLoop runs one stream session, and with follow runs it again after
// a backoff for as long as it fails in a way a retry can cure; it ends
// when the user interrupts it (ctx done), which is a normal end of a
// watch. Each session must call received for each message; its first
// message must come within --timeout.
func watchLoop(ctx context.Context, e *env, follow bool, session func(ctx context.Context, received func()) error) error {
	backoff := firstBackoff
	for {
		got, err := watchSession(ctx, e.opts.Timeout, session)
		if ctx.Err() != nil {
			return nil
		}
		if !follow || !retryable(err) {
			return err
		}
		if got {
			backoff = firstBackoff
		}
		fmt.Fprintf(e.stderr, "clusterdnsctl: %v; resuming in %s\n", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watchSession runs one session, cancelling it when its first message
// does not arrive within timeout, and tells whether any message came.
func watchSession(ctx context.Context, timeout time.Duration, session func(context.Context, func()) error) (bool, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(timeout, func() { cancel(errNoFirstMessage) })
	defer timer.Stop()
	got := false
	err := session(sctx, func() {
		if !got {
			got = true
			timer.Stop()
		}
	})
	if errors.Is(context.Cause(sctx), errNoFirstMessage) {
		return got, fmt.Errorf("%w (%s): %w", errNoFirstMessage, timeout, context.DeadlineExceeded)
	}
	return got, err
}

// retryable tells whether --follow should try again after err: the
// server went away or was busy, not a refusal that would only repeat.
func retryable(err error) bool {
	if errors.Is(err, errUnreachable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal:
		return true
	}
	return false
}
