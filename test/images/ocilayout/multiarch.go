package ocilayout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Annotations of the OCI image spec that release images carry.
const (
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationTitle    = "org.opencontainers.image.title"
)

// PlatformImage is the image of one platform within a MultiImage.
type PlatformImage struct {
	Platform Platform
	Config   Config
	Layers   []*Layer
}

// MultiImage is one image built for several platforms: an image index
// listing one manifest per platform, which is what a registry serves for a
// multi-arch tag and what runtimes pick their platform from.
type MultiImage struct {
	// Name is the full reference, e.g. clusterdns/frontend:v1.2.0; its tag
	// becomes the index's ref.name in the layout.
	Name string
	// Created dates the configs, the history and (through the layers the
	// caller made with NewLayerAt) the files.
	Created time.Time
	// Annotations go on the image index and on every manifest.
	Annotations map[string]string
	Platforms   []PlatformImage
}

// WriteDir writes img as an OCI image layout directory (oci-layout,
// index.json, blobs/sha256/) at dir, replacing an image layout already
// there, and returns the descriptor of img's image index as index.json lists
// it. The same inputs give the same bytes, so the index digest identifies
// the build.
func WriteDir(dir string, img MultiImage) (Descriptor, error) {
	if img.Name == "" || len(img.Platforms) == 0 {
		return Descriptor{}, fmt.Errorf("write image layout %s: image %q needs a name and a platform", dir, img.Name)
	}
	created := img.Created.UTC().Format(time.RFC3339)
	set := newBlobSet()
	index := Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Annotations: img.Annotations}
	seen := map[Platform]bool{}
	for _, p := range img.Platforms {
		if seen[p.Platform] || len(p.Layers) == 0 {
			return Descriptor{}, fmt.Errorf("write image layout %s: platform %s/%s is repeated or has no layer", dir, p.Platform.OS, p.Platform.Architecture)
		}
		seen[p.Platform] = true
		d, err := set.manifest(manifestSpec{
			name: img.Name, platform: p.Platform, config: p.Config, layers: p.Layers,
			created: created, createdBy: "clusterdns " + img.Name, annotations: img.Annotations,
		})
		if err != nil {
			return Descriptor{}, err
		}
		index.Manifests = append(index.Manifests, d)
	}
	top, err := set.addJSON(MediaTypeIndex, index)
	if err != nil {
		return Descriptor{}, err
	}
	top.Annotations = map[string]string{AnnotationImageName: img.Name, AnnotationRefName: Tag(img.Name)}
	layoutIndex := Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []Descriptor{top}}
	if err := writeLayoutDir(dir, layoutIndex, set); err != nil {
		return Descriptor{}, fmt.Errorf("write image layout %s: %w", dir, err)
	}
	return top, nil
}

// writeLayoutDir writes the layout into a fresh directory beside dir and
// renames it into place, so that a failed build leaves no half layout and a
// rebuild leaves no blob of the previous one.
func writeLayoutDir(dir string, index Index, set *blobSet) error {
	if err := checkReplaceable(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode index.json: %w", err)
	}
	layoutJSON, err := json.Marshal(map[string]string{"imageLayoutVersion": LayoutVersion})
	if err != nil {
		return fmt.Errorf("encode oci-layout: %w", err)
	}
	blobDir := filepath.Join(tmp, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join(tmp, "oci-layout"): layoutJSON,
		filepath.Join(tmp, "index.json"): indexJSON,
	}
	for _, b := range set.sorted() {
		files[filepath.Join(blobDir, strings.TrimPrefix(b.digest, "sha256:"))] = b.data
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// checkReplaceable refuses to replace a directory that is not an image
// layout, so that a mistyped output path never deletes anything else.
func checkReplaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("%s exists and is not an OCI image layout; not replacing it", dir)
	}
	return nil
}
