package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/internal/mtls"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// globalOptions are the flags every command takes, before or after its
// name.
type globalOptions struct {
	// RecordService is the record service's gRPC address, HOST:PORT
	// (--recordsvc).
	RecordService string
	// TLS are the client certificate, key and CA files (--recordsvc-tls-*);
	// all empty means plaintext, the CA alone TLS without a client
	// certificate.
	TLS mtls.Files
	// ServerName is the name the record service's certificate must be
	// valid for (--recordsvc-tls-server-name; default the host of
	// --recordsvc).
	ServerName string
	// Output is table or json (-o).
	Output string
	// Timeout bounds each call, and for watches the wait for the first
	// message (--timeout).
	Timeout time.Duration
	// Help asks for the usage text (-h, --help).
	Help bool
}

// defaultOptions are the values of the global flags when none is given.
func defaultOptions() globalOptions {
	return globalOptions{RecordService: "127.0.0.1:9090", Output: formatTable, Timeout: 10 * time.Second}
}

// addGlobalFlags registers the global flags on fs, defaulting to what o
// holds, so that flags given before a command's name carry over to the
// command's own flag set.
func addGlobalFlags(fs *flag.FlagSet, o *globalOptions) {
	fs.StringVar(&o.RecordService, "recordsvc", o.RecordService, "record service gRPC address (HOST:PORT)")
	fs.StringVar(&o.TLS.Cert, "recordsvc-tls-cert", o.TLS.Cert, "PEM client certificate `file` for mutual TLS (needs --recordsvc-tls-key and --recordsvc-tls-ca)")
	fs.StringVar(&o.TLS.Key, "recordsvc-tls-key", o.TLS.Key, "PEM private key `file` of --recordsvc-tls-cert")
	fs.StringVar(&o.TLS.CA, "recordsvc-tls-ca", o.TLS.CA, "PEM `file` of the CAs the record service's certificate must be issued by; turns TLS on")
	fs.StringVar(&o.ServerName, "recordsvc-tls-server-name", o.ServerName, "name the record service's certificate must be valid for (default: the host of --recordsvc)")
	fs.StringVar(&o.Output, "o", o.Output, "output format: table or json")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "deadline of each call; for watches, of the wait for the first message")
	fs.BoolVar(&o.Help, "h", o.Help, "show help")
	fs.BoolVar(&o.Help, "help", o.Help, "show help")
}

// newFlagSet returns a flag set of the global flags that reports errors
// instead of exiting and prints nothing itself: the caller prints usage.
func newFlagSet(name string, o *globalOptions) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	addGlobalFlags(fs, o)
	return fs
}

// parseInterspersed parses args with fs, letting flags come before,
// between and after the positional arguments, which it returns in order.
// "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	// Each round consumes at least one argument, so len(args)+1 rounds end it.
	for range len(args) + 1 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// flag.Parse stops at "--" after consuming it, or at the first
		// positional argument: tell them apart by what preceded.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return positional, nil
}

// validate checks the global flags once the command line is parsed.
func (o *globalOptions) validate() error {
	if o.Output != formatTable && o.Output != formatJSON {
		return usageError{fmt.Errorf("-o %q: want table or json", o.Output)}
	}
	if o.Timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %s: must be positive", o.Timeout)}
	}
	host, port, err := net.SplitHostPort(o.RecordService)
	if err != nil || host == "" || port == "" {
		return usageError{fmt.Errorf("--recordsvc %q: want HOST:PORT", o.RecordService)}
	}
	f := o.TLS
	switch {
	case (f.Cert == "") != (f.Key == ""):
		return usageError{errors.New("--recordsvc-tls-cert and --recordsvc-tls-key: give both or neither")}
	case f.Cert != "" && f.CA == "":
		return usageError{errors.New("--recordsvc-tls-ca: needed with --recordsvc-tls-cert (the record service's certificate is verified against it)")}
	case f.CA == "" && o.ServerName != "":
		return usageError{errors.New("--recordsvc-tls-server-name: needs --recordsvc-tls-ca (TLS is off without it)")}
	}
	if f.CA != "" && o.ServerName == "" {
		o.ServerName = strings.Trim(host, "[]")
	}
	return nil
}
