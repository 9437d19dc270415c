package kubeindex

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// A file source serves the cluster described by a YAML file of Kubernetes
// objects instead of an API server: `recordsvc --source file:PATH`.
//
// The file holds documents separated by `---`, each a Namespace, Service,
// discovery.k8s.io/v1 EndpointSlice or Pod, or a v1 List of them (as
// `kubectl get -o yaml` prints). Objects are decoded with client-go's scheme
// and slimmed by the same functions as the informers' transforms. Rules:
//
//   - metadata.namespace defaults to "default";
//   - a namespace used by an object but not declared exists implicitly, so a
//     file of Services alone works;
//   - a ClusterIP Service must carry spec.clusterIP (no API server allocates
//     one here); headless ("None") and ExternalName Services need none;
//   - an EndpointSlice joins its Service through the kubernetes.io/service-name
//     label; Pods count (for `pods verified`) when status.phase is Running and
//     status.podIPs is set;
//   - other kinds the Kubernetes scheme knows are ignored with a warning; an
//     unknown kind, a malformed document or a duplicate object is an error
//     naming the file and the document.
//
// The file is polled for changes; a reload that fails keeps the last good
// state, so a bad edit never turns names into NXDOMAIN.

// FileSourceConfig configures a FileSource.
type FileSourceConfig struct {
	// Path of the YAML file. Required.
	Path string
	// PollInterval is how often the file is checked for changes. Zero means
	// 300ms.
	PollInterval time.Duration
}

func (c FileSourceConfig) pollInterval() time.Duration {
	if c.PollInterval <= 0 {
		return 300 * time.Millisecond
	}
	return c.PollInterval
}

// FileSource feeds an Index from a file.
type FileSource struct {
	cfg    FileSourceConfig
	ix     *Index
	logger *slog.Logger

	// last describes the file as last read (good or bad content).
	last fileVersion
	// goodHash is the hash of the content the Index holds.
	goodHash [sha256.Size]byte
	// missing is set while the file cannot be read, to log that once.
	missing bool
	// health fails while the file cannot be read.
	health SourceHealth
}

// Health reports whether the file could be read at the last poll (a file
// that reads but does not parse is healthy: the last good state is served).
func (f *FileSource) Health() *SourceHealth { return &f.health }

// fileVersion identifies what a poll saw.
type fileVersion struct {
	size    int64
	modTime time.Time
	// readAt is when the content was read: while the modification time is
	// that recent, a later write may keep the same time (coarse file system
	// clocks), so the content is checked again.
	readAt time.Time
	hash   [sha256.Size]byte
	valid  bool
}

// racyWindow bounds the granularity of file modification times.
const racyWindow = 2 * time.Second

// NewFileSource returns a FileSource; Load reads the file.
func NewFileSource(cfg FileSourceConfig, ix *Index, logger *slog.Logger) *FileSource {
	return &FileSource{cfg: cfg, ix: ix, logger: logger}
}

// Load reads and parses the file, replaces the Index content with it and
// marks the Index synced. Call it once before Run; an error names the file and
// the document at fault.
func (f *FileSource) Load() error {
	v, data, err := f.read()
	if err != nil {
		return err
	}
	snap, err := ParseObjects(bytes.NewReader(data), f.cfg.Path, f.logger)
	if err != nil {
		return err
	}
	f.ix.Replace(snap)
	f.ix.MarkSynced()
	f.last, f.goodHash = v, v.hash
	f.logger.Info("cluster file loaded", "file", f.cfg.Path, "namespaces", len(snap.Namespaces),
		"services", len(snap.Services), "endpointslices", len(snap.EndpointSlices), "pods", len(snap.Pods),
		"revision", f.ix.Revision())
	return nil
}

// Run polls the file until ctx is done and applies every change (renames
// that replace the file included). A file that disappears or fails to parse
// is logged and the last good state kept. It returns nil when ctx ends.
func (f *FileSource) Run(ctx context.Context) error {
	t := time.NewTicker(f.cfg.pollInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.poll(ctx)
		}
	}
}

