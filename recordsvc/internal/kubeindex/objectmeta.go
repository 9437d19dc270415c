package kubeindex

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectMeta is the metadata the slim objects of the Service, EndpointSlice,
// Namespace and Pod informers keep: the store key's parts, the
// resourceVersion a relist compares, and an EndpointSlice's trigger-time
// annotation. It is 64 bytes where metav1.ObjectMeta is 232, which made the
// metadata the larger part of a stored slim Service or EndpointSlice (about
// 3.5 MB of the record service's heap at 10,000 of each).
//
// It satisfies metav1.Object, as client-go reads stored objects through
// meta.Accessor: the getters of what it does not keep return zero values
// and their setters drop what they are given.
type objectMeta struct {
	Name, Namespace, ResourceVersion string
	// trigger is the endpoints.kubernetes.io/last-change-trigger-time
	// annotation, empty when unset (and on kinds other than EndpointSlice).
	trigger string
}

func slimObjectMeta(m metav1.ObjectMeta) objectMeta {
	return objectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion}
}

var _ metav1.Object = &objectMeta{}

// slimMeta returns the metadata kept.
func (m *objectMeta) slimMeta() objectMeta { return *m }

func (m *objectMeta) GetNamespace() string                          { return m.Namespace }
func (m *objectMeta) SetNamespace(namespace string)                 { m.Namespace = namespace }
func (m *objectMeta) GetName() string                               { return m.Name }
func (m *objectMeta) SetName(name string)                           { m.Name = name }
func (m *objectMeta) GetResourceVersion() string                    { return m.ResourceVersion }
func (m *objectMeta) SetResourceVersion(version string)             { m.ResourceVersion = version }
func (m *objectMeta) GetGenerateName() string                       { return "" }
func (m *objectMeta) SetGenerateName(string)                        {}
func (m *objectMeta) GetUID() types.UID                             { return "" }
func (m *objectMeta) SetUID(types.UID)                              {}
func (m *objectMeta) GetGeneration() int64                          { return 0 }
func (m *objectMeta) SetGeneration(int64)                           {}
func (m *objectMeta) GetSelfLink() string                           { return "" }
func (m *objectMeta) SetSelfLink(string)                            {}
func (m *objectMeta) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (m *objectMeta) SetCreationTimestamp(metav1.Time)              {}
func (m *objectMeta) GetDeletionTimestamp() *metav1.Time            { return nil }
func (m *objectMeta) SetDeletionTimestamp(*metav1.Time)             {}
func (m *objectMeta) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *objectMeta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *objectMeta) GetLabels() map[string]string                  { return nil }
func (m *objectMeta) SetLabels(map[string]string)                   {}
func (m *objectMeta) GetFinalizers() []string                       { return nil }
func (m *objectMeta) SetFinalizers([]string)                        {}
func (m *objectMeta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *objectMeta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *objectMeta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *objectMeta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// GetAnnotations returns the one annotation kept, the trigger time.
func (m *objectMeta) GetAnnotations() map[string]string {
	if m.trigger == "" {
		return nil
	}
	return map[string]string{triggerTimeAnnotation: m.trigger}
}

// SetAnnotations keeps the trigger time of annotations, if any.
func (m *objectMeta) SetAnnotations(annotations map[string]string) {
	m.trigger = annotations[triggerTimeAnnotation]
}
