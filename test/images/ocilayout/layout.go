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
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is an image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
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
	blobs := map[string]blob{}
	index := Index{SchemaVersion: 2, MediaType: MediaTypeIndex}
	built := map[*Layer][2]string{} // digest of the blob, diff ID
	for _, img := range images {
		if img.Name == "" || len(img.Layers) == 0 {
			return fmt.Errorf("write image layout: image %q needs a name and a layer", img.Name)
		}
		m := Manifest{SchemaVersion: 2, MediaType: MediaTypeManifest}
		cfg := ImageConfig{
			Created: created, Architecture: "amd64", OS: "linux",
			Config: runtimeConfig(img.Config),
			RootFS: RootFS{Type: "layers"},
		}
		for i, l := range img.Layers {
			ids, ok := built[l]
			if !ok {
				b, diffID, err := l.build()
				if err != nil {
					return fmt.Errorf("image %s layer %d: %w", img.Name, i, err)
				}
				blobs[b.digest] = b
				ids = [2]string{b.digest, diffID}
				built[l] = ids
			}
			b := blobs[ids[0]]
			m.Layers = append(m.Layers, Descriptor{MediaType: b.mediaType, Digest: b.digest, Size: int64(len(b.data))})
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, ids[1])
			cfg.History = append(cfg.History, History{Created: created, CreatedBy: fmt.Sprintf("clusterdns test/images layer %d", i)})
		}
		cb, err := jsonBlob(MediaTypeConfig, cfg)
		if err != nil {
			return err
		}
		blobs[cb.digest] = cb
		m.Config = Descriptor{MediaType: cb.mediaType, Digest: cb.digest, Size: int64(len(cb.data))}
		mb, err := jsonBlob(MediaTypeManifest, m)
		if err != nil {
			return err
		}
		blobs[mb.digest] = mb
		index.Manifests = append(index.Manifests, Descriptor{
			MediaType: mb.mediaType, Digest: mb.digest, Size: int64(len(mb.data)),
			Platform: &Platform{Architecture: "amd64", OS: "linux"},
			Annotations: map[string]string{
				AnnotationImageName: img.Name,
				AnnotationRefName:   Tag(img.Name),
			},
		})
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
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := writeFile(tw, "blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), blobs[d].data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close image layout: %w", err)
	}
	return nil
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
