package grpcresolver

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/resolver"
)

// Scheme is the URI scheme of the targets this package resolves.
const Scheme = "clusterdns"

// targetForm is how a target must look, quoted in parse errors.
const targetForm = "clusterdns:///<service>.<namespace>:<port>"

// target is a parsed clusterdns target: a Service and one of its ports.
type target struct {
	namespace, name string
	// portName is set when the port was given by name.
	portName string
	// portNumber is set when the port was given by number.
	portNumber uint32
}

func (t target) String() string {
	return t.name + "." + t.namespace + ":" + t.port()
}

// port is the port as the target gave it.
func (t target) port() string {
	if t.portName != "" {
		return t.portName
	}
	return strconv.FormatUint(uint64(t.portNumber), 10)
}

// parseTarget reads the Service and port of a clusterdns target. Names are
// folded to lower case, the only case Kubernetes allows.
func parseTarget(rt resolver.Target) (target, error) {
	raw := rt.String()
	if rt.URL.Host != "" {
		return target{}, fmt.Errorf("clusterdns target %q: authority %q is not supported (the record service is set by WithRecordService): want %s", raw, rt.URL.Host, targetForm)
	}
	if rt.URL.RawQuery != "" || rt.URL.Fragment != "" {
		return target{}, fmt.Errorf("clusterdns target %q: no query or fragment allowed: want %s", raw, targetForm)
	}
	endpoint := strings.ToLower(rt.Endpoint())
	host, port, ok := strings.Cut(endpoint, ":")
	if !ok || port == "" {
		return target{}, fmt.Errorf("clusterdns target %q: no port: want %s", raw, targetForm)
	}
	name, namespace, ok := strings.Cut(host, ".")
	if !ok || strings.Contains(namespace, ".") {
		return target{}, fmt.Errorf("clusterdns target %q: host %q is not <service>.<namespace>: want %s", raw, host, targetForm)
	}
	if !isLabel(name) {
		return target{}, fmt.Errorf("clusterdns target %q: service %q is not a Kubernetes Service name", raw, name)
	}
	if !isLabel(namespace) {
		return target{}, fmt.Errorf("clusterdns target %q: namespace %q is not a Kubernetes namespace name", raw, namespace)
	}
	t := target{namespace: namespace, name: name}
	if port[0] >= '0' && port[0] <= '9' {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return target{}, fmt.Errorf("clusterdns target %q: port %q is not a number from 1 to 65535", raw, port)
		}
		t.portNumber = uint32(n)
		return t, nil
	}
	if !isLabel(port) {
		return target{}, fmt.Errorf("clusterdns target %q: port %q is neither a number nor a Service port name", raw, port)
	}
	t.portName = port
	return t, nil
}

// isLabel accepts a lower-case RFC 1123 label: the form of namespace,
// Service and Service port names.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
