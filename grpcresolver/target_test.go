package grpcresolver

import (
	"crypto/tls"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		target  string
		want    target
		wantErr string
	}{
		{target: "clusterdns:///echo.demo:grpc", want: target{namespace: "demo", name: "echo", portName: "grpc"}},
		{target: "clusterdns:///echo.demo:8080", want: target{namespace: "demo", name: "echo", portNumber: 8080}},
		{target: "clusterdns:///Echo.DEMO:GRPC", want: target{namespace: "demo", name: "echo", portName: "grpc"}},
		{target: "clusterdns:echo.demo:h2c-1", want: target{namespace: "demo", name: "echo", portName: "h2c-1"}},
		{target: "clusterdns:///echo.demo", wantErr: "no port"},
		{target: "clusterdns:///echo.demo:", wantErr: "no port"},
		{target: "clusterdns:///echo:80", wantErr: "not <service>.<namespace>"},
		{target: "clusterdns:///echo.demo.svc:80", wantErr: "not <service>.<namespace>"},
		{target: "clusterdns:///-echo.demo:80", wantErr: `service "-echo"`},
		{target: "clusterdns:///echo.de_mo:80", wantErr: `namespace "de_mo"`},
		{target: "clusterdns:///echo.demo:0", wantErr: "not a number from 1 to 65535"},
		{target: "clusterdns:///echo.demo:65536", wantErr: "not a number from 1 to 65535"},
		{target: "clusterdns:///echo.demo:8o", wantErr: "not a number from 1 to 65535"},
		{target: "clusterdns:///echo.demo:grpc_web", wantErr: "neither a number nor a Service port name"},
		{target: "clusterdns://10.0.0.1:9090/echo.demo:80", wantErr: "authority"},
		{target: "clusterdns:///echo.demo:80?x=1", wantErr: "no query"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			u, err := url.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseTarget(resolver.Target{URL: *u})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseTarget(%q) = %+v, %v; want error with %q", tt.target, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.target) && !strings.Contains(err.Error(), "clusterdns target") {
					t.Errorf("error %q does not name the target", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseTarget(%q) = %+v, %v; want %+v", tt.target, got, err, tt.want)
			}
		})
	}
}

func TestNewBuilderOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr string
	}{
		{name: "default loopback"},
		{name: "loopback list", opts: []Option{WithRecordService("127.0.0.1:9090, [::1]:9090,localhost:9091")}},
		{name: "loopback dns target", opts: []Option{WithRecordService("dns:///localhost:9090")}},
		{name: "remote without credentials", opts: []Option{WithRecordService("10.96.0.11:9090")}, wantErr: "transport credentials are required"},
		{name: "list with a remote replica", opts: []Option{WithRecordService("127.0.0.1:9090,10.0.0.2:9090")}, wantErr: "transport credentials are required"},
		{name: "remote dns target", opts: []Option{WithRecordService("dns:///recordsvc.kube-system.svc:9090")}, wantErr: "transport credentials are required"},
		{name: "empty", opts: []Option{WithRecordService(" ")}, wantErr: "empty"},
		{name: "no port", opts: []Option{WithRecordService("127.0.0.1")}, wantErr: "missing port"},
		{name: "bad port", opts: []Option{WithRecordService("127.0.0.1:0")}, wantErr: "not a number from 1 to 65535"},
		{name: "empty host", opts: []Option{WithRecordService(":9090")}, wantErr: "host is empty"},
		{name: "duplicate replica", opts: []Option{WithRecordService("127.0.0.1:1,127.0.0.1:1")}, wantErr: "listed twice"},
		{name: "uri without endpoint", opts: []Option{WithRecordService("dns:///")}, wantErr: "want SCHEME:///NAME:PORT"},
		{name: "own scheme", opts: []Option{WithRecordService("clusterdns:///recordsvc.kube-system:grpc")}, wantErr: "cannot itself be resolved"},
		{name: "bad backoff", opts: []Option{WithBackoff(0, time.Second)}, wantErr: "backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBuilder(tt.opts...)
			if tt.wantErr == "" {
				if err != nil || b.Scheme() != Scheme {
					t.Fatalf("NewBuilder: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewBuilder: %v; want error with %q", err, tt.wantErr)
			}
		})
	}
}

// TestDialTLSAuthority: the connection to a HOST:PORT record service can
// be created whether or not the TLS credentials name the server (grpc-go
// refuses an authority option that differs from the credentials' name).
func TestDialTLSAuthority(t *testing.T) {
	for _, serverName := range []string{"", "clusterdns-recordsvc.kube-system.svc"} {
		t.Run("server name "+strconv.Quote(serverName), func(t *testing.T) {
			b, err := NewBuilder(WithRecordService("10.96.0.11:9090,10.96.0.12:9090"),
				WithTransportCredentials(credentials.NewTLS(&tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS13})))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := b.dial()
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			conn.Close()
		})
	}
}
