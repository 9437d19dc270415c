package main

import (
	"fmt"

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
