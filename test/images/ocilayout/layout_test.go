package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// archive is an OCI layout read back from its tar form.
type archive struct {
	files map[string][]byte
	order []string
}

func readArchive(t *testing.T, data []byte) archive {
	t.Helper()
	a := archive{files: map[string][]byte{}}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a
		}
		if err != nil {
			t.Fatalf("read layout tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", hdr.Name, err)
		}
		a.order = append(a.order, hdr.Name)
		if hdr.Typeflag == tar.TypeReg {
			a.files[hdr.Name] = b
		}
	}
}

// blob returns the blob a descriptor names after checking its digest and size.
func (a archive) blob(t *testing.T, d Descriptor) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q is not sha256", d.Digest)
	}
	b, ok := a.files["blobs/sha256/"+hexDigest]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != hexDigest {
		t.Fatalf("blob %s has digest %s", d.Digest, got)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s: descriptor size %d, blob %d bytes", d.Digest, d.Size, len(b))
	}
	return b
}

type layerEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	data     string
	link     string
	pax      map[string]string
}

// layerEntries unpacks a gzip layer, checking its diff ID.
func layerEntries(t *testing.T, gz []byte, diffID string) []layerEntry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip layer: %v", err)
	}
	sum := sha256.Sum256(raw)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != diffID {
		t.Fatalf("layer diff ID %s, config says %s", got, diffID)
	}
	var out []layerEntry
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read layer tar: %v", err)
		}
		b, _ := io.ReadAll(tr)
		e := layerEntry{name: hdr.Name, typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, data: string(b), link: hdr.Linkname}
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				if e.pax == nil {
					e.pax = map[string]string{}
				}
				e.pax[k] = v
			}
		}
		out = append(out, e)
	}
}

