package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/util/validation"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// maxPages bounds list services: at the server's largest page (1,000) it
// is ten million Services, far beyond any cluster; a server that never
// ends its pages is stopped by it.
const maxPages = 10000

func getServiceCommand() command {
	return command{
		path:    []string{"get", "service"},
		aliases: []string{"services", "svc"},
		args:    "NS/NAME",
		summary: "a Service and its endpoints (DiscoveryService.GetService)",
		help: `Prints the Service NS/NAME: its type, cluster IPs, ports (name, protocol, port,
appProtocol), then a table of its endpoints: addresses, ready/serving/terminating,
hostname, node, zone, target and ports (-o json: the GetServiceResponse). A Service
that does not exist exits 1.

  clusterdnsctl get service default/kubernetes`,
		setup: func(*flag.FlagSet) func(context.Context, *env, []string) error { return runGetService },
	}
}

func listServicesCommand() command {
	return command{
		path:    []string{"list", "services"},
		aliases: []string{"service", "svc"},
		args:    "[NS]",
		summary: "the Services of a namespace or of all (DiscoveryService.ListServices)",
		help: `Lists the Services of namespace NS, or of every namespace the caller may see, in
namespace/name order, following the pages to the end (-o json: one ListServicesResponse
holding every Service, with the revision and server of the last page).

  clusterdnsctl list services kube-system`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			pageSize := fs.Uint("page-size", 0, "Services per page asked of the server (0: the server's default, 100; at most 1000)")
			return func(ctx context.Context, e *env, args []string) error {
				return runListServices(ctx, e, args, *pageSize)
			}
		},
	}
}

// parseServiceRef reads NS/NAME, both valid Kubernetes names.
func parseServiceRef(s string) (*clusterdnsv1.ServiceRef, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok {
		return nil, usageError{fmt.Errorf("%q: want NS/NAME", s)}
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, usageError{fmt.Errorf("%q: namespace %q: %s", s, ns, strings.Join(errs, "; "))}
	}
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return nil, usageError{fmt.Errorf("%q: Service name %q: %s", s, name, strings.Join(errs, "; "))}
	}
	return &clusterdnsv1.ServiceRef{Namespace: ns, Name: name}, nil
}

func runGetService(ctx context.Context, e *env, args []string) error {
	if err := wantArgs(args, 1, 1, "NS/NAME"); err != nil {
		return err
	}
	ref, err := parseServiceRef(args[0])
	if err != nil {
		return err
	}
	var resp *clusterdnsv1.GetServiceResponse
	err = e.withConn(ctx, true, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp, err = clusterdnsv1.NewDiscoveryServiceClient(cc).GetService(ctx, &clusterdnsv1.GetServiceRequest{Ref: ref})
		return err
	})
	if err != nil {
		return fmt.Errorf("get service %s: %w", args[0], err)
	}
	if e.opts.Output == formatJSON {
		return writeProtoJSON(e.stdout, resp)
	}
	return writeServiceState(e.stdout, resp.GetState(), resp.GetRevision(), resp.GetServerId())
}

func runListServices(ctx context.Context, e *env, args []string, pageSize uint) error {
	if err := wantArgs(args, 0, 1, "[NS]"); err != nil {
		return err
	}
	if pageSize > 1000 {
		return usageError{fmt.Errorf("--page-size %d: at most 1000", pageSize)}
	}
	req := &clusterdnsv1.ListServicesRequest{PageSize: uint32(pageSize)}
	if len(args) == 1 {
		if errs := validation.IsDNS1123Label(args[0]); len(errs) > 0 {
			return usageError{fmt.Errorf("namespace %q: %s", args[0], strings.Join(errs, "; "))}
		}
		req.Namespace = args[0]
	}
	var all *clusterdnsv1.ListServicesResponse
	err := e.withConn(ctx, false, func(ctx context.Context, cc *grpc.ClientConn) error {
		var err error
		all, err = listAll(ctx, clusterdnsv1.NewDiscoveryServiceClient(cc), req, e.opts.Timeout)
		return err
	})
	if err != nil {
		return err
	}
	if e.opts.Output == formatJSON {
		return writeProtoJSON(e.stdout, all)
	}
	return writeServiceList(e.stdout, all.GetServices())
}

// listAll follows the pages of req to the end, each call with its own
// timeout, and returns them as one response.
func listAll(ctx context.Context, c clusterdnsv1.DiscoveryServiceClient, req *clusterdnsv1.ListServicesRequest,
	timeout time.Duration) (*clusterdnsv1.ListServicesResponse, error) {
	all := &clusterdnsv1.ListServicesResponse{}
	for page := range maxPages {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := c.ListServices(pctx, req)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list services (page %d): %w", page+1, err)
		}
		all.Services = append(all.Services, resp.GetServices()...)
		all.Revision, all.ServerId = resp.GetRevision(), resp.GetServerId()
		if resp.GetNextPageToken() == "" {
			return all, nil
		}
		if resp.GetNextPageToken() == req.GetPageToken() {
			return nil, errors.New("list services: the server returned the same page token twice")
		}
		req.PageToken = resp.GetNextPageToken()
	}
	return nil, fmt.Errorf("list services: more than %d pages", maxPages)
}
