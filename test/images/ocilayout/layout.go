package ocilayout

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Media types and annotations of the OCI image spec (v1.1) and containerd.
const (
	MediaTypeIndex     = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest  = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig    = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"

	// AnnotationImageName is the full image reference containerd's importer
	// names the image by.
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationRefName is the OCI tag of a manifest in index.json.
	AnnotationRefName = "org.opencontainers.image.ref.name"

	// LayoutVersion is the content of the oci-layout file.
	LayoutVersion = "1.0.0"
)

// DefaultPath is the PATH images get when Config.Env sets none: runtimes
// resolve a bare command such as `dig` with the image's PATH.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Config is the runtime part of an image config.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string
	User         string
	WorkingDir   string
	ExposedPorts []string // e.g. "53/udp"
	Labels       map[string]string
}

// Image is one linux/amd64 image: its full reference and its layers, lowest
// first.
type Image struct {
	Name   string // e.g. localhost/clusterdns-frontend:test
	Config Config
	Layers []*Layer
}

// Descriptor is the OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform names an image's operating system and architecture.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Index is index.json.
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Manifest is an image manifest.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// ImageConfig is the image configuration blob.
type ImageConfig struct {
	Created      string        `json:"created"`
	Architecture string        `json:"architecture"`
	OS           string        `json:"os"`
	Config       RuntimeConfig `json:"config"`
	RootFS       RootFS        `json:"rootfs"`
	History      []History     `json:"history"`
}

// RuntimeConfig is the "config" object of an image config; the field names
// are the spec's.
type RuntimeConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
}

// RootFS lists the layers' uncompressed digests.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History is one entry of an image's history, one per layer.
type History struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

const created = "1970-01-01T00:00:00Z"

// Tag is the tag of a reference such as localhost/pause:test ("test"), or
// "latest" when it has none.
func Tag(name string) string {
	slash := strings.LastIndex(name, "/")
	if colon := strings.LastIndex(name, ":"); colon > slash {
		return name[colon+1:]
	}
	return "latest"
}

// Write writes the images as one OCI image layout in tar form to w. Blobs
// shared between images (a common layer) are written once.
func Write(w io.Writer, images ...Image) error {
	if len(images) == 0 {
		return fmt.Errorf("write image layout: no image")
	}
	set := newBlobSet()
	index := Index{SchemaVersion: 2, MediaType: MediaTypeIndex}
	for _, img := range images {
		if img.Name == "" || len(img.Layers) == 0 {
			return fmt.Errorf("write image layout: image %q needs a name and a layer", img.Name)
		}
		d, err := set.manifest(manifestSpec{
			name: img.Name, platform: Platform{Architecture: "amd64", OS: "linux"},
			config: img.Config, layers: img.Layers, created: created, createdBy: "clusterdns test/images",
		})
		if err != nil {
			return err
		}
		d.Annotations = map[string]string{
			AnnotationImageName: img.Name,
			AnnotationRefName:   Tag(img.Name),
		}
		index.Manifests = append(index.Manifests, d)
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode index.json: %w", err)
	}
	layoutJSON, err := json.Marshal(map[string]string{"imageLayoutVersion": LayoutVersion})
	if err != nil {
		return fmt.Errorf("encode oci-layout: %w", err)
	}

	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{{"oci-layout", layoutJSON}, {"index.json", indexJSON}}
	for _, f := range files {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("write %s: %w", dir, err)
		}
	}
	for _, b := range set.sorted() {
		if err := writeFile(tw, "blobs/sha256/"+strings.TrimPrefix(b.digest, "sha256:"), b.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close image layout: %w", err)
	}
	return nil
}

// blobSet collects the blobs of one layout; a layer shared by several
// images is packed and stored once.
type blobSet struct {
	blobs map[string]blob
	built map[*Layer][2]string // digest of the blob, diff ID
}

func newBlobSet() *blobSet {
	return &blobSet{blobs: map[string]blob{}, built: map[*Layer][2]string{}}
}

// manifestSpec is one platform's image for blobSet.manifest.
type manifestSpec struct {
	name        string // for errors
	platform    Platform
	config      Config
	layers      []*Layer
	created     string // RFC 3339
	createdBy   string // history prefix
	annotations map[string]string
}

// manifest packs the layers, config and manifest of one image into the set
// and returns the manifest's descriptor, platform included.
func (s *blobSet) manifest(spec manifestSpec) (Descriptor, error) {
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeManifest, Annotations: spec.annotations}
	cfg := ImageConfig{
		Created: spec.created, Architecture: spec.platform.Architecture, OS: spec.platform.OS,
		Config: runtimeConfig(spec.config),
		RootFS: RootFS{Type: "layers"},
	}
	for i, l := range spec.layers {
		ids, ok := s.built[l]
		if !ok {
			b, diffID, err := l.build()
			if err != nil {
				return Descriptor{}, fmt.Errorf("image %s layer %d: %w", spec.name, i, err)
			}
			s.blobs[b.digest] = b
			ids = [2]string{b.digest, diffID}
			s.built[l] = ids
		}
		b := s.blobs[ids[0]]
		m.Layers = append(m.Layers, Descriptor{MediaType: b.mediaType, Digest: b.digest, Size: int64(len(b.data))})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, ids[1])
		cfg.History = append(cfg.History, History{Created: spec.created, CreatedBy: fmt.Sprintf("%s layer %d", spec.createdBy, i)})
	}
	cb, err := s.addJSON(MediaTypeConfig, cfg)
	if err != nil {
		return Descriptor{}, err
	}
	m.Config = cb
	d, err := s.addJSON(MediaTypeManifest, m)
	if err != nil {
		return Descriptor{}, err
	}
	platform := spec.platform
	d.Platform = &platform
	return d, nil
}

// addJSON stores v encoded as a blob of mediaType and returns its descriptor.
func (s *blobSet) addJSON(mediaType string, v any) (Descriptor, error) {
	b, err := jsonBlob(mediaType, v)
	if err != nil {
		return Descriptor{}, err
	}
	s.blobs[b.digest] = b
	return Descriptor{MediaType: b.mediaType, Digest: b.digest, Size: int64(len(b.data))}, nil
}

// sorted returns the blobs by digest, the order layouts are written in.
func (s *blobSet) sorted() []blob {
	digests := make([]string, 0, len(s.blobs))
	for d := range s.blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	out := make([]blob, 0, len(digests))
	for _, d := range digests {
		out = append(out, s.blobs[d])
	}
	return out
}

func runtimeConfig(c Config) RuntimeConfig {
	rc := RuntimeConfig{
		User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		WorkingDir: c.WorkingDir, Labels: c.Labels,
	}
	hasPath := false
	for _, e := range c.Env {
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
	}
	if !hasPath {
		rc.Env = append([]string{DefaultPath}, c.Env...)
	}
	if rc.WorkingDir == "" {
		rc.WorkingDir = "/"
	}
	if len(c.ExposedPorts) > 0 {
		rc.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			rc.ExposedPorts[p] = struct{}{}
		}
	}
	return rc
}

func jsonBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, fmt.Errorf("encode %s: %w", mediaType, err)
	}
	return newBlob(mediaType, data), nil
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
