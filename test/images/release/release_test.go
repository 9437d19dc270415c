package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clusterdns/clusterdns/test/images"
	"github.com/clusterdns/clusterdns/test/images/ocilayout"
)

// TestBuild builds the release images twice from the same inputs and checks
// that the layouts are byte for byte the same, that each index holds exactly
// linux/amd64 and linux/arm64 in deploy/Dockerfile's shape, and that the
// binaries inside are what they claim: the amd64 one runs and reports the
// stamped version with --version and in clusterdns_build_info while serving,
// the arm64 one is an aarch64 ELF; and that containerd imports the frontend
// layout and runs it.
func TestBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	created := time.Date(2026, 11, 30, 12, 34, 56, 0, time.UTC)
	const version, revision = "v9.8.7-releasetest", "0123456789abcdef0123456789abcdef01234567"
	// Both builds compile one snapshot of the sources, copied to two
	// paths: the work tree may change between them, and -trimpath must keep
	// the path out of the binaries.
	src := snapshot(t, "../../..")
	build := func(name string) (string, []Image) {
		base := t.TempDir()
		repo := filepath.Join(base, "src")
		copyTree(t, src, repo)
		out := filepath.Join(base, "out")
		imgs, err := Build(ctx, Options{
			RepoDir: repo, OutDir: out, WorkDir: filepath.Join(base, "work"),
			Repository: "example/clusterdns", Version: version, Revision: revision, Created: created,
		})
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		return out, imgs
	}
	out1, first := build("first")
	out2, second := build("second")

	tests := []struct {
		cmd   string
		ports []string
	}{
		{"frontend", []string{"53/tcp", "53/udp", "9153/tcp"}},
		{"recordsvc", []string{"9090/tcp", "9153/tcp"}},
	}
	if len(first) != len(tests) || len(second) != len(tests) {
		t.Fatalf("built %d and %d images, want %d each", len(first), len(second), len(tests))
	}
	// The amd64 binaries, extracted from the images, for TestBuild/serve.
	amd64 := t.TempDir()
	for i, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			a, b := first[i], second[i]
			if a.Command != tc.cmd || a.Name != "example/clusterdns/"+tc.cmd+":"+version {
				t.Fatalf("image %d is %s %s", i, a.Command, a.Name)
			}
			if a.Digest != b.Digest {
				t.Errorf("index digests differ between builds: %s, %s", a.Digest, b.Digest)
			}
			if ta, tb := tree(t, filepath.Join(out1, tc.cmd)), tree(t, filepath.Join(out2, tc.cmd)); !reflect.DeepEqual(ta, tb) {
				t.Errorf("layouts differ between builds:\n%v\n%v", keys(ta), keys(tb))
			}

			l := readLayout(t, a.Dir)
			if len(l.top.Manifests) != 1 {
				t.Fatalf("index.json lists %d entries, want one image index", len(l.top.Manifests))
			}
			d := l.top.Manifests[0]
			if d.MediaType != ocilayout.MediaTypeIndex || d.Digest != a.Digest ||
				d.Annotations[ocilayout.AnnotationRefName] != version || d.Annotations[ocilayout.AnnotationImageName] != a.Name {
				t.Errorf("index.json entry %+v", d)
			}
			var idx ocilayout.Index
			l.decode(t, d, &idx)
			checkAnnotations(t, "index", idx.Annotations, version, revision)

			want := images.ClusterDNSConfig(tc.cmd)
			var platforms []string
			for _, md := range idx.Manifests {
				if md.Platform == nil {
					t.Fatalf("manifest %s has no platform", md.Digest)
				}
				arch := md.Platform.Architecture
				platforms = append(platforms, md.Platform.OS+"/"+arch)
				var m ocilayout.Manifest
				l.decode(t, md, &m)
				checkAnnotations(t, arch+" manifest", m.Annotations, version, revision)
				var cfg ocilayout.ImageConfig
				l.decode(t, m.Config, &cfg)
				var ports []string
				for p := range cfg.Config.ExposedPorts {
					ports = append(ports, p)
				}
				sort.Strings(ports)
				if cfg.Architecture != arch || cfg.OS != "linux" || cfg.Created != created.Format(time.RFC3339) ||
					cfg.Config.User != want.User || !reflect.DeepEqual(cfg.Config.Entrypoint, want.Entrypoint) || !reflect.DeepEqual(ports, tc.ports) {
					t.Errorf("%s config %+v", arch, cfg)
				}
				checkAnnotations(t, arch+" config labels", cfg.Config.Labels, version, revision)
				if len(m.Layers) != 1 {
					t.Fatalf("%s: %d layers, want 1", arch, len(m.Layers))
				}
				bin := l.binary(t, m.Layers[0], cfg.RootFS.DiffIDs[0], tc.cmd, created)
				checkBinary(ctx, t, arch, tc.cmd, bin, version, revision)
				if arch == "amd64" {
					if err := os.WriteFile(filepath.Join(amd64, tc.cmd), bin, 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !reflect.DeepEqual(platforms, []string{"linux/amd64", "linux/arm64"}) {
				t.Errorf("platforms %v, want exactly linux/amd64 and linux/arm64", platforms)
			}
		})
	}
	t.Run("serve", func(t *testing.T) {
		checkServe(t, amd64, version, revision)
	})
	t.Run("containerd", func(t *testing.T) {
		checkContainerd(t, first[0].Dir, first[0].Name, version, revision)
	})
}

