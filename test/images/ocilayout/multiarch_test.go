package ocilayout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWriteDir covers what the release build relies on beyond the bytes:
// one platform per manifest, and an output path that is replaced only when
// it holds an image layout (or nothing).
func TestWriteDir(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	image := func(archs ...string) MultiImage {
		mi := MultiImage{Name: "example/app:v1", Created: created}
		for _, a := range archs {
			l := NewLayerAt(created)
			if err := l.AddFile("/app", 0o755, []byte("binary for "+a)); err != nil {
				t.Fatal(err)
			}
			mi.Platforms = append(mi.Platforms, PlatformImage{
				Platform: Platform{OS: "linux", Architecture: a},
				Config:   Config{Entrypoint: []string{"/app"}},
				Layers:   []*Layer{l},
			})
		}
		return mi
	}
	tests := []struct {
		name    string
		prepare func(dir string) // what is at dir beforehand
		img     MultiImage
		wantErr string // "" for success
	}{
		{"new directory", func(string) {}, image("amd64", "arm64"), ""},
		{"empty directory", func(d string) { mkdir(t, d) }, image("amd64", "arm64"), ""},
		{"previous layout", func(d string) {
			mkdir(t, d)
			writeTestFile(t, filepath.Join(d, "oci-layout"), "{}")
			writeTestFile(t, filepath.Join(d, "blobs", "sha256", "stale"), "old")
		}, image("amd64"), ""},
		{"not a layout", func(d string) {
			mkdir(t, d)
			writeTestFile(t, filepath.Join(d, "notes.txt"), "keep me")
		}, image("amd64"), "is not an OCI image layout"},
		{"repeated platform", func(string) {}, image("amd64", "amd64"), "repeated"},
		{"no platform", func(string) {}, image(), "needs a name and a platform"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			tc.prepare(dir)
			d, err := WriteDir(dir, tc.img)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("WriteDir: %v, want an error containing %q", err, tc.wantErr)
				}
				if tc.name == "not a layout" {
					if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "keep me" {
						t.Errorf("the existing file was touched: %q, %v", b, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.MediaType != MediaTypeIndex || d.Annotations[AnnotationRefName] != "v1" {
				t.Errorf("descriptor %+v", d)
			}
			blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
			if err != nil {
				t.Fatal(err)
			}
			// Per platform a layer, a config and a manifest, plus the index.
			if want := 3*len(tc.img.Platforms) + 1; len(blobs) != want {
				t.Errorf("%d blobs, want %d (a stale blob left behind?)", len(blobs), want)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	mkdir(t, filepath.Dir(name))
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