// poll reloads the file if it changed.
func (f *FileSource) poll(ctx context.Context) {
	fi, err := os.Stat(f.cfg.Path)
	if err != nil {
		f.unreadable(err)
		return
	}
	if f.last.valid && fi.Size() == f.last.size && fi.ModTime().Equal(f.last.modTime) &&
		f.last.readAt.Sub(f.last.modTime) >= racyWindow {
		return
	}
	// Let a writer finish: read only once the file has stayed the same for a
	// short while, so a half-written file is not mistaken for an edit.
	select {
	case <-ctx.Done():
		return
	case <-time.After(f.cfg.pollInterval() / 4):
	}
	v, data, err := f.read()
	if err != nil {
		f.unreadable(err)
		return
	}
	f.health.succeeded()
	if f.missing {
		f.missing = false
		f.logger.Info("cluster file readable again", "file", f.cfg.Path)
	}
	if v.size != fi.Size() || !v.modTime.Equal(fi.ModTime()) {
		return // still being written; the next poll sees it again
	}
	sameContent := f.last.valid && v.hash == f.last.hash
	f.last = v
	if sameContent {
		return
	}
	if v.hash == f.goodHash {
		return // back to what the Index holds
	}
	snap, err := ParseObjects(bytes.NewReader(data), f.cfg.Path, f.logger)
	if err == nil && len(snap.Namespaces) == 0 {
		err = fmt.Errorf("%s: no objects (write at least one Namespace to serve an empty cluster)", f.cfg.Path)
	}
	if err != nil {
		f.logger.Error("cluster file not reloaded; still serving the last good state", "file", f.cfg.Path, "err", err)
		return
	}
	f.ix.Replace(snap)
	f.goodHash = v.hash
	f.logger.Info("cluster file reloaded", "file", f.cfg.Path, "namespaces", len(snap.Namespaces),
		"services", len(snap.Services), "endpointslices", len(snap.EndpointSlices), "pods", len(snap.Pods),
		"revision", f.ix.Revision())
}

func (f *FileSource) unreadable(err error) {
	f.health.failed(time.Now())
	if f.missing {
		return
	}
	f.missing = true
	level := slog.LevelError
	if errors.Is(err, fs.ErrNotExist) {
		level = slog.LevelWarn // likely mid-rename; the next poll finds the new file
	}
	f.logger.Log(context.Background(), level, "cluster file unreadable; still serving the last good state",
		"file", f.cfg.Path, "err", err)
}

