package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadImage is one image of a layout read back by Read.
type ReadImage struct {
	Name     string
	Manifest Manifest
	Config   ImageConfig
	// Layers are the uncompressed layer tars, lowest first.
	Layers [][]byte
}

// Read parses an OCI image layout in tar form, checking every blob against
// its digest and size and every layer against its config's diff ID. It is the
// check a test makes before unpacking an image.
func Read(r io.Reader) ([]ReadImage, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read layout: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read layout %s: %w", hdr.Name, err)
		}
		files[hdr.Name] = b
	}
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(files["oci-layout"], &layout); err != nil || layout.Version != LayoutVersion {
		return nil, fmt.Errorf("oci-layout: want version %s (%v)", LayoutVersion, err)
	}
	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("index.json: schemaVersion %d", idx.SchemaVersion)
	}
	blobOf := func(d Descriptor) ([]byte, error) {
		hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
		if !ok {
			return nil, fmt.Errorf("digest %q is not sha256", d.Digest)
		}
		b, ok := files["blobs/sha256/"+hexDigest]
		if !ok {
			return nil, fmt.Errorf("blob %s is missing", d.Digest)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != hexDigest || int64(len(b)) != d.Size {
			return nil, fmt.Errorf("blob %s does not match its descriptor", d.Digest)
		}
		return b, nil
	}
	var out []ReadImage
	for _, d := range idx.Manifests {
		img := ReadImage{Name: d.Annotations[AnnotationImageName]}
		mb, err := blobOf(d)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(mb, &img.Manifest); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		cb, err := blobOf(img.Manifest.Config)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(cb, &img.Config); err != nil {
			return nil, fmt.Errorf("config %s: %w", img.Manifest.Config.Digest, err)
		}
		if len(img.Config.RootFS.DiffIDs) != len(img.Manifest.Layers) {
			return nil, fmt.Errorf("image %s: %d layers, %d diff IDs", img.Name, len(img.Manifest.Layers), len(img.Config.RootFS.DiffIDs))
		}
		for i, ld := range img.Manifest.Layers {
			gz, err := blobOf(ld)
			if err != nil {
				return nil, err
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", ld.Digest, err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", ld.Digest, err)
			}
			sum := sha256.Sum256(raw)
			if "sha256:"+hex.EncodeToString(sum[:]) != img.Config.RootFS.DiffIDs[i] {
				return nil, fmt.Errorf("layer %s does not match diff ID %s", ld.Digest, img.Config.RootFS.DiffIDs[i])
			}
			img.Layers = append(img.Layers, raw)
		}
		out = append(out, img)
	}
	return out, nil
}
