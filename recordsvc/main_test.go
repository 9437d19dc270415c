package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Listen:               "127.0.0.1:9090",
		ClusterDomain:        "cluster.local",
		TTL:                  30,
		Pods:                 dnsschema.PodsInsecure,
		NameserverService:    "kube-system/kube-dns",
		DirectoryLimit:       1000,
		LogLevel:             slog.LevelInfo,
		Lameduck:             10 * time.Second,
		HealthzSyncTimeout:   10 * time.Minute,
		HealthzSourceFailure: 5 * time.Minute,
		Limits: limits{MaxConnections: 1024, MaxConnectionsPerIP: 8, MaxStreamsPerConnection: 64,
			MaxStreams: 2048, MaxStreamsPerClient: 16},
	}
	if cfg != want {
		t.Fatalf("defaults\n got %+v\nwant %+v", cfg, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want func(c *config) // edits the defaults into the expected config
	}{
		{"file source", []string{"--source", "file:deploy/examples/cluster.yaml"},
			func(c *config) { c.SourceFile = "deploy/examples/cluster.yaml" }},
		{"everything", []string{"--listen=:9999", "--kubeconfig=/k", "--cluster-domain=Example.Org.", "--ttl=5",
			"--pods=verified", "--autopath", "--nameserver-service=dns/frontend", "--metrics-listen=127.0.0.1:9153",
			"--log-level=debug", "--tls-cert=/c", "--tls-key=/k", "--tls-client-ca=/ca", "--authz-policy=/p",
			"--max-connections=10", "--max-connections-per-ip=2", "--max-streams-per-connection=3", "--max-streams=4",
			"--max-streams-per-client=0"},
			func(c *config) {
				*c = config{Listen: ":9999", Kubeconfig: "/k", ClusterDomain: "Example.Org.", TTL: 5,
					Pods: dnsschema.PodsVerified, Autopath: true, NameserverService: "dns/frontend", DirectoryLimit: c.DirectoryLimit,
					MetricsListen: "127.0.0.1:9153", LogLevel: slog.LevelDebug,
					Lameduck: c.Lameduck, HealthzSyncTimeout: c.HealthzSyncTimeout, HealthzSourceFailure: c.HealthzSourceFailure,
					TLS: mtls.Files{Cert: "/c", Key: "/k", CA: "/ca"}, AuthzPolicy: "/p",
					Limits: limits{MaxConnections: 10, MaxConnectionsPerIP: 2, MaxStreamsPerConnection: 3, MaxStreams: 4}}
			}},
		{"loopback names", []string{"--listen=localhost:1"}, func(c *config) { c.Listen = "localhost:1" }},
		{"IPv6 loopback", []string{"--listen=[::1]:1"}, func(c *config) { c.Listen = "[::1]:1" }},
		{"127/8", []string{"--listen=127.0.0.2:1"}, func(c *config) { c.Listen = "127.0.0.2:1" }},
		{"autopath", []string{"--autopath", "--pods", "verified"},
			func(c *config) { c.Autopath, c.Pods = true, dnsschema.PodsVerified }},
		{"largest TTL", []string{"--ttl", "2147483647"}, func(c *config) { c.TTL = 2147483647 }},
		{"pods disabled", []string{"--pods", "disabled"}, func(c *config) { c.Pods = dnsschema.PodsDisabled }},
		{"no directories", []string{"--directory-limit", "0"}, func(c *config) { c.DirectoryLimit = 0 }},
		{"larger directories", []string{"--directory-limit=5000"}, func(c *config) { c.DirectoryLimit = 5000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := parseFlags(nil, io.Discard)
			tt.want(&want)
			got, err := parseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--ttl", "0"}, "--ttl: must be 1..2147483647"},
		{[]string{"--ttl", "2147483648"}, "--ttl: must be 1..2147483647"},
		{[]string{"--ttl", "abc"}, "-ttl"},
		{[]string{"--source", "http://example.com/c.yaml"}, `--source: unsupported scheme "http", want file:PATH`},
		{[]string{"--source", "cluster.yaml"}, "--source: \"cluster.yaml\" has no scheme, want file:PATH"},
		{[]string{"--source", "file:"}, "--source: empty PATH"},
		{[]string{"--source", "file:c.yaml", "--kubeconfig", "k"}, "--source: cannot be combined with --kubeconfig"},
		{[]string{"--pods", "sometimes"}, "--pods: "},
		{[]string{"--directory-limit", "-1"}, "--directory-limit: must not be negative, got -1"},
		{[]string{"--directory-limit", "many"}, "-directory-limit"},
		{[]string{"--autopath"}, "--autopath: requires --pods verified"},
		{[]string{"--autopath", "--pods", "disabled"}, "--autopath: requires --pods verified"},
		{[]string{"--log-level", "loud"}, "--log-level: "},
		{[]string{"--listen", "9090"}, "--listen: want HOST:PORT"},
		{[]string{"--listen", "127.0.0.1:http"}, "--listen: port \"http\""},
		{[]string{"--metrics-listen", "localhost"}, "--metrics-listen: want HOST:PORT"},
		{[]string{"--pprof"}, "--pprof: needs --metrics-listen"},
		{[]string{"--cluster-domain", ""}, "--cluster-domain: empty"},
		{[]string{"--cluster-domain", "bad_domain.local"}, "--cluster-domain: "},
		{[]string{"--cluster-domain", "in-addr.arpa"}, "--cluster-domain: "},
		{[]string{"--nameserver-service", "kube-dns"}, "--nameserver-service: "},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--listen", "0.0.0.0:9090"}, "--listen: 0.0.0.0:9090 is not a loopback address and --tls-cert is not set"},
		{[]string{"--listen", ":9090"}, "--listen: :9090 is not a loopback address and --tls-cert is not set"},
		{[]string{"--listen", "10.0.0.1:9090"}, "--tls-cert is not set"},
		{[]string{"--listen", "recordsvc.example:9090"}, "--tls-cert is not set"},
		{[]string{"--tls-key", "k", "--tls-client-ca", "ca"}, "--tls-cert: needed"},
		{[]string{"--tls-cert", "c", "--tls-client-ca", "ca"}, "--tls-key: needed"},
		{[]string{"--tls-cert", "c", "--tls-key", "k"}, "--tls-client-ca: needed"},
		{[]string{"--authz-policy", "p"}, "--authz-policy: needs --tls-cert"},
		{[]string{"--max-connections", "-1"}, "--max-connections: must be >= 0"},
		{[]string{"--max-streams-per-connection", "0"}, "--max-streams-per-connection: must be >= 1"},
		{[]string{"--max-streams-per-connection", "99999999999"}, "--max-streams-per-connection: must be"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"-listen", "-kubeconfig", "-source", "-cluster-domain", "-ttl", "-pods", "-autopath",
		"-nameserver-service", "-metrics-listen", "-log-level", "-tls-cert", "-tls-key", "-tls-client-ca", "-authz-policy",
		"-max-connections", "-max-connections-per-ip", "-max-streams-per-connection", "-max-streams", "-max-streams-per-client"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("--help does not list %s", name)
		}
	}
}

// TestRunFileSource runs the whole service on the example cluster and asks
// it the question `make run` promises to answer, then, with --autopath, the
// first search name a pod of namespace demo sends for kubernetes.default.
func TestRunFileSource(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		req   *clusterdnsv1.LookupRequest
		want  []string
	}{
		{"defaults", nil,
			&clusterdnsv1.LookupRequest{Name: "kubernetes.default.svc.cluster.local.", Qtype: 1},
			[]string{"A 10.96.0.1"}},
		{"autopath", []string{"--pods", "verified", "--autopath"},
			&clusterdnsv1.LookupRequest{Name: "kubernetes.default.demo.svc.cluster.local.", Qtype: 1, ClientIp: "10.244.2.20"},
			[]string{"CNAME kubernetes.default.svc.cluster.local.", "A 10.96.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := lis.Addr().String()
			lis.Close()
			cfg, err := parseFlags(append([]string{"--listen", addr, "--lameduck", "0s",
				"--source", "file:" + filepath.Join("..", "deploy", "examples", "cluster.yaml")}, tt.flags...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ctx, client := startRun(t, cfg, addr, slog.New(slog.NewTextHandler(io.Discard, nil)))
			callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
			defer callCancel()
			resp, err := client.Lookup(callCtx, tt.req, grpc.WaitForReady(true))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rr := range resp.GetAnswer() {
				switch {
				case rr.GetA() != nil:
					got = append(got, "A "+rr.GetA().GetAddress())
				case rr.GetCname() != nil:
					got = append(got, "CNAME "+rr.GetCname().GetTarget())
				default:
					got = append(got, rr.String())
				}
			}
			if resp.GetResult() != clusterdnsv1.Result_RESULT_SUCCESS || strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Fatalf("%s: %v %v, want %v", tt.req.GetName(), resp.GetResult(), got, tt.want)
			}
		})
	}
}

func TestRunBadSource(t *testing.T) {
	cfg, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--source", "file:" + filepath.Join(t.TempDir(), "missing.yaml")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "--source: ") || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("run with a missing file: %v", err)
	}
}

// startRun runs the record service of cfg until the test ends, waiting for
// it to stop then, and returns the context it runs in and a plaintext
// client of its RecordService at addr.
func startRun(t *testing.T, cfg config, addr string, logger *slog.Logger) (context.Context, clusterdnsv1.RecordServiceClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logger) }()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("run did not stop")
		}
	})
	return ctx, clusterdnsv1.NewRecordServiceClient(conn)
}
