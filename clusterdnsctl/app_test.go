package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCtl runs the program with args and returns its exit code and outputs.
func runCtl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestUsage covers the command lines rejected before any connection is
// made, and the help texts: each exits with the documented code and says
// what is wrong.
func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: nil, code: exitUsage, stderr: "missing command"},
		{args: []string{"frobnicate"}, code: exitUsage, stderr: `unknown command "frobnicate"`},
		{args: []string{"--nope"}, code: exitUsage, stderr: "flag provided but not defined: -nope"},
		{args: []string{"get"}, code: exitUsage, stderr: "get: missing what to get: service"},
		{args: []string{"get", "pods"}, code: exitUsage, stderr: "get pods: unknown; want get service"},
		{args: []string{"list", "nodes"}, code: exitUsage, stderr: "want list services"},
		{args: []string{"lookup"}, code: exitUsage, stderr: "lookup: want NAME [TYPE], got no argument"},
		{args: []string{"lookup", "a.b", "A", "extra"}, code: exitUsage, stderr: "got 3 argument(s)"},
		{args: []string{"lookup", "a.b", "TYPEZ"}, code: exitUsage, stderr: `type "TYPEZ"`},
		{args: []string{"lookup", "a..b"}, code: exitUsage, stderr: `name "a..b": not a domain name`},
		{args: []string{"lookup", "a.b", "-o", "yaml"}, code: exitUsage, stderr: `-o "yaml": want table or json`},
		{args: []string{"-o", "yaml", "lookup", "a.b"}, code: exitUsage, stderr: `-o "yaml"`},
		{args: []string{"--recordsvc", "nohost", "lookup", "a.b"}, code: exitUsage, stderr: `--recordsvc "nohost": want HOST:PORT`},
		{args: []string{"lookup", "a.b", "--timeout", "0s"}, code: exitUsage, stderr: "--timeout 0s: must be positive"},
		{args: []string{"lookup", "a.b", "--recordsvc-tls-cert", "c.pem"}, code: exitUsage, stderr: "give both or neither"},
		{args: []string{"lookup", "a.b", "--recordsvc-tls-cert", "c.pem", "--recordsvc-tls-key", "k.pem"}, code: exitUsage, stderr: "--recordsvc-tls-ca: needed"},
		{args: []string{"lookup", "a.b", "--recordsvc-tls-server-name", "x"}, code: exitUsage, stderr: "needs --recordsvc-tls-ca"},
		{args: []string{"lookup", "a.b", "--recordsvc-tls-ca", "/nonexistent/ca.pem"}, code: exitUsage, stderr: "--recordsvc-tls-ca"},
		{args: []string{"get", "service", "default"}, code: exitUsage, stderr: `"default": want NS/NAME`},
		{args: []string{"get", "svc", "Default/kubernetes"}, code: exitUsage, stderr: `namespace "Default"`},
		{args: []string{"get", "service", "default/a_b"}, code: exitUsage, stderr: `Service name "a_b"`},
		{args: []string{"get", "service", "a/b", "c/d"}, code: exitUsage, stderr: "got 2 argument(s)"},
		{args: []string{"list", "services", "a", "b"}, code: exitUsage, stderr: "want [NS]"},
		{args: []string{"list", "services", "--page-size", "5000"}, code: exitUsage, stderr: "--page-size 5000"},
		{args: []string{"watch"}, code: exitUsage, stderr: "watch: want NS/NAME"},
		{args: []string{"watch", "changes", "extra"}, code: exitUsage, stderr: "watch changes: want no argument"},
		{args: []string{"watch", "--follow", "changes"}, code: exitUsage, stderr: `"changes": want NS/NAME`},
		{args: []string{"stats"}, code: exitUsage, stderr: "--frontend-metrics: missing"},
		{args: []string{"stats", "--frontend-metrics", "9153"}, code: exitUsage, stderr: `--frontend-metrics "9153": want HOST:PORT`},
		{args: []string{"version", "x"}, code: exitUsage, stderr: "version: want no argument"},
		{args: []string{"--help"}, code: exitOK, stdout: "Exit codes:"},
		{args: []string{"help"}, code: exitOK, stdout: "watch changes"},
		{args: []string{"-h"}, code: exitOK, stdout: "Usage: clusterdnsctl [flags] COMMAND"},
		{args: []string{"lookup", "--help"}, code: exitOK, stdout: "Usage: clusterdnsctl lookup NAME [TYPE]"},
		{args: []string{"help", "watch", "changes"}, code: exitOK, stdout: "Usage: clusterdnsctl watch changes"},
		{args: []string{"get", "svc", "-h"}, code: exitOK, stdout: "Usage: clusterdnsctl get service NS/NAME"},
		{args: []string{"list", "services", "--help"}, code: exitOK, stdout: "--page-size"},
		{args: []string{"stats", "--help"}, code: exitOK, stdout: "--frontend-metrics"},
		{args: []string{"version"}, code: exitOK, stdout: "clusterdnsctl "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCtl(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q",
					code, tc.code, stdout, stderr, tc.stdout, tc.stderr)
			}
			if tc.code == exitUsage && !strings.Contains(stderr, "--help") {
				t.Errorf("a usage error does not point at --help: %s", stderr)
			}
		})
	}
}

