package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/clusterdns/clusterdns/recordsvc/internal/certbootstrap"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
)

// bootstrapCommand is the subcommand that creates and renews the mTLS
// Secrets (deploy/ runs it as a Job and a daily CronJob).
const bootstrapCommand = "bootstrap-certs"

// bootstrapTimeout bounds one run: a handful of API requests.
const bootstrapTimeout = 2 * time.Minute

// bootstrapMain runs `recordsvc bootstrap-certs` and returns the exit code.
func bootstrapMain(args []string) int {
	cfg, kubeconfig, err := parseBootstrapFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "recordsvc %s: %v\n", bootstrapCommand, err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	restCfg, err := restConfig(kubeconfig)
	if err != nil {
		logger.Error("bootstrap-certs failed", "err", err)
		return 1
	}
	restCfg.UserAgent = "clusterdns-bootstrap-certs"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		logger.Error("bootstrap-certs failed", "err", fmt.Errorf("kubernetes client: %w", err))
		return 1
	}
	res, err := certbootstrap.Run(ctx, client, cfg, logger)
	if err != nil {
		logger.Error("bootstrap-certs failed", "err", err)
		return 1
	}
	logger.Info("bootstrap-certs done", "namespace", cfg.Namespace, "created", res.Created, "renewed", res.Renewed,
		"unchanged", res.Unchanged)
	return 0
}

// listFlag is a repeatable or comma-separated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func parseBootstrapFlags(args []string, output io.Writer) (certbootstrap.Config, string, error) {
	fs := flag.NewFlagSet("recordsvc "+bootstrapCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig `file` (default: in-cluster config)")
	namespace := fs.String("namespace", "kube-system", "`namespace` of the Secrets and of the record service's Services")
	domain := fs.String("cluster-domain", dnsschema.DefaultZone, "cluster DNS `zone` (for the Services' names)")
	services := listFlag{"clusterdns-recordsvc", "clusterdns-recordsvc-vip"}
	fs.Var(&services, "service", "`name` of a Service of the record service in --namespace, its certificate covers <name>.<ns>.svc[.<zone>] "+
		"(repeatable; default clusterdns-recordsvc,clusterdns-recordsvc-vip)")
	ips := listFlag{"10.96.0.11"}
	fs.Var(&ips, "server-ip", "`IP` the record service certificate is also valid for (repeatable; default 10.96.0.11, the frontends' VIP)")
	var clients listFlag
	fs.Var(&clients, "client", "`identity` of an extra client certificate, in Secret clusterdns-client-<identity>-tls (repeatable)")
	caLife := fs.Duration("ca-lifetime", 10*365*24*time.Hour, "validity of a new CA")
	certLife := fs.Duration("cert-lifetime", 90*24*time.Hour, "validity of a new certificate; renewed past two thirds of it")
	fs.Usage = func() {
		fs.SetOutput(output)
		fmt.Fprintf(output, "Usage: recordsvc %s [flags]\n\nCreates or renews the clusterdns CA and the record service's and frontends' "+
			"certificates in Secrets %s, %s and %s.\n\nFlags:\n", bootstrapCommand,
			certbootstrap.CASecret, certbootstrap.RecordSvcTLS, certbootstrap.FrontendTLS)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return certbootstrap.Config{}, "", err
	}
	if fs.NArg() > 0 {
		return certbootstrap.Config{}, "", fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := certbootstrap.Config{Namespace: *namespace, CALifetime: *caLife, CertLifetime: *certLife}
	if *namespace == "" {
		return cfg, "", errors.New("--namespace: empty")
	}
	if *domain == "" {
		return cfg, "", errors.New("--cluster-domain: empty")
	}
	if set["service"] {
		services = services[2:] // the defaults give way to the flags given
	}
	if set["server-ip"] {
		ips = ips[1:]
	}
	for _, s := range services {
		cfg.ServerDNSNames = append(cfg.ServerDNSNames, s+"."+*namespace+".svc", s+"."+*namespace+".svc."+strings.TrimSuffix(*domain, "."))
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return cfg, "", fmt.Errorf("--server-ip: %q is not an IP address", s)
		}
		cfg.ServerIPs = append(cfg.ServerIPs, ip)
	}
	for _, c := range clients {
		if c == "frontend" || c == "recordsvc" || strings.ContainsAny(c, "/ ") {
			return cfg, "", fmt.Errorf("--client: %q is reserved or not a name", c)
		}
	}
	cfg.Clients = clients
	if *caLife < time.Hour {
		return cfg, "", fmt.Errorf("--ca-lifetime: %v is shorter than an hour", *caLife)
	}
	if *certLife < time.Hour || *certLife > *caLife {
		return cfg, "", fmt.Errorf("--cert-lifetime: %v must be at least an hour and at most --ca-lifetime", *certLife)
	}
	return cfg, *kubeconfig, nil
}
