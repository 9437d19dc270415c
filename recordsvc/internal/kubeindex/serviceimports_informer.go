package kubeindex

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
)

// multiClusterGroup is the MCS API group; its ServiceImport is served as
// v1beta1 by current CRDs and as v1alpha1 by older ones.
const multiClusterGroup = "multicluster.x-k8s.io"

// serviceImportObject is what the ServiceImport informer stores.
type serviceImportObject struct {
	metav1.ObjectMeta
	Import ServiceImport
}

func (o *serviceImportObject) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (o *serviceImportObject) DeepCopyObject() runtime.Object {
	return &serviceImportObject{ObjectMeta: *o.ObjectMeta.DeepCopy(), Import: o.Import}
}

// transformServiceImport keeps the slim ServiceImport of an unstructured
// one.
func transformServiceImport(obj any) (any, error) {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		meta := metav1.ObjectMeta{Name: o.GetName(), Namespace: o.GetNamespace(), ResourceVersion: o.GetResourceVersion()}
		return &serviceImportObject{ObjectMeta: meta, Import: ServiceImportFromUnstructured(o)}, nil
	case *serviceImportObject:
		return o, nil
	default:
		return nil, fmt.Errorf("serviceimport transform: unexpected %T", obj)
	}
}

// ServiceImportFromUnstructured converts a ServiceImport into its slim
// form; addresses and ports the CRD schema would not have accepted are
// skipped.
func ServiceImportFromUnstructured(o *unstructured.Unstructured) ServiceImport {
	out := ServiceImport{Namespace: o.GetNamespace(), Name: o.GetName()}
	typ, _, _ := unstructured.NestedString(o.Object, "spec", "type")
	out.Headless = typ == "Headless"
	ips, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "ips")
	for _, text := range ips {
		if ip, ok := parseIP(text); ok && !out.Headless && !slices.Contains(out.IPs, ip) {
			out.IPs = append(out.IPs, ip)
		}
	}
	ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
	for _, p := range ports {
		m, ok := p.(map[string]any)
		if !ok {
			continue
		}
		number, _, _ := unstructured.NestedInt64(m, "port")
		if number <= 0 || number > 0xffff {
			continue
		}
		name, _, _ := unstructured.NestedString(m, "name")
		proto, _, _ := unstructured.NestedString(m, "protocol")
		app, _, _ := unstructured.NestedString(m, "appProtocol")
		out.Ports = append(out.Ports, Port{Name: name, Protocol: protocol(corev1.Protocol(proto)), Port: int32(number), AppProtocol: app})
	}
	return out
}

// serviceImportsResource finds the version of ServiceImport the API server
// serves: v1beta1, else v1alpha1; an error when neither is (the CRDs are
// not installed).
func serviceImportsResource(disc discovery.DiscoveryInterface) (schema.GroupVersionResource, error) {
	var lastErr error
	for _, version := range []string{"v1beta1", "v1alpha1"} {
		list, err := disc.ServerResourcesForGroupVersion(multiClusterGroup + "/" + version)
		if err != nil {
			lastErr = err
			continue
		}
		for _, r := range list.APIResources {
			if r.Name == "serviceimports" {
				return schema.GroupVersionResource{Group: multiClusterGroup, Version: version, Resource: "serviceimports"}, nil
			}
		}
	}
	return schema.GroupVersionResource{}, fmt.Errorf("the API server serves no serviceimports.%s (install the MCS API CRDs): %w", multiClusterGroup, lastErr)
}

// AddServiceImports adds an informer on the ServiceImports of every
// namespace through the dynamic client. Call it before Run.
func (in *Informers) AddServiceImports(client dynamic.Interface, disc discovery.DiscoveryInterface) error {
	gvr, err := serviceImportsResource(disc)
	if err != nil {
		return err
	}
	imports := client.Resource(gvr)
	return in.addInformer("ServiceImport", &unstructured.Unstructured{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return imports.List(ctx, o) },
		imports.Watch, transformServiceImport,
		func(obj any) {
			if o, ok := obj.(*serviceImportObject); ok {
				in.ix.SetServiceImport(o.Import)
				return
			}
			in.unexpected("ServiceImport", obj)
		},
		in.ix.DeleteServiceImport)
}