// TestParseInterspersed: flags may come before, between and after the
// positional arguments, and "--" ends them.
func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args       []string
		positional []string
		output     string
		recordsvc  string
	}{
		{args: []string{"a", "b"}, positional: []string{"a", "b"}, output: formatTable, recordsvc: "127.0.0.1:9090"},
		{args: []string{"-o", "json", "a"}, positional: []string{"a"}, output: formatJSON, recordsvc: "127.0.0.1:9090"},
		{args: []string{"a", "-o", "json", "b", "--recordsvc=h:1"}, positional: []string{"a", "b"}, output: formatJSON, recordsvc: "h:1"},
		{args: []string{"a", "--", "-o", "json"}, positional: []string{"a", "-o", "json"}, output: formatTable, recordsvc: "127.0.0.1:9090"},
		{args: []string{"--", "a"}, positional: []string{"a"}, output: formatTable, recordsvc: "127.0.0.1:9090"},
		{args: nil, positional: nil, output: formatTable, recordsvc: "127.0.0.1:9090"},
	} {
		o := defaultOptions()
		got, err := parseInterspersed(newFlagSet("test", &o), tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if strings.Join(got, "|") != strings.Join(tc.positional, "|") || o.Output != tc.output || o.RecordService != tc.recordsvc {
			t.Errorf("%q: positional %q output %s recordsvc %s, want %q %s %s", tc.args, got, o.Output, o.RecordService,
				tc.positional, tc.output, tc.recordsvc)
		}
	}
	o := defaultOptions()
	if _, err := parseInterspersed(newFlagSet("test", &o), []string{"a", "--timeout", "soon"}); exitCode(err) != exitUsage {
		t.Errorf("bad duration: %v, want a usage error", err)
	}
}

// TestServerNameDefault: with TLS, the certificate must be valid for the
// host of --recordsvc unless --recordsvc-tls-server-name says otherwise.
func TestServerNameDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, flag, want string }{
		{"recordsvc.kube-system.svc:9090", "", "recordsvc.kube-system.svc"},
		{"[::1]:9090", "", "::1"},
		{"10.0.0.1:9090", "recordsvc.example", "recordsvc.example"},
	} {
		o := defaultOptions()
		o.RecordService, o.ServerName, o.TLS.CA = tc.addr, tc.flag, "ca.pem"
		if err := o.validate(); err != nil || o.ServerName != tc.want {
			t.Errorf("%s %q: server name %q (%v), want %q", tc.addr, tc.flag, o.ServerName, err, tc.want)
		}
	}
}
