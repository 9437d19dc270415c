package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Zone is a zone an NSD instance serves from a zone file.
type Zone struct {
	// Origin is the zone name with the final dot.
	Origin string
	// Content is the zone file text (see ZoneFile).
	Content string
}

// nsdReadyTimeout bounds NSD's start, zone loading included.
const nsdReadyTimeout = 2 * time.Minute

// nsdConfig renders an nsd.conf that serves zones from dir on addr (UDP and
// TCP) with one server process, running as the current user without chroot,
// and without response rate limiting (on by default in Debian's build; it
// would drop most of a benchmark's queries).
func nsdConfig(dir, addr string, zones []Zone) string {
	host, port := strings.Split(addr, ":")[0], splitPort(addr)
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  ip-address: %s@%s
  server-count: 1
  reuseport: no
  username: ""
  chroot: ""
  zonesdir: %q
  database: ""
  zonelistfile: %q
  xfrdfile: %q
  pidfile: %q
  logfile: %q
  verbosity: 1
  hide-version: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
`, host, port, dir, filepath.Join(dir, "zone.list"), filepath.Join(dir, "xfrd.state"),
		filepath.Join(dir, "nsd.pid"), filepath.Join(dir, "nsd.log"))
	for _, z := range zones {
		fmt.Fprintf(&b, "zone:\n  name: %q\n  zonefile: %q\n", z.Origin, zoneFileName(dir, z.Origin))
	}
	return b.String()
}

// zoneFileName is where the zone file of origin lives in dir.
func zoneFileName(dir, origin string) string {
	return filepath.Join(dir, strings.TrimSuffix(origin, ".")+".zone")
}

// StartNSD writes the configuration and zone files of an NSD instance into
// dir, starts `nsd -d` pinned to cpu on a free loopback port, and returns
// once it answers the SOA of the first zone.
func StartNSD(ctx context.Context, name, dir string, cpu int, zones []Zone) (*Process, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	for _, z := range zones {
		if err := os.WriteFile(zoneFileName(dir, z.Origin), []byte(z.Content), 0o644); err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
	}
	addr, err := freeDNSAddr()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	conf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(conf, []byte(nsdConfig(dir, addr, zones)), 0o644); err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	p, err := StartProcess(name, filepath.Join(dir, "stdout.log"), cpu, "nsd", "-d", "-c", conf)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, nsdReadyTimeout)
	defer cancel()
	if _, err := p.WaitReady(ctx, DNSRcode(addr, zones[0].Origin, dns.TypeSOA, dns.RcodeSuccess)); err != nil {
		p.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
		return nil, "", fmt.Errorf("%w\nnsd.log:\n%s", err, lastLines(string(log), logTailLines))
	}
	return p, addr, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
