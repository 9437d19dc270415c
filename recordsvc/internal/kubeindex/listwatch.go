package kubeindex

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// When the API server can stream an informer's initial state (the
// WatchListClient feature, on by default in client-go; the API server
// offers it when its etcd supports progress requests), client-go
// transforms each object as it arrives. Otherwise client-go falls back to
// a list, and its reflector keeps every full API object of the list until
// the list is complete, before any transform runs: with 100k Pods that is
// about 1 GB for a moment (measured with Debian's etcd 3.4, which cannot
// stream). Paging does not help: API servers ignore the page size of a list
// served from their cache, and a list from etcd in pages took ten times as
// long. streamingListWatch closes the gap: its list reads the API server's
// protobuf response as a stream and transforms each object as it is
// decoded, so only one full object is alive at a time. The watch is
// client-go's, untouched.

// slimList is the list a streamingListWatch returns: the slim objects under
// the list's resourceVersion, as client-go's reflector reads any list
// (through meta.ExtractList and meta.ListAccessor).
type slimList struct {
	metav1.ListMeta
	Items []runtime.Object
}

func (l *slimList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject copies the list; the slim items are immutable and shared.
func (l *slimList) DeepCopyObject() runtime.Object {
	return &slimList{ListMeta: *l.ListMeta.DeepCopy(), Items: slices.Clone(l.Items)}
}

// protoObject is an API object with its generated protobuf decoder.
type protoObject interface {
	runtime.Object
	Unmarshal(data []byte) error
}

// resource describes one watched resource type for streamingListWatch.
type resource[L runtime.Object] struct {
	// rest is the client of the resource's API group and name its plural
	// (pods), listed across all namespaces.
	rest rest.Interface
	name string
	// newItem returns an empty object of the resource's type.
	newItem func() protoObject
	// list and watch are the typed client's, for all namespaces.
	list  func(ctx context.Context, opts metav1.ListOptions) (L, error)
	watch func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	// tweak (optional) adjusts the options of both, as a field selector does.
	tweak     func(*metav1.ListOptions)
	transform cache.TransformFunc
	// health (optional) learns the outcome of every list and watch call.
	health *SourceHealth
	// stored (optional) is the store of the informer the list feeds: a
	// relisted object it holds unchanged is not decoded again.
	stored *storedObjects
	// hold (optional) keeps the collector's harder target from the start
	// of each list until the handler has received what it listed.
	hold *listHold
}

// observe reports the outcome of a list or watch call to r.health.
func (r resource[L]) observe(err error) {
	switch {
	case r.health == nil:
	case err != nil:
		r.health.failed(time.Now())
	default:
		r.health.succeeded()
	}
}

// streamingListWatch returns the ListerWatcher of an informer on r. client
// tells client-go whether it can stream an initial state; a client that
// cannot (a fake clientset) also lists through the typed client.
func streamingListWatch[L runtime.Object](client any, r resource[L]) cache.ListerWatcher {
	typed := watchlist.DoesClientNotSupportWatchListSemantics(client)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			if r.tweak != nil {
				r.tweak(&opts)
			}
			listed := r.hold.start()
			var list *slimList
			var err error
			if typed {
				list, err = r.typedList(ctx, opts)
			} else {
				list, err = r.streamList(ctx, opts)
			}
			r.observe(err)
			if err != nil {
				listed(0, err)
				return nil, err
			}
			listed(len(list.Items), nil)
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			if r.tweak != nil {
				r.tweak(&opts)
			}
			w, err := r.watch(ctx, opts)
			r.observe(err)
			return w, err
		},
	}
	return cache.ToListWatcherWithWatchListSemantics(lw, client)
}

