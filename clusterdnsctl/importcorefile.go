package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// inputError is an input file that cannot be read or parsed: exit code 2,
// as a bad argument, without the usage hint.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// errNotCarried is --strict refusing an import that leaves something out.
var errNotCarried = errors.New("not everything can be carried over")

// importOptions are import-corefile's own flags.
type importOptions struct {
	outputFile string
	kubeDNS    string
	strict     bool
}

func importCorefileCommand() command {
	return command{
		path:    []string{"import-corefile"},
		args:    "[FILE]",
		summary: "write the frontend configuration equivalent to a CoreDNS Corefile",
		help: `Reads a CoreDNS Corefile (FILE, - for stdin; or a ConfigMap holding one in data.Corefile, as
kubectl -n kube-system get configmap coredns -o yaml prints it) and writes the equivalent clusterdns
frontend configuration file (the YAML the frontend's --config reads) to stdout or --output-file.

Every directive and option is accounted for on stderr, one line each, FILE:LINE: WHAT: then
"built in" (the frontend or deploy/ does it without configuration: errors, health, ready,
prometheus :9153, loop, reload, loadbalance, the kubernetes plugin's defaults) or "not carried
over" and why: a record service or frontend flag to set instead (kubernetes pods verified ->
recordsvc --pods verified, autopath @kubernetes -> recordsvc --autopath), or no equivalent.

Mapped: forward . /etc/resolv.conf (the default: no upstreams), forward . ADDRESSES (upstreams,
dns:// and tls:// with tls_servername, policy, force_tcp), forward in other server blocks (stub
domains), hosts (inline entries and its file when it can be read here, ttl, fallthrough),
rewrite name [exact|prefix|suffix|substring|regex] FROM TO (CoreDNS's {1} becomes $1), cache TTL,
success/denial TTLs and serve_stale (cache caps), kubernetes's zone (clusterDomain), file (the
zone file, read here, becomes a static zone). Relative paths start at FILE's directory; a
file whose name is a key of the ConfigMap's data is read from there. Environment
substitution, import and snippets are refused.

--kube-dns-configmap reads the old kube-dns ConfigMap (YAML or JSON) instead of or beside a
Corefile: data.upstreamNameservers become upstreams, data.stubDomains stub domains.

  clusterdnsctl import-corefile Corefile --output-file frontend.yaml
  kubectl -n kube-system get configmap coredns -o yaml | clusterdnsctl import-corefile - --strict
  clusterdnsctl import-corefile --kube-dns-configmap kube-dns.yaml`,
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			var o importOptions
			fs.StringVar(&o.outputFile, "output-file", "", "write the configuration to `file` instead of stdout")
			fs.StringVar(&o.kubeDNS, "kube-dns-configmap", "", "the kube-dns ConfigMap `file` (stubDomains, upstreamNameservers)")
			fs.BoolVar(&o.strict, "strict", false, "exit 1 and write nothing when anything is not carried over")
			return func(ctx context.Context, e *env, args []string) error { return runImport(e, args, o) }
		},
	}
}

func runImport(e *env, args []string, o importOptions) error {
	if err := wantArgs(args, 0, 1, "[FILE]"); err != nil {
		return err
	}
	if len(args) == 0 && o.kubeDNS == "" {
		return usageError{errors.New("want a Corefile (FILE, - for stdin) or --kube-dns-configmap FILE")}
	}
	im := &importer{readFile: os.ReadFile}
	if len(args) == 1 {
		if err := im.importCorefileFile(args[0], os.Stdin); err != nil {
			return err
		}
	}
	if o.kubeDNS != "" {
		data, err := os.ReadFile(o.kubeDNS)
		if err != nil {
			return inputError{fmt.Errorf("--kube-dns-configmap: %w", err)}
		}
		if err := im.kubeDNSConfigMap(o.kubeDNS, data); err != nil {
			return inputError{err}
		}
	}
	out, err := dnsconfig.Marshal(&im.out)
	if err != nil {
		return fmt.Errorf("the imported configuration is not valid: %w", err)
	}
	// In the order of the input, whatever order they were made in.
	fileOrder := map[string]int{}
	for _, n := range im.notes {
		if _, ok := fileOrder[n.file]; !ok {
			fileOrder[n.file] = len(fileOrder)
		}
	}
	slices.SortStableFunc(im.notes, func(a, b note) int {
		return cmp.Or(cmp.Compare(fileOrder[a.file], fileOrder[b.file]), cmp.Compare(a.line, b.line))
	})
	notCarried := 0
	for _, n := range im.notes {
		fmt.Fprintln(e.stderr, n)
		if !n.builtIn {
			notCarried++
		}
	}
	if notCarried > 0 {
		fmt.Fprintf(e.stderr, "%d directive(s) or option(s) not carried over\n", notCarried)
	}
	if o.strict && notCarried > 0 {
		return fmt.Errorf("--strict: nothing written: %w", errNotCarried)
	}
	if o.outputFile == "" {
		_, err := e.stdout.Write(out)
		return err
	}
	return writeFileAtomic(o.outputFile, out)
}

// importCorefileFile reads name ("-": stdin) as a Corefile, or as a
// ConfigMap that holds one, and maps it.
func (im *importer) importCorefileFile(name string, stdin io.Reader) error {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
		im.file, im.dir = "stdin", "."
	} else {
		data, err = os.ReadFile(name)
		im.file, im.dir = name, filepath.Dir(name)
	}
	if err != nil {
		return inputError{err}
	}
	text := string(data)
	if cm, ok := asConfigMap(data); ok {
		corefile, found := cm.Data["Corefile"]
		if !found {
			return inputError{fmt.Errorf("%s: a ConfigMap without data.Corefile", im.file)}
		}
		text, im.data = corefile, cm.Data
		im.file += " (data.Corefile)"
	}
	cf, err := parseCorefile(im.file, text)
	if err != nil {
		return inputError{err}
	}
	if err := im.run(cf); err != nil {
		return inputError{err}
	}
	return nil
}

// configMap is the part of a Kubernetes ConfigMap the importer reads.
type configMap struct {
	Kind string            `json:"kind"`
	Data map[string]string `json:"data"`
}

// asConfigMap reads data as a ConfigMap in YAML or JSON. A Corefile is not
// one: it does not parse as a YAML mapping with kind ConfigMap.
func asConfigMap(data []byte) (configMap, bool) {
	var cm configMap
	if err := yaml.Unmarshal(data, &cm); err != nil || cm.Kind != "ConfigMap" {
		return configMap{}, false
	}
	return cm, true
}

// writeFileAtomic replaces name with data, so that a frontend reloading
// the file never reads half of it.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("--output-file: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("--output-file: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("--output-file: %w", err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("--output-file: %w", err)
	}
	return nil
}

// trimDot is a zone as the configuration file writes it.
func trimDot(zone string) string {
	if zone == "." {
		return zone
	}
	return strings.TrimSuffix(zone, ".")
}
