package kubeindex

import (
	"encoding/binary"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// A relist (after the API server restarts, or a watch expires) lists every
// object again while the informer's store still holds the slim copy of each.
// Decoding and transforming all of them again made a relist cost more memory
// than a cold start: the new slim objects lived beside the stored ones until
// the reflector's Replace, and the decoding garbage came on top. Most listed
// objects have not changed since they were stored, and an object's
// resourceVersion says so (client-go compares it in the same way to tell a
// relist's update from a sync), so the list reads only the metadata of each
// encoded object and, when the store holds the same key at the same
// resourceVersion, hands the reflector the stored slim object instead.

// storedObjects gives a list the store of the informer it feeds; set is
// called before the informer runs.
type storedObjects struct {
	store cache.Store
}

func (s *storedObjects) set(store cache.Store) { s.store = store }

// unchanged returns the stored slim object for the encoded API object item
// when the store holds the object under the same key at the same
// resourceVersion.
func (s *storedObjects) unchanged(item []byte) (runtime.Object, bool) {
	if s == nil || s.store == nil {
		return nil, false
	}
	namespace, name, rv, ok := encodedMeta(item)
	if !ok || len(name) == 0 || len(rv) == 0 {
		return nil, false
	}
	key := string(name)
	if len(namespace) > 0 {
		key = string(namespace) + "/" + key // cache.MetaNamespaceKeyFunc's key
	}
	obj, exists, err := s.store.GetByKey(key)
	if err != nil || !exists {
		return nil, false
	}
	stored, ok := obj.(interface {
		runtime.Object
		GetResourceVersion() string
	})
	if !ok || stored.GetResourceVersion() != string(rv) {
		return nil, false
	}
	return stored, true
}

// reusing wraps an informer's transform: an object the store holds under
// the same key at the same resourceVersion becomes the stored slim object.
// The list above decodes no such object at all; this covers the objects
// client-go decodes itself, as when the API server streams a relist's
// initial state (WatchListClient) instead of answering a list.
func (s *storedObjects) reusing(transform cache.TransformFunc) cache.TransformFunc {
	return func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok && s.store != nil {
			key := m.GetName()
			if ns := m.GetNamespace(); ns != "" {
				key = ns + "/" + key
			}
			if stored, exists, err := s.store.GetByKey(key); err == nil && exists {
				if sm, ok := stored.(metav1.Object); ok && sm.GetResourceVersion() == m.GetResourceVersion() && sm.GetResourceVersion() != "" {
					return stored, nil
				}
			}
		}
		return transform(obj)
	}
}

// Field numbers of an API object's metadata in protobuf: every top-level
// kind has its ObjectMeta as field 1, which holds these.
const (
	objectMetaField          = 1
	metaNameField            = 1
	metaNamespaceField       = 3
	metaResourceVersionField = 6
	protoWireVarint          = 0
	protoWireFixed64         = 1
	protoWireLengthDelim     = 2
	protoWireFixed32         = 5
)

// encodedMeta reads the name, namespace and resourceVersion of a
// protobuf-encoded API object without decoding it; ok is false when the
// encoding cannot be walked.
func encodedMeta(item []byte) (namespace, name, rv []byte, ok bool) {
	var objectMeta []byte
	if !lengthDelimitedFields(item, func(field uint64, value []byte) bool {
		if field == objectMetaField {
			objectMeta = value
			return false
		}
		return true
	}) || objectMeta == nil {
		return nil, nil, nil, false
	}
	ok = lengthDelimitedFields(objectMeta, func(field uint64, value []byte) bool {
		switch field {
		case metaNameField:
			name = value
		case metaNamespaceField:
			namespace = value
		case metaResourceVersionField:
			rv = value
		}
		return true
	})
	return namespace, name, rv, ok
}

// lengthDelimitedFields calls fn with the number and content of each
// length-delimited field of msg, in order, until fn returns false; it
// reports false when msg is malformed.
func lengthDelimitedFields(msg []byte, fn func(field uint64, value []byte) bool) bool {
	for len(msg) > 0 {
		tag, n := binary.Uvarint(msg)
		if n <= 0 {
			return false
		}
		msg = msg[n:]
		var skip uint64
		switch tag & 7 {
		case protoWireVarint:
			if _, n = binary.Uvarint(msg); n <= 0 {
				return false
			}
			skip = uint64(n)
		case protoWireFixed64:
			skip = 8
		case protoWireFixed32:
			skip = 4
		case protoWireLengthDelim:
			length, n := binary.Uvarint(msg)
			if n <= 0 || length > uint64(len(msg)-n) {
				return false
			}
			value := msg[n : n+int(length)]
			msg = msg[n+int(length):]
			if !fn(tag>>3, value) {
				return true
			}
			continue
		default:
			return false
		}
		if skip > uint64(len(msg)) {
			return false
		}
		msg = msg[skip:]
	}
	return true
}

// The slim objects report their metadata as API objects do, which
// storedObjects.unchanged relies on.
var (
	_ metav1.Object = &serviceObject{}
	_ metav1.Object = &sliceObject{}
	_ metav1.Object = &namespaceObject{}
	_ metav1.Object = &podObject{}
)
