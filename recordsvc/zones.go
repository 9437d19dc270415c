package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
	"github.com/clusterdns/clusterdns/recordsvc/internal/kubeindex"
)

// addNodeInformer watches Node metadata when zone-aware answers find a
// client's zone from its pod (--zone-aware with --pods verified): the pod
// names its node, the node's topology.kubernetes.io/zone label the zone.
func addNodeInformer(in *kubeindex.Informers, restCfg *rest.Config, cfg config) error {
	if !cfg.ZoneAware || cfg.Pods != dnsschema.PodsVerified {
		return nil
	}
	md, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes metadata client: %w", err)
	}
	if err := in.AddNodes(md); err != nil {
		return fmt.Errorf("--zone-aware: %w", err)
	}
	return nil
}

// multiclusterZone is the clusterset zone of the MCS API (KEP-1645): its
// DNS specification fixes the name, and frontends route it to the record
// service without being told (a record service without
// --multicluster-zone answers it as not its own, and the frontend asks its
// upstreams).
const multiclusterZone = "clusterset.local"

// registerMulticlusterFlag adds --multicluster-zone to fs.
func registerMulticlusterFlag(fs *flag.FlagSet) *string {
	return fs.String("multicluster-zone", "", "answer this `zone` from the MCS API's ServiceImports and their EndpointSlices\n"+
		"(KEP-1645 multicluster DNS). The MCS API fixes it to "+multiclusterZone+", the only value taken; it needs\n"+
		"the ServiceImport CRD and an API server (not --source). Default: off")
}

// checkMulticluster sets cfg.MulticlusterZone from the flag's value,
// checked against the other flags: the clusterset zone is watched, so it
// needs an API server. A visibility policy applies to it as to the cluster
// zone (visibility.Store hides a hidden namespace's ServiceImports too).
func checkMulticluster(cfg *config, zone, source string) error {
	if zone == "" {
		return nil
	}
	if strings.TrimSuffix(strings.ToLower(zone), ".") != multiclusterZone {
		return fmt.Errorf("--multicluster-zone: %q: the MCS API's clusterset zone is %s", zone, multiclusterZone)
	}
	if source != "" {
		return errors.New("--multicluster-zone: needs an API server to watch ServiceImports, not --source")
	}
	if _, err := dnsschema.New(dnsschema.Config{Zone: cfg.ClusterDomain}); err == nil {
		if _, err := dnsschema.New(dnsschema.Config{Zone: cfg.ClusterDomain, MulticlusterZone: zone}); err != nil {
			return fmt.Errorf("--multicluster-zone: %w", err)
		}
	}
	cfg.MulticlusterZone = multiclusterZone
	return nil
}

// addServiceImportInformer watches ServiceImports when the clusterset zone
// is on; it fails when the API server serves no ServiceImport (the CRD is
// not installed), rather than answer an empty zone.
func addServiceImportInformer(in *kubeindex.Informers, restCfg *rest.Config, cfg config) error {
	if cfg.MulticlusterZone == "" {
		return nil
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes discovery client: %w", err)
	}
	if err := in.AddServiceImports(dyn, disc); err != nil {
		return fmt.Errorf("--multicluster-zone: %w", err)
	}
	return nil
}