// read returns the file content with its version, the stat taken after the
// read so that a write during it shows as a change.
func (f *FileSource) read() (fileVersion, []byte, error) {
	file, err := os.Open(f.cfg.Path)
	if err != nil {
		return fileVersion{}, nil, fmt.Errorf("cluster file: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		return fileVersion{}, nil, fmt.Errorf("cluster file %s: %w", f.cfg.Path, err)
	}
	fi, err := file.Stat()
	if err != nil {
		return fileVersion{}, nil, fmt.Errorf("cluster file %s: %w", f.cfg.Path, err)
	}
	return fileVersion{
		size:    fi.Size(),
		modTime: fi.ModTime(),
		readAt:  time.Now(),
		hash:    sha256.Sum256(data),
		valid:   true,
	}, data, nil
}

// ParseObjects decodes a multi-document YAML stream of Kubernetes objects
// into a Snapshot, following the rules of the file source. name labels
// errors (the file path).
func ParseObjects(r io.Reader, name string, logger *slog.Logger) (Snapshot, error) {
	p := parser{
		name:       name,
		logger:     logger,
		namespaces: make(map[string]struct{}),
		seen:       make(map[string]string),
		ignored:    make(map[string]int),
	}
	reader := yaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		data, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Snapshot{}, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if isEmptyDocument(data) {
			continue
		}
		if err := p.document(data, fmt.Sprintf("document %d", doc)); err != nil {
			return Snapshot{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	for kind, n := range p.ignored {
		logger.Warn("cluster file: ignoring objects DNS does not use", "file", name, "kind", kind, "count", n)
	}
	for _, ns := range p.referenced {
		if _, ok := p.namespaces[ns]; !ok {
			p.namespaces[ns] = struct{}{}
			p.snap.Namespaces = append(p.snap.Namespaces, ns)
		}
	}
	return p.snap, nil
}

type parser struct {
	name       string
	logger     *slog.Logger
	snap       Snapshot
	namespaces map[string]struct{}
	// referenced lists namespaces objects live in, in order of appearance.
	referenced []string
	// seen maps "Kind ns/name" to where it was first defined.
	seen    map[string]string
	ignored map[string]int
}

// document decodes one document; where names it in errors.
func (p *parser) document(data []byte, where string) error {
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	switch o := obj.(type) {
	case *corev1.List:
		for i, item := range o.Items {
			raw := item.Raw
			if item.Object != nil {
				if err := p.object(item.Object, fmt.Sprintf("%s, item %d", where, i+1)); err != nil {
					return err
				}
				continue
			}
			if err := p.document(raw, fmt.Sprintf("%s, item %d", where, i+1)); err != nil {
				return err
			}
		}
		return nil
	default:
		if gvk != nil && obj.GetObjectKind().GroupVersionKind().Empty() {
			obj.GetObjectKind().SetGroupVersionKind(*gvk)
		}
		return p.object(obj, where)
	}
}

func (p *parser) object(obj runtime.Object, where string) error {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if o.Name == "" {
			return fmt.Errorf("%s: Namespace without metadata.name", where)
		}
		if err := p.unique("Namespace", "", o.Name, where); err != nil {
			return err
		}
		p.namespaces[o.Name] = struct{}{}
		p.snap.Namespaces = append(p.snap.Namespaces, o.Name)
	case *corev1.Service:
		if err := p.namespaced("Service", &o.ObjectMeta.Namespace, o.Name, where); err != nil {
			return err
		}
		if err := checkFileService(o); err != nil {
			return fmt.Errorf("%s: Service %s/%s: %w", where, o.Namespace, o.Name, err)
		}
		p.snap.Services = append(p.snap.Services, ServiceFromAPI(o))
	case *discoveryv1.EndpointSlice:
		if err := p.namespaced("EndpointSlice", &o.ObjectMeta.Namespace, o.Name, where); err != nil {
			return err
		}
		if err := checkFileSlice(o); err != nil {
			return fmt.Errorf("%s: EndpointSlice %s/%s: %w", where, o.Namespace, o.Name, err)
		}
		p.snap.EndpointSlices = append(p.snap.EndpointSlices, EndpointSliceFromAPI(o))
	case *corev1.Pod:
		if err := p.namespaced("Pod", &o.ObjectMeta.Namespace, o.Name, where); err != nil {
			return err
		}
		p.snap.Pods = append(p.snap.Pods, PodFromAPI(o))
	default:
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		if kind == "" {
			kind = fmt.Sprintf("%T", obj)
		}
		p.ignored[kind]++
	}
	return nil
}

// namespaced checks the name of a namespaced object, defaults its namespace
// and records it.
func (p *parser) namespaced(kind string, namespace *string, name, where string) error {
	if name == "" {
		return fmt.Errorf("%s: %s without metadata.name", where, kind)
	}
	if *namespace == "" {
		*namespace = "default"
	}
	if err := p.unique(kind, *namespace, name, where); err != nil {
		return err
	}
	if !slices.Contains(p.referenced, *namespace) {
		p.referenced = append(p.referenced, *namespace)
	}
	return nil
}

func (p *parser) unique(kind, namespace, name, where string) error {
	id := kind + " " + name
	if namespace != "" {
		id = kind + " " + namespace + "/" + name
	}
	if first, dup := p.seen[id]; dup {
		return fmt.Errorf("%s: duplicate %s (first in %s)", where, id, first)
	}
	p.seen[id] = where
	return nil
}

// checkFileService rejects what an API server would have refused or filled
// in, so that a typo in the file does not silently lose a record.
func checkFileService(s *corev1.Service) error {
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		if s.Spec.ExternalName == "" {
			return errors.New("type ExternalName needs spec.externalName")
		}
		return nil
	}
	if s.Spec.ClusterIP == corev1.ClusterIPNone {
		return nil
	}
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 {
		if s.Spec.ClusterIP == "" {
			return errors.New(`spec.clusterIP is required (an address, or "None" for a headless Service)`)
		}
		ips = []string{s.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("cluster IP %q: %w", ip, err)
		}
	}
	return nil
}

func checkFileSlice(s *discoveryv1.EndpointSlice) error {
	if s.Labels[serviceLabel] == "" {
		return fmt.Errorf("missing label %s naming its Service", serviceLabel)
	}
	if s.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	for i, e := range s.Endpoints {
		for _, a := range e.Addresses {
			if _, err := netip.ParseAddr(a); err != nil {
				return fmt.Errorf("endpoint %d: address %q: %w", i+1, a, err)
			}
		}
	}
	return nil
}

// isEmptyDocument reports whether a YAML document holds only blank lines and
// comments.
func isEmptyDocument(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) != 0 && line[0] != '#' {
			return false
		}
	}
	return true
}
