package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// env is what a command runs with: the parsed global flags and where its
// output goes.
type env struct {
	opts   globalOptions
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

// command is one subcommand. setup registers the command's own flags on
// fs and returns the function that runs it with its positional arguments.
type command struct {
	// path is the command's words: "lookup", or "get service".
	path []string
	// aliases are other spellings of the last word of path.
	aliases []string
	// args is the synopsis of the positional arguments.
	args string
	// summary is one line for the command list.
	summary string
	// help is the longer description of --help.
	help  string
	setup func(fs *flag.FlagSet) func(ctx context.Context, e *env, args []string) error
}

// commands returns every subcommand, in the order the usage lists them.
func commands() []command {
	return []command{
		lookupCommand(),
		getServiceCommand(),
		listServicesCommand(),
		watchServicesCommand(),
		watchChangesCommand(),
		statsCommand(),
		importCorefileCommand(),
		versionCommand(),
	}
}

// findCommand picks the command named by the first words of args and
// returns it with the number of words it used. A two-word command's noun
// must follow its verb, as in kubectl.
func findCommand(args []string) (command, int, error) {
	if len(args) >= 2 {
		for _, c := range commands() {
			if len(c.path) == 2 && c.path[0] == args[0] && (c.path[1] == args[1] || contains(c.aliases, args[1])) {
				return c, 2, nil
			}
		}
	}
	var verbs, nouns []string
	for _, c := range commands() {
		switch {
		case c.path[0] != args[0]:
			if !contains(verbs, c.path[0]) {
				verbs = append(verbs, c.path[0])
			}
		case len(c.path) == 1:
			// watch NS/NAME shares its verb with watch changes.
			return c, 1, nil
		default:
			nouns = append(nouns, c.path[1])
		}
	}
	switch {
	case len(nouns) > 0 && len(args) < 2:
		return command{}, 0, usageError{fmt.Errorf("%s: missing what to %s: %s", args[0], args[0], strings.Join(nouns, ", "))}
	case len(nouns) > 0:
		return command{}, 0, usageError{fmt.Errorf("%s %s: unknown; want %s %s", args[0], args[1], args[0], strings.Join(nouns, " or "))}
	}
	return command{}, 0, usageError{fmt.Errorf("unknown command %q (commands: %s, help)", args[0], strings.Join(verbs, ", "))}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// run is the whole program but for the process: it parses args (without
// the program name), runs the command and returns the exit code, having
// printed any error on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{opts: defaultOptions(), stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	err := e.dispatch(ctx, args)
	code := exitCode(err)
	switch {
	case err == nil:
	case code == exitUsage:
		fmt.Fprintf(stderr, "clusterdnsctl: %v\nRun 'clusterdnsctl --help' (or COMMAND --help) for usage.\n", err)
	default:
		fmt.Fprintf(stderr, "clusterdnsctl: %v\n", err)
	}
	return code
}

// dispatch parses the global flags before the command, the command's
// words, then the command's flags (the global ones included, anywhere on
// the line) and arguments, and runs it.
func (e *env) dispatch(ctx context.Context, args []string) error {
	fs := newFlagSet("clusterdnsctl", &e.opts)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "help" {
		e.opts.Help, rest = true, rest[1:]
	}
	if len(rest) == 0 {
		if e.opts.Help {
			_, err := io.WriteString(e.stdout, mainUsage())
			return err
		}
		return usageError{errors.New("missing command")}
	}
	cmd, words, err := findCommand(rest)
	if err != nil {
		return err
	}
	name := strings.Join(cmd.path, " ")
	cfs := newFlagSet(name, &e.opts)
	runCmd := cmd.setup(cfs)
	positional, err := parseInterspersed(cfs, rest[words:])
	if err == nil && e.opts.Help {
		_, err := io.WriteString(e.stdout, commandUsage(cmd, cfs))
		return err
	}
	if err == nil {
		err = e.opts.validate()
	}
	if err == nil {
		err = runCmd(ctx, e, positional)
	}
	// A usage error names the command it is about.
	if ue := (usageError{}); errors.As(err, &ue) {
		return usageError{fmt.Errorf("%s: %w", name, err)}
	}
	return err
}

// wantArgs checks the number of positional arguments of a command.
func wantArgs(args []string, lo, hi int, synopsis string) error {
	if len(args) < lo || (hi >= 0 && len(args) > hi) {
		if len(args) == 0 {
			return usageError{fmt.Errorf("want %s, got no argument", synopsis)}
		}
		return usageError{fmt.Errorf("want %s, got %d argument(s): %s", synopsis, len(args), strings.Join(args, " "))}
	}
	return nil
}
