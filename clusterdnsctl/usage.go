package main

import (
	"flag"
	"fmt"
	"strings"
)

// exitCodesHelp documents the exit codes for scripts; README.md repeats it.
const exitCodesHelp = `Exit codes:
  0  success
  1  the answer is negative: lookup NXDOMAIN (NAME_ERROR), NODATA (NO_DATA) or
     NOT_AUTHORITATIVE; get service: the Service does not exist;
     import-corefile --strict: something is not carried over (nothing written)
  2  usage error: unknown command or flag, bad or missing argument (the message
     names it); also a request the record service rejects as INVALID_ARGUMENT,
     and a Corefile or ConfigMap import-corefile cannot read or parse
  3  the server is unreachable or refuses: UNAVAILABLE, DEADLINE_EXCEEDED,
     PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, a TLS failure, a
     lookup answered NOT_READY, a watch stream that ended, a frontend metrics
     endpoint that cannot be reached
  4  any other error
`

// mainUsage is the text of clusterdnsctl --help.
func mainUsage() string {
	var b strings.Builder
	b.WriteString(`Usage: clusterdnsctl [flags] COMMAND [ARGS] [flags]

clusterdnsctl asks the clusterdns record service over gRPC (RecordService and
DiscoveryService), and a frontend's /metrics for its cache statistics; it also
turns a CoreDNS Corefile into a frontend configuration file.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-34s %s\n", strings.Join(c.path, " ")+" "+c.args, c.summary)
	}
	b.WriteString("  help [COMMAND]                     show the help of a command\n\nGlobal flags (before or after the command):\n")
	defaults := defaultOptions()
	b.WriteString(flagDefaults(newFlagSet("clusterdnsctl", &defaults)))
	b.WriteString("\n" + exitCodesHelp)
	return b.String()
}

// commandUsage is the text of COMMAND --help; fs holds the command's flags
// and the global ones.
func commandUsage(c command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: clusterdnsctl %s %s [flags]\n\n%s\n", strings.Join(c.path, " "), c.args, strings.TrimSpace(c.help))
	global := newFlagSet("", &globalOptions{})
	own := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if global.Lookup(f.Name) == nil {
			own.Var(f.Value, f.Name, f.Usage)
			own.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	if hasFlags(own) {
		b.WriteString("\nFlags:\n")
		b.WriteString(flagDefaults(own))
	}
	b.WriteString("\nGlobal flags: see clusterdnsctl --help.\n\n" + exitCodesHelp)
	return b.String()
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// flagDefaults lists fs's flags in the --name form the documentation
// uses; -h, the short spelling of --help, is left out.
func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "h" {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		fmt.Fprintf(&b, "  %s\n        %s", strings.TrimSpace(dash+f.Name+" "+arg), usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	return b.String()
}