func testLayer(t *testing.T) *Layer {
	t.Helper()
	l := NewLayer()
	steps := []error{
		l.AddFile("/usr/bin/tool", 0o755, []byte("#!tool\n")),
		l.AddSymlink("/bin", "usr/bin"),
		l.Add(Entry{Path: "/coredns", Type: tar.TypeReg, Mode: 0o755, Data: []byte("x"),
			Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02"}}),
		l.Add(Entry{Path: "/home/nonroot", Type: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532}),
		l.AddFile("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n")),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestWriteLayout(t *testing.T) {
	base := testLayer(t)
	top := NewLayer()
	if err := top.AddFile("/frontend", 0o755, []byte("binary")); err != nil {
		t.Fatal(err)
	}
	images := []Image{
		{Name: "localhost/clusterdns-frontend:test", Layers: []*Layer{base, top},
			Config: Config{Entrypoint: []string{"/frontend"}, User: "65532:65532", ExposedPorts: []string{"53/udp", "53/tcp"}}},
		{Name: "registry.example/e2e/agnhost:2.66.1", Layers: []*Layer{base},
			Config: Config{Cmd: []string{"sleep", "infinity"}, Env: []string{"PATH=/bin", "A=b"}}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, images...); err != nil {
		t.Fatal(err)
	}
	a := readArchive(t, buf.Bytes())

	if got := string(a.files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	// The base layer is shared: 2 layers + 2 configs + 2 manifests.
	if n := len(a.files) - 2; n != 6 {
		t.Errorf("%d blobs, want 6 (shared layer once)", n)
	}
	var idx Index
	if err := json.Unmarshal(a.files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != MediaTypeIndex || len(idx.Manifests) != len(images) {
		t.Fatalf("index = %+v", idx)
	}

	wantEnv := [][]string{{DefaultPath}, {"PATH=/bin", "A=b"}}
	for i, img := range images {
		d := idx.Manifests[i]
		t.Run(img.Name, func(t *testing.T) {
			wantAnn := map[string]string{AnnotationImageName: img.Name, AnnotationRefName: Tag(img.Name)}
			if !reflect.DeepEqual(d.Annotations, wantAnn) || d.MediaType != MediaTypeManifest ||
				d.Platform == nil || *d.Platform != (Platform{Architecture: "amd64", OS: "linux"}) {
				t.Errorf("index descriptor = %+v", d)
			}
			var m Manifest
			if err := json.Unmarshal(a.blob(t, d), &m); err != nil {
				t.Fatal(err)
			}
			if m.SchemaVersion != 2 || m.MediaType != MediaTypeManifest || m.Config.MediaType != MediaTypeConfig || len(m.Layers) != len(img.Layers) {
				t.Fatalf("manifest = %+v", m)
			}
			var cfg ImageConfig
			if err := json.Unmarshal(a.blob(t, m.Config), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.RootFS.Type != "layers" ||
				len(cfg.RootFS.DiffIDs) != len(m.Layers) || len(cfg.History) != len(m.Layers) {
				t.Fatalf("config = %+v", cfg)
			}
			if !reflect.DeepEqual(cfg.Config.Entrypoint, img.Config.Entrypoint) || !reflect.DeepEqual(cfg.Config.Cmd, img.Config.Cmd) ||
				cfg.Config.User != img.Config.User || !reflect.DeepEqual(cfg.Config.Env, wantEnv[i]) || cfg.Config.WorkingDir != "/" {
				t.Errorf("runtime config = %+v", cfg.Config)
			}
			if len(img.Config.ExposedPorts) != len(cfg.Config.ExposedPorts) {
				t.Errorf("exposed ports = %v", cfg.Config.ExposedPorts)
			}
			for j, ld := range m.Layers {
				if ld.MediaType != MediaTypeLayerGzip {
					t.Errorf("layer %d media type %s", j, ld.MediaType)
				}
				layerEntries(t, a.blob(t, ld), cfg.RootFS.DiffIDs[j])
			}
		})
	}
}

func TestLayerEntries(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Image{Name: "localhost/x:test", Layers: []*Layer{testLayer(t)}}); err != nil {
		t.Fatal(err)
	}
	a := readArchive(t, buf.Bytes())
	var idx Index
	var m Manifest
	var cfg ImageConfig
	if err := json.Unmarshal(a.files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a.blob(t, idx.Manifests[0]), &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a.blob(t, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	got := layerEntries(t, a.blob(t, m.Layers[0]), cfg.RootFS.DiffIDs[0])
	want := []layerEntry{
		{name: "bin", typ: tar.TypeSymlink, mode: 0o777, link: "usr/bin"},
		{name: "coredns", typ: tar.TypeReg, mode: 0o755, data: "x", pax: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, data: "root:x:0:0:root:/root:/sbin/nologin\n"},
		{name: "home/", typ: tar.TypeDir, mode: 0o755},
		{name: "home/nonroot/", typ: tar.TypeDir, mode: 0o700, uid: 65532, gid: 65532},
		{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/tool", typ: tar.TypeReg, mode: 0o755, data: "#!tool\n"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layer entries:\n got %+v\nwant %+v", got, want)
	}
	wantOrder := []string{"oci-layout", "index.json", "blobs/", "blobs/sha256/"}
	if !reflect.DeepEqual(a.order[:4], wantOrder) {
		t.Errorf("archive starts %v, want %v", a.order[:4], wantOrder)
	}
}

func TestWriteIsReproducible(t *testing.T) {
	write := func() []byte {
		var buf bytes.Buffer
		if err := Write(&buf, Image{Name: "localhost/x:test", Layers: []*Layer{testLayer(t)}}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if !bytes.Equal(write(), write()) {
		t.Error("two writes of the same image differ")
	}
}

func TestLayerAddErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*Layer) error
	}{
		{"relative path", func(l *Layer) error { return l.AddFile("etc/passwd", 0o644, nil) }},
		{"root", func(l *Layer) error { return l.AddDir("/", 0o755) }},
		{"file under a file", func(l *Layer) error {
			if err := l.AddFile("/a", 0o644, nil); err != nil {
				return nil
			}
			return l.AddFile("/a/b", 0o644, nil)
		}},
		{"file over a directory", func(l *Layer) error {
			if err := l.AddFile("/a/b", 0o644, nil); err != nil {
				return nil
			}
			return l.AddFile("/a", 0o644, nil)
		}},
		{"hard link", func(l *Layer) error { return l.Add(Entry{Path: "/a", Type: tar.TypeLink}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.setup(NewLayer()); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestTag(t *testing.T) {
	tests := map[string]string{
		"localhost/pause:test":                            "test",
		"localhost:5000/pause":                            "latest",
		"registry.example/e2e-test-images/agnhost:2.66.1": "2.66.1",
		"localhost/coredns:v1.15.0":                       "v1.15.0",
	}
	for name, want := range tests {
		if got := Tag(name); got != want {
			t.Errorf("Tag(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestReadBack(t *testing.T) {
	var buf bytes.Buffer
	img := Image{Name: "localhost/x:test", Layers: []*Layer{testLayer(t)}, Config: Config{Cmd: []string{"/x"}}}
	if err := Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != img.Name || len(got[0].Layers) != 1 || !reflect.DeepEqual(got[0].Config.Config.Cmd, img.Config.Cmd) {
		t.Fatalf("read back %+v", got)
	}
	// A flipped byte in any blob is caught.
	data := buf.Bytes()
	i := bytes.LastIndex(data, []byte(`"schemaVersion":2`))
	corrupt := bytes.Clone(data)
	corrupt[i+len(`"schemaVersion":`)] = '3'
	if _, err := Read(bytes.NewReader(corrupt)); err == nil {
		t.Error("a corrupted blob was read without error")
	}
}