// typedList lists through the typed client and transforms the result.
func (r resource[L]) typedList(ctx context.Context, opts metav1.ListOptions) (*slimList, error) {
	list, err := r.list(ctx, opts)
	if err != nil {
		return nil, err
	}
	listMeta, err := meta.ListAccessor(list)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.name, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.name, err)
	}
	out := &slimList{}
	out.ResourceVersion, out.Continue = listMeta.GetResourceVersion(), listMeta.GetContinue()
	for _, item := range items {
		if err := r.add(out, item); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// streamList lists with the options client-go asked for, decoding and
// transforming each object as it comes off the wire. Should the API server
// page the list, streamList follows the pages.
func (r resource[L]) streamList(ctx context.Context, opts metav1.ListOptions) (*slimList, error) {
	out := &slimList{}
	for first := true; ; first = false {
		page, err := r.streamPage(ctx, opts, out)
		if err != nil {
			return nil, err
		}
		if first {
			// Later pages belong to the snapshot of the first.
			out.ResourceVersion = page.ResourceVersion
		}
		if page.Continue == "" {
			return out, nil
		}
		opts.Continue = page.Continue
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	}
}

// protobufMagic starts every protobuf-encoded API response.
var protobufMagic = []byte("k8s\x00")

// Field numbers of the protobuf envelope of API responses (runtime.Unknown)
// and of every list type (FooList).
const (
	unknownRawField = 2
	listMetaField   = 1
	listItemsField  = 2
)

// maxItemBytes bounds one encoded object; the API server's limit on a
// request body is far lower, so more means a corrupt response.
const maxItemBytes = 64 << 20

// streamPage reads one list response into out and returns its list
// metadata.
func (r resource[L]) streamPage(ctx context.Context, opts metav1.ListOptions, out *slimList) (metav1.ListMeta, error) {
	body, err := r.rest.Get().Resource(r.name).VersionedParams(&opts, scheme.ParameterCodec).
		SetHeader("Accept", "application/vnd.kubernetes.protobuf").Stream(ctx)
	if err != nil {
		return metav1.ListMeta{}, err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	if head, err := br.Peek(len(protobufMagic)); err != nil || !bytes.Equal(head, protobufMagic) {
		return metav1.ListMeta{}, fmt.Errorf("list %s: the API server did not answer in protobuf", r.name)
	}
	if _, err := br.Discard(len(protobufMagic)); err != nil {
		return metav1.ListMeta{}, fmt.Errorf("list %s: %w", r.name, err)
	}
	var listMeta metav1.ListMeta
	var buf []byte
	// The envelope: the list is the raw field; the others are skipped.
	envelope := &protoReader{r: br, left: -1}
	err = envelope.fields(func(field uint64, length int64) error {
		if field != unknownRawField {
			return envelope.skip(length)
		}
		list := &protoReader{r: br, left: length}
		return list.fields(func(field uint64, length int64) error {
			if length > maxItemBytes {
				return fmt.Errorf("field %d: length %d over %d", field, length, maxItemBytes)
			}
			switch field {
			case listMetaField:
				if buf, err = list.read(buf, length); err != nil {
					return err
				}
				return listMeta.Unmarshal(buf)
			case listItemsField:
				if buf, err = list.read(buf, length); err != nil {
					return err
				}
				if obj, ok := r.stored.unchanged(buf); ok {
					out.Items = append(out.Items, obj)
					return nil
				}
				// The generated decoders copy what they keep, so buf is
				// reused for the next object.
				obj := r.newItem()
				if err := obj.Unmarshal(buf); err != nil {
					return fmt.Errorf("decode %s: %w", r.name, err)
				}
				return r.add(out, obj)
			default:
				return list.skip(length)
			}
		})
	})
	if err != nil {
		return metav1.ListMeta{}, fmt.Errorf("list %s: %w", r.name, err)
	}
	return listMeta, nil
}

// add transforms one listed object into out.
func (r resource[L]) add(out *slimList, item runtime.Object) error {
	slim, err := r.transform(item)
	if err != nil {
		return err
	}
	obj, ok := slim.(runtime.Object)
	if !ok {
		return fmt.Errorf("list %s: transform returned %T, not a runtime.Object", r.name, slim)
	}
	out.Items = append(out.Items, obj)
	return nil
}

// protoReader walks the fields of one protobuf message read from r, of
// left bytes (-1: up to the end of r).
type protoReader struct {
	r    *bufio.Reader
	left int64
}

var errTruncated = errors.New("truncated protobuf message")

// ReadByte reads one byte of the message (io.EOF at its end).
func (p *protoReader) ReadByte() (byte, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	b, err := p.r.ReadByte()
	if err != nil {
		if err == io.EOF && p.left > 0 {
			return 0, errTruncated
		}
		return 0, err
	}
	if p.left > 0 {
		p.left--
	}
	return b, nil
}

// fields calls fn for each length-delimited field with its number and
// length; fn must consume exactly length bytes from p.r (read or skip).
// Fields of other wire types are skipped.
func (p *protoReader) fields(fn func(field uint64, length int64) error) error {
	for {
		tag, err := binary.ReadUvarint(p)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("field tag: %w", err)
		}
		field, wire := tag>>3, tag&7
		var size int64 // bytes after the tag read from p.r directly
		switch wire {
		case 0: // varint, read through p
		case 1: // fixed64
			size = 8
		case 5: // fixed32
			size = 4
		case 2: // length-delimited
			n, err := binary.ReadUvarint(p)
			if err != nil {
				return fmt.Errorf("field %d length: %w", field, err)
			}
			if n > math.MaxInt32 {
				return fmt.Errorf("field %d: length %d: %w", field, n, errTruncated)
			}
			size = int64(n)
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", field, wire)
		}
		if p.left >= 0 && size > p.left {
			return fmt.Errorf("field %d: %w", field, errTruncated)
		}
		switch wire {
		case 0:
			_, err = binary.ReadUvarint(p)
		case 2:
			err = fn(field, size)
		default:
			err = p.skip(size)
		}
		if err != nil {
			return err
		}
		if p.left >= 0 {
			p.left -= size
		}
	}
}

// read reads n bytes of p.r into buf (grown as needed) and returns them.
func (p *protoReader) read(buf []byte, n int64) ([]byte, error) {
	buf = slices.Grow(buf[:0], int(n))[:n]
	if _, err := io.ReadFull(p.r, buf); err != nil {
		return nil, errTruncated
	}
	return buf, nil
}

// skip discards n bytes of p.r.
func (p *protoReader) skip(n int64) error {
	if _, err := p.r.Discard(int(n)); err != nil {
		return errTruncated
	}
	return nil
}
