package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
)

// kubeDNSConfigMap maps the kube-dns ConfigMap (kube-system/kube-dns):
// data.upstreamNameservers, a JSON list of addresses, become the upstreams
// and data.stubDomains, a JSON object of zone to addresses, stub domains.
// A Corefile's own upstreams and stub domains come first.
func (im *importer) kubeDNSConfigMap(name string, data []byte) error {
	cm, ok := asConfigMap(data)
	if !ok {
		return fmt.Errorf("--kube-dns-configmap %s: not a ConfigMap (want kind: ConfigMap, YAML or JSON)", name)
	}
	at := func(key, what string, builtIn bool, why string) {
		im.notes = append(im.notes, note{file: name, what: "data." + key + what, builtIn: builtIn, why: why})
	}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		value := cm.Data[key]
		switch key {
		case "upstreamNameservers":
			var list []string
			if err := json.Unmarshal([]byte(value), &list); err != nil {
				return fmt.Errorf("%s: data.upstreamNameservers: want a JSON list of addresses: %w", name, err)
			}
			servers, err := kubeDNSServers(list)
			if err != nil {
				return fmt.Errorf("%s: data.upstreamNameservers: %w", name, err)
			}
			switch {
			case len(servers) == 0:
			case im.out.Upstreams != nil:
				at(key, "", false, "the Corefile already sets the upstreams")
			default:
				im.out.Upstreams = &dnsconfig.Upstreams{Servers: servers}
			}
		case "stubDomains":
			var stubs map[string][]string
			if err := json.Unmarshal([]byte(value), &stubs); err != nil {
				return fmt.Errorf("%s: data.stubDomains: want a JSON object of zone to addresses: %w", name, err)
			}
			zones := make([]string, 0, len(stubs))
			for z := range stubs {
				zones = append(zones, z)
			}
			slices.Sort(zones)
			for _, z := range zones {
				zone, err := normalizeZone(z)
				if err != nil {
					return fmt.Errorf("%s: data.stubDomains: %w", name, err)
				}
				servers, err := kubeDNSServers(stubs[z])
				if err != nil {
					return fmt.Errorf("%s: data.stubDomains[%s]: %w", name, z, err)
				}
				if im.hasStub(zone) {
					at(key, "["+z+"]", false, "the Corefile already sets this stub domain")
					continue
				}
				if len(servers) > 0 {
					im.out.StubDomains = append(im.out.StubDomains, dnsconfig.StubDomain{Zone: trimDot(zone), Servers: servers})
				}
			}
		case "federations":
			at(key, "", false, "Kubernetes federation names have no equivalent (kube-dns's federation support is gone)")
		default:
			at(key, "", false, "not a kube-dns setting")
		}
	}
	return nil
}

// kubeDNSServers reads kube-dns's nameserver list: IP or IP:PORT.
func kubeDNSServers(list []string) ([]dnsconfig.Server, error) {
	var servers []dnsconfig.Server
	for _, s := range list {
		s = strings.TrimSpace(s)
		addr := s
		if a, err := netip.ParseAddr(s); err == nil {
			addr = netip.AddrPortFrom(a, 53).String()
		} else if _, err := netip.ParseAddrPort(s); err != nil {
			return nil, fmt.Errorf("%q: want IP or IP:PORT", s)
		}
		servers = append(servers, dnsconfig.Server{Address: addr})
	}
	return servers, nil
}
