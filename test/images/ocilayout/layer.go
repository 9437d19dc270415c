// Package ocilayout writes container images as OCI image layouts packed in a
// tar archive (the OCI image-spec "image layout": oci-layout, index.json and
// blobs/sha256/), which containerd imports with `ctr images import` without a
// registry or a Docker engine. Layers are built in memory from files the
// caller adds, so images are reproducible byte for byte: every entry has
// owner 0:0 unless set, a fixed modification time, and the gzip stream carries
// no name or time.
package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// epoch is the modification time of every entry: fixed so that the same
// inputs give the same digests.
var epoch = time.Unix(0, 0).UTC()

// Entry is one file system object of a layer.
type Entry struct {
	// Path is absolute inside the image, e.g. /usr/bin/dig.
	Path string
	// Type is tar.TypeReg, tar.TypeDir or tar.TypeSymlink.
	Type byte
	// Mode holds the permission bits (and setuid/setgid/sticky).
	Mode fs.FileMode
	// UID and GID own the entry.
	UID, GID int
	// Data is a regular file's content.
	Data []byte
	// Target is a symlink's target.
	Target string
	// Xattrs are extended attributes, e.g. security.capability.
	Xattrs map[string]string
}

// Layer is a set of entries keyed by path; adding a path twice replaces it.
// Parent directories are created implicitly (0755, root-owned).
type Layer struct {
	entries map[string]Entry
	// modTime dates every entry; the zero value means epoch.
	modTime time.Time
	// packed caches build's result for layers shared by several images;
	// Add clears it.
	packed *packedLayer
}

type packedLayer struct {
	blob   blob
	diffID string
}

// NewLayer returns an empty layer.
func NewLayer() *Layer {
	return &Layer{entries: map[string]Entry{}}
}

// NewLayerAt returns an empty layer whose entries are all dated t (whole
// seconds, UTC) rather than the Unix epoch: release images date their files
// to the source they were built from (SOURCE_DATE_EPOCH) and stay
// reproducible.
func NewLayerAt(t time.Time) *Layer {
	return &Layer{entries: map[string]Entry{}, modTime: t.UTC().Truncate(time.Second)}
}

// Add puts e into the layer, creating its parent directories.
func (l *Layer) Add(e Entry) error {
	p, err := cleanPath(e.Path)
	if err != nil {
		return err
	}
	e.Path = p
	switch e.Type {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
	default:
		return fmt.Errorf("%s: unsupported entry type %q", p, e.Type)
	}
	if prev, ok := l.entries[p]; ok && prev.Type == tar.TypeDir && e.Type != tar.TypeDir {
		return fmt.Errorf("%s: already a directory", p)
	}
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		prev, ok := l.entries[dir]
		if ok && prev.Type != tar.TypeDir {
			return fmt.Errorf("%s: parent %s is not a directory", p, dir)
		}
		if !ok {
			l.entries[dir] = Entry{Path: dir, Type: tar.TypeDir, Mode: 0o755}
		}
	}
	l.entries[p] = e
	l.packed = nil
	return nil
}

// AddFile adds a root-owned regular file.
func (l *Layer) AddFile(p string, mode fs.FileMode, data []byte) error {
	return l.Add(Entry{Path: p, Type: tar.TypeReg, Mode: mode, Data: data})
}

// AddDir adds a root-owned directory.
func (l *Layer) AddDir(p string, mode fs.FileMode) error {
	return l.Add(Entry{Path: p, Type: tar.TypeDir, Mode: mode})
}

// AddSymlink adds a symbolic link at p pointing to target.
func (l *Layer) AddSymlink(p, target string) error {
	return l.Add(Entry{Path: p, Type: tar.TypeSymlink, Mode: 0o777, Target: target})
}

// Has reports whether the layer holds p.
func (l *Layer) Has(p string) bool {
	p, err := cleanPath(p)
	if err != nil {
		return false
	}
	_, ok := l.entries[p]
	return ok
}

// Len is the number of entries, implicit directories included.
func (l *Layer) Len() int { return len(l.entries) }

func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("layer path %q is not absolute", p)
	}
	c := path.Clean(p)
	if c == "/" {
		return "", fmt.Errorf("layer path %q names the root", p)
	}
	return c, nil
}

// blob is content-addressed data: a layer, a config or a manifest.
type blob struct {
	mediaType string
	data      []byte
	digest    string // "sha256:<hex>"
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{mediaType: mediaType, data: data, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// build packs the layer as a gzip-compressed tar and also returns the digest
// of the uncompressed tar, the "diff ID" that the image config lists.
func (l *Layer) build() (compressed blob, diffID string, err error) {
	if l.packed != nil {
		return l.packed.blob, l.packed.diffID, nil
	}
	paths := make([]string, 0, len(l.entries))
	for p := range l.entries {
		paths = append(paths, p)
	}
	// Sorted paths put every directory before what it holds.
	sort.Strings(paths)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, p := range paths {
		if err := writeEntry(tw, l.entries[p], l.entryTime()); err != nil {
			return blob{}, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return blob{}, "", fmt.Errorf("close layer tar: %w", err)
	}
	sum := sha256.Sum256(raw.Bytes())
	diffID = "sha256:" + hex.EncodeToString(sum[:])

	// The default level: the best one takes 2.6 times as long for 0.5%
	// fewer bytes on the glibc userland layer.
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return blob{}, "", fmt.Errorf("gzip layer: %w", err)
	}
	if _, err := io.Copy(zw, &raw); err != nil {
		return blob{}, "", fmt.Errorf("gzip layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return blob{}, "", fmt.Errorf("gzip layer: %w", err)
	}
	compressed = newBlob(MediaTypeLayerGzip, gz.Bytes())
	l.packed = &packedLayer{blob: compressed, diffID: diffID}
	return compressed, diffID, nil
}

// entryTime is the modification time of the layer's entries.
func (l *Layer) entryTime() time.Time {
	if l.modTime.IsZero() {
		return epoch
	}
	return l.modTime
}

func writeEntry(tw *tar.Writer, e Entry, modTime time.Time) error {
	// Layer tars name entries relative to the root, without a leading slash,
	// as image builders do.
	name := strings.TrimPrefix(e.Path, "/")
	hdr := &tar.Header{
		Name:     name,
		Typeflag: e.Type,
		Mode:     int64(e.Mode.Perm()),
		Uid:      e.UID,
		Gid:      e.GID,
		ModTime:  modTime,
		Format:   tar.FormatPAX,
	}
	if e.Mode&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if e.Mode&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if e.Mode&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch e.Type {
	case tar.TypeDir:
		hdr.Name += "/"
	case tar.TypeReg:
		hdr.Size = int64(len(e.Data))
	case tar.TypeSymlink:
		hdr.Linkname = e.Target
	}
	if len(e.Xattrs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range e.Xattrs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer entry %s: %w", e.Path, err)
	}
	if e.Type == tar.TypeReg {
		if _, err := tw.Write(e.Data); err != nil {
			return fmt.Errorf("layer entry %s: %w", e.Path, err)
		}
	}
	return nil
}
