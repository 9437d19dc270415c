package recordsvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clusterdns/clusterdns/internal/mtls"
	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
	"github.com/clusterdns/clusterdns/test/childproc"
	"github.com/clusterdns/clusterdns/test/stack"
)

// serverName is the name the test server certificate is issued for.
const serverName = "clusterdns-recordsvc.kube-system.svc"

// pki is a CA and the files of the server and of each client identity.
type pki struct {
	// plain makes clients connect without TLS (to an older binary).
	plain   bool
	dir     string
	ca      mtls.KeyPair
	server  mtls.Files
	clients map[string]mtls.Files
}

// newPKI issues a CA, a server certificate and one client certificate per
// identity into a new directory.
func newPKI(t *testing.T, identities ...string) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), clients: map[string]mtls.Files{}}
	now := time.Now()
	var err error
	if p.ca, err = mtls.NewCA("test CA", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	p.server = p.issue(t, "server", mtls.CertSpec{Identity: "recordsvc", DNSNames: []string{serverName},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true, Lifetime: time.Hour})
	for _, id := range identities {
		p.clients[id] = p.issue(t, "client-"+id, mtls.CertSpec{Identity: id, Client: true, Lifetime: time.Hour})
	}
	return p
}

// issue writes a certificate of spec, its key and the CA to files named
// after name.
func (p *pki) issue(t *testing.T, name string, spec mtls.CertSpec) mtls.Files {
	t.Helper()
	kp, err := mtls.Issue(p.ca, spec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := mtls.Files{Cert: filepath.Join(p.dir, name+".crt"), Key: filepath.Join(p.dir, name+".key"), CA: filepath.Join(p.dir, name+"-ca.crt")}
	writeAtomic(t, f.Key, kp.KeyPEM)
	writeAtomic(t, f.Cert, kp.CertPEM)
	writeAtomic(t, f.CA, p.ca.CertPEM)
	return f
}

// serverArgs are the TLS flags of the record service.
func (p *pki) serverArgs() []string {
	return []string{"--tls-cert", p.server.Cert, "--tls-key", p.server.Key, "--tls-client-ca", p.server.CA}
}

// writeAtomic replaces path by a rename, as a Secret volume update does.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// recordsvc is a running record service.
type recordsvc struct {
	proc    *childproc.Process
	addr    string
	metrics string
}

var listeningRE = regexp.MustCompile(`msg="record service listening" listen=(\S+)`)

// startRecordsvc runs the record service on a free loopback port with a
// metrics listener and args, and waits for its "listening" log line.
func startRecordsvc(t *testing.T, args ...string) *recordsvc {
	t.Helper()
	return startRecordsvcBinary(t, stack.Installed(t).RecordService, args...)
}

// startRecordsvcBinary is startRecordsvc for the record service binary bin.
func startRecordsvcBinary(t *testing.T, bin string, args ...string) *recordsvc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "recordsvc.log")
	metricsAddr := freeAddr(t)
	argv := append([]string{bin, "--listen", "127.0.0.1:0", "--metrics-listen", metricsAddr}, args...)
	proc, err := childproc.Start("recordsvc", logPath, argv...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proc.Stop(15 * time.Second)
		if t.Failed() {
			t.Logf("recordsvc log:\n%s", proc.LogTail(60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(readFile(logPath)); m != nil {
			return &recordsvc{proc: proc, addr: m[1], metrics: metricsAddr}
		}
		if !proc.Running() {
			t.Fatalf("recordsvc exited before listening: %v\n%s", proc.ExitError(), proc.LogTail(40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("recordsvc not listening after 60s:\n%s", proc.LogTail(40))
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// freeAddr returns a loopback TCP address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dialOpts configures a test client connection.
type dialOpts struct {
	files mtls.Files // empty Cert: no client certificate (CA still used when set)
	plain bool       // no TLS at all
	from  string     // local IP to connect from (127.0.0.0/8), default any
}

// dial returns a client of addr. It connects lazily; errors show on calls.
func dial(t *testing.T, addr string, o dialOpts) (clusterdnsv1.RecordServiceClient, *grpc.ClientConn) {
	t.Helper()
	opts := []grpc.DialOption{}
	switch {
	case o.plain:
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	case o.files.Cert == "":
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(readFile(o.files.CA)))
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			MinVersion: tls.VersionTLS13, ServerName: serverName, RootCAs: roots})))
	default:
		cfg, err := mtls.ClientConfig(context.Background(), o.files, serverName, nil)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	if o.from != "" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(o.from)}}
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", a)
		}))
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return clusterdnsv1.NewRecordServiceClient(cc), cc
}

// lookup asks one question with a deadline.
func lookup(c clusterdnsv1.RecordServiceClient, name string, qtype uint32, clientIP string) (*clusterdnsv1.LookupResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return c.Lookup(ctx, &clusterdnsv1.LookupRequest{Name: name, Qtype: qtype, ClientIp: clientIP})
}

// rssBytes is the resident set size of pid (VmRSS of /proc/PID/status).
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// clusterYAML is deploy/examples/cluster.yaml plus extra documents.
func clusterYAML(t *testing.T, extra ...string) []byte {
	t.Helper()
	base, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(base)
	for _, e := range extra {
		out += "\n---\n" + e
	}
	return []byte(out)
}

// service is a ClusterIP Service document.
func service(ns, name, ip string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  type: ClusterIP
  clusterIP: %s
  clusterIPs: [%s]
  ports:
  - name: http
    port: 80
    protocol: TCP
`, name, ns, ip, ip)
}