func checkAnnotations(t *testing.T, what string, got map[string]string, version, revision string) {
	t.Helper()
	if got[ocilayout.AnnotationVersion] != version || got[ocilayout.AnnotationRevision] != revision {
		t.Errorf("%s annotations %v, want version %s and revision %s", what, got, version, revision)
	}
}

// checkBinary runs the amd64 binary (the test host's architecture) with
// --version and checks the machine of the others' ELF headers.
func checkBinary(ctx context.Context, t *testing.T, arch, cmd string, bin []byte, version, revision string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s /%s: %v", arch, cmd, err)
	}
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != wantMachine {
		t.Errorf("%s /%s is for %v, want %v", arch, cmd, f.Machine, wantMachine)
	}
	if arch != "amd64" {
		return
	}
	path := filepath.Join(t.TempDir(), cmd)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", cmd, err, out)
	}
	got := strings.TrimSpace(string(out))
	if want := cmd + " " + version + " (revision " + revision + ","; !strings.HasPrefix(got, want) {
		t.Errorf("%s --version printed %q, want it to start with %q", cmd, got, want)
	}
}

// layout is an OCI image layout directory read back for checking.
type layout struct {
	dir string
	top ocilayout.Index
}

func readLayout(t *testing.T, dir string) layout {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Version != ocilayout.LayoutVersion {
		t.Fatalf("oci-layout %s: %v", b, err)
	}
	l := layout{dir: dir}
	b, err = os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &l.top); err != nil || l.top.SchemaVersion != 2 {
		t.Fatalf("index.json %s: %v", b, err)
	}
	return l
}

// blob reads the blob d names and checks it against d's digest and size.
func (l layout) blob(t *testing.T, d ocilayout.Descriptor) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q is not sha256", d.Digest)
	}
	b, err := os.ReadFile(filepath.Join(l.dir, "blobs", "sha256", hexDigest))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != hexDigest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s does not match its descriptor (size %d)", d.Digest, len(b))
	}
	return b
}

func (l layout) decode(t *testing.T, d ocilayout.Descriptor, v any) {
	t.Helper()
	if err := json.Unmarshal(l.blob(t, d), v); err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
}

// binary unpacks the layer, checks that it matches its diff ID and that
// every entry is root-owned, dated created and in sorted order, and returns
// the content of /cmd.
func (l layout) binary(t *testing.T, d ocilayout.Descriptor, diffID, cmd string, created time.Time) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(l.blob(t, d)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != diffID {
		t.Fatalf("layer %s does not match diff ID %s", d.Digest, diffID)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var names []string
	var bin []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(created) {
			t.Errorf("layer entry %s: owner %d:%d, time %v; want 0:0 at %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime, created)
		}
		if hdr.Name == cmd {
			if hdr.Mode != 0o755 || hdr.Typeflag != tar.TypeReg {
				t.Errorf("%s: mode %o type %q, want a 0755 file", cmd, hdr.Mode, hdr.Typeflag)
			}
			if bin, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !sort.StringsAreSorted(names) || bin == nil {
		t.Fatalf("layer entries %v: want them sorted, with %s", names, cmd)
	}
	return bin
}

// tree maps every file under dir to its content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
