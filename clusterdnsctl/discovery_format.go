package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	clusterdnsv1 "github.com/clusterdns/clusterdns/proto/clusterdns/v1"
)

// serviceTypeName is a Service type as Kubernetes spells it.
func serviceTypeName(t clusterdnsv1.ServiceType) string {
	switch t {
	case clusterdnsv1.ServiceType_SERVICE_TYPE_CLUSTER_IP:
		return "ClusterIP"
	case clusterdnsv1.ServiceType_SERVICE_TYPE_NODE_PORT:
		return "NodePort"
	case clusterdnsv1.ServiceType_SERVICE_TYPE_LOAD_BALANCER:
		return "LoadBalancer"
	case clusterdnsv1.ServiceType_SERVICE_TYPE_EXTERNAL_NAME:
		return "ExternalName"
	}
	return t.String()
}

// protocolName is a port protocol as Kubernetes spells it.
func protocolName(p clusterdnsv1.Protocol) string {
	if p == clusterdnsv1.Protocol_PROTOCOL_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(p.String(), "PROTOCOL_")
}

// portsSummary is ports in kubectl's short form: 443/TCP,53/UDP, with the
// name in front when there is one (https:443/TCP).
func portsSummary(ports []*clusterdnsv1.Port) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%d/%s", p.GetPort(), protocolName(p.GetProtocol()))
		if p.GetName() != "" {
			parts[i] = p.GetName() + ":" + parts[i]
		}
	}
	return strings.Join(parts, ",")
}

// clusterIPs is what the CLUSTER-IPS column shows: the addresses, None for
// a headless Service, the target of an ExternalName.
func clusterIPs(s *clusterdnsv1.Service) string {
	switch {
	case s.GetHeadless():
		return "None"
	case s.GetExternalName() != "":
		return "-> " + s.GetExternalName()
	}
	return strings.Join(s.GetClusterIps(), ",")
}

// writeServiceState prints one Service: its spec as "key: value" lines,
// its ports and its endpoints as tables.
func writeServiceState(w io.Writer, st *clusterdnsv1.ServiceState, revision uint64, serverID string) error {
	ref := st.GetRef().GetNamespace() + "/" + st.GetRef().GetName()
	fmt.Fprintf(w, "Service:      %s\n", ref)
	if !st.GetExists() {
		_, err := fmt.Fprintf(w, "Exists:       no\nRevision:     %d (server %s)\n", revision, serverID)
		return err
	}
	svc := st.GetService()
	typ := serviceTypeName(svc.GetType())
	if svc.GetHeadless() {
		typ += " (headless)"
	}
	fmt.Fprintf(w, "Type:         %s\n", typ)
	if svc.GetExternalName() != "" {
		fmt.Fprintf(w, "ExternalName: %s\n", svc.GetExternalName())
	}
	fmt.Fprintf(w, "Cluster IPs:  %s\n", orNone(strings.Join(svc.GetClusterIps(), ", ")))
	fmt.Fprintf(w, "Revision:     %d (server %s)\n", revision, serverID)
	fmt.Fprintf(w, "\nPorts:\n")
	pt := newTable(w, "  NAME", "PROTOCOL", "PORT", "APP PROTOCOL")
	for _, p := range svc.GetPorts() {
		pt.row("  "+orNone(p.GetName()), protocolName(p.GetProtocol()), strconv.FormatUint(uint64(p.GetPort()), 10), p.GetAppProtocol())
	}
	if err := pt.flush(); err != nil {
		return err
	}
	ready := 0
	for _, ep := range st.GetEndpoints() {
		if ep.GetReady() {
			ready++
		}
	}
	fmt.Fprintf(w, "\nEndpoints: %d (%d ready)\n", len(st.GetEndpoints()), ready)
	if len(st.GetEndpoints()) == 0 {
		return nil
	}
	return writeEndpoints(w, st.GetEndpoints())
}

// writeEndpoints is the endpoint table of a Service.
func writeEndpoints(w io.Writer, eps []*clusterdnsv1.Endpoint) error {
	t := newTable(w, "  ADDRESSES", "READY", "SERVING", "TERMINATING", "HOSTNAME", "NODE", "ZONE", "TARGET", "PORTS")
	for _, ep := range eps {
		target := ""
		if tr := ep.GetTargetRef(); tr != nil {
			target = tr.GetKind() + "/" + tr.GetName()
			if tr.GetNamespace() != "" {
				target = tr.GetKind() + "/" + tr.GetNamespace() + "/" + tr.GetName()
			}
		}
		t.row("  "+strings.Join(ep.GetAddresses(), ","), strconv.FormatBool(ep.GetReady()), strconv.FormatBool(ep.GetServing()),
			strconv.FormatBool(ep.GetTerminating()), ep.GetHostname(), ep.GetNodeName(), ep.GetZone(), target,
			portsSummary(ep.GetPorts()))
	}
	return t.flush()
}

// writeServiceList is the table of list services.
func writeServiceList(w io.Writer, services []*clusterdnsv1.Service) error {
	t := newTable(w, "NAMESPACE", "NAME", "TYPE", "CLUSTER-IPS", "PORTS")
	for _, s := range services {
		t.row(s.GetNamespace(), s.GetName(), serviceTypeName(s.GetType()), clusterIPs(s), portsSummary(s.GetPorts()))
	}
	return t.flush()
}

// orNone returns s, or "<none>" when it is empty, as kubectl describe does.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
