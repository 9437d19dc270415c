package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// note is one thing of the input the output does not carry, or carries
// by the frontend's own behaviour.
type note struct {
	file string
	line int
	// what names the directive and option: "kubernetes pods verified".
	what string
	// builtIn marks what the frontend (or deploy/) does without any
	// configuration; the others are not carried over.
	builtIn bool
	why     string
}

func (n note) String() string {
	kind := "not carried over"
	if n.builtIn {
		kind = "built in"
	}
	loc := n.file
	if n.line > 0 {
		loc = fmt.Sprintf("%s:%d", n.file, n.line)
	}
	return fmt.Sprintf("%s: %s: %s: %s", loc, n.what, kind, n.why)
}

// seconds is n seconds as a duration, for CoreDNS's TTL arguments.
func seconds(n int) *dnsconfig.Duration {
	return dnsconfig.NewDuration(time.Duration(n) * time.Second)
}

// joinWords is a directive's words as written, for notes.
func joinWords(words ...string) string {
	return strings.Join(strings.Fields(strings.Join(words, " ")), " ")
}
