package main

import (
	"encoding/hex"
	"fmt"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// printWatchServices prints one WatchServices message: a header line, then
// the block of each state it carries.
func printWatchServices(e *env, msg *clusterdnsv1.WatchServicesResponse) error {
	if e.opts.Output == formatJSON {
		return writeProtoJSON(e.stdout, msg)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- revision %d, server %s, %d state(s)", msg.GetRevision(), msg.GetServerId(), len(msg.GetStates()))
	if msg.GetResumed() {
		b.WriteString(", resumed")
	}
	b.WriteString("\n")
	for _, st := range msg.GetStates() {
		b.WriteString("\n")
		if err := writeServiceState(&b, st, msg.GetRevision(), msg.GetServerId()); err != nil {
			return err
		}
	}
	b.WriteString("\n")
	// One write per message, so that a reader of a pipe sees whole blocks.
	_, err := fmt.Fprint(e.stdout, b.String())
	return err
}

// printWatchChange prints one Watch message as one line.
func printWatchChange(e *env, msg *clusterdnsv1.WatchResponse) error {
	if e.opts.Output == formatJSON {
		return writeProtoJSON(e.stdout, msg)
	}
	_, err := fmt.Fprintln(e.stdout, watchChangeLine(msg))
	return err
}

// watchChangeLine is a Watch message in one line: revision, server, flags,
// the state digest when it carries one, and its keys.
func watchChangeLine(msg *clusterdnsv1.WatchResponse) string {
	var b strings.Builder
	fmt.Fprintf(&b, "revision %d  server %s", msg.GetRevision(), msg.GetServerId())
	if msg.GetResync() {
		b.WriteString("  resync")
	}
	if msg.GetResumed() {
		b.WriteString("  resumed")
	}
	if d := msg.GetStateDigest(); len(d) > 0 {
		fmt.Fprintf(&b, "  digest %s", hex.EncodeToString(d))
	}
	fmt.Fprintf(&b, "  keys(%d)", len(msg.GetKeys()))
	if len(msg.GetKeys()) > 0 {
		b.WriteString(" " + strings.Join(msg.GetKeys(), " "))
	}
	return b.String()
}
