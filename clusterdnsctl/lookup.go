package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/miekg/dns"
	"google.golang.org/grpc"

	"github.com/clusterdns/clusterdns/internal/buildinfo"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

func lookupCommand() command {
	return command{
		path:    []string{"lookup"},
		args:    "NAME [TYPE]",
		summary: "answer one DNS question (RecordService.Lookup)",
		help: `Asks the record service the question NAME TYPE (default A) as a frontend would, and prints
the result with the records in dig's zone-file form (-o json: the LookupResponse).
TYPE is A, AAAA, SRV, PTR, CNAME, TXT, SOA, NS, ANY or a number. A negative answer
(NAME_ERROR, NO_DATA, NOT_AUTHORITATIVE) is printed and exits 1.

  clusterdnsctl lookup kubernetes.default.svc.cluster.local
  clusterdnsctl lookup _https._tcp.kubernetes.default.svc.cluster.local SRV -o json`,
		setup: func(*flag.FlagSet) func(context.Context, *env, []string) error { return runLookup },
	}
}

// lookupArgs validates lookup's arguments: a domain name and an optional
// type.
func lookupArgs(args []string) (string, uint16, error) {
	if err := wantArgs(args, 1, 2, "NAME [TYPE]"); err != nil {
		return "", 0, err
	}
	name := args[0]
	if _, ok := dns.IsDomainName(name); !ok || name == "." {
		return "", 0, usageError{fmt.Errorf("name %q: not a domain name", name)}
	}
	qtype := dns.TypeA
	if len(args) == 2 {
		t, err := parseQType(args[1])
		if err != nil {
			return "", 0, usageError{err}
		}
		qtype = t
	}
	return dns.Fqdn(name), qtype, nil
}

func runLookup(ctx context.Context, e *env, args []string) error {
	name, qtype, err := lookupArgs(args)
	if err != nil {
		return err
	}
	var resp *clusterdnsv1.LookupResponse
	err = e.withConn(ctx, true, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp, err = clusterdnsv1.NewRecordServiceClient(cc).Lookup(ctx, &clusterdnsv1.LookupRequest{
			Name: name, Qtype: uint32(qtype), Transport: clusterdnsv1.Transport_TRANSPORT_UDP,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("lookup %s %s: %w", name, typeName(uint32(qtype)), err)
	}
	if e.opts.Output == formatJSON {
		err = writeProtoJSON(e.stdout, resp)
	} else {
		err = writeLookup(e.stdout, name, qtype, resp)
	}
	if err != nil {
		return err
	}
	return lookupOutcome(name, qtype, resp.GetResult())
}

// lookupOutcome turns a result into the command's error: nil for an
// answer, errNegative for a negative one, and unreachable for a server
// that has not synced yet.
func lookupOutcome(name string, qtype uint16, r clusterdnsv1.Result) error {
	switch r {
	case clusterdnsv1.Result_RESULT_SUCCESS:
		return nil
	case clusterdnsv1.Result_RESULT_NAME_ERROR, clusterdnsv1.Result_RESULT_NO_DATA, clusterdnsv1.Result_RESULT_NOT_AUTHORITATIVE:
		return fmt.Errorf("%s %s: %s: %w", name, typeName(uint32(qtype)), resultName(r), errNegative)
	case clusterdnsv1.Result_RESULT_NOT_READY:
		return fmt.Errorf("%s %s: the record service has not synced with the Kubernetes API yet: %w", name,
			typeName(uint32(qtype)), errUnreachable)
	}
	return fmt.Errorf("%s %s: unexpected result %s", name, typeName(uint32(qtype)), r)
}

func versionCommand() command {
	return command{
		path:    []string{"version"},
		summary: "print the version of clusterdnsctl",
		help:    "Prints the version, commit and Go version clusterdnsctl was built from.",
		setup: func(*flag.FlagSet) func(context.Context, *env, []string) error {
			return func(_ context.Context, e *env, args []string) error {
				if err := wantArgs(args, 0, 0, "no argument"); err != nil {
					return err
				}
				_, err := fmt.Fprintln(e.stdout, buildinfo.Get().String("clusterdnsctl"))
				return err
			}
		},
	}
}
