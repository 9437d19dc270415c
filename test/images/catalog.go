package images

import (
	"fmt"
	"sort"
	"strings"
)

// The images' references.
const (
	FrontendImage        = "localhost/clusterdns-frontend:test"
	RecordsvcImage       = "localhost/clusterdns-recordsvc:test"
	PauseImage           = "localhost/pause:test"
	CoreDNSImage         = "localhost/coredns:v1.15.0"
	DNSClientGlibcImage  = "localhost/dnsclient-glibc:test"
	DNSClientMuslImage   = "localhost/dnsclient-musl:test"
	DNSClientGoImage     = "localhost/dnsclient-go:test"
	AgnhostImage         = "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
	GlibcDNSTestingImage = "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1"
)

// Spec names one image the catalog can build.
type Spec struct {
	Key  string // file name stem and -only name
	Name string // image reference
}

// Catalog lists every image, in build order.
func Catalog() []Spec {
	return []Spec{
		{"frontend", FrontendImage},
		{"recordsvc", RecordsvcImage},
		{"pause", PauseImage},
		{"coredns", CoreDNSImage},
		{"dnsclient-glibc", DNSClientGlibcImage},
		{"dnsclient-musl", DNSClientMuslImage},
		{"dnsclient-go", DNSClientGoImage},
		{"agnhost", AgnhostImage},
		{"glibc-dns-testing", GlibcDNSTestingImage},
	}
}

// Select returns the catalog entries named by keys (all when keys is empty),
// in catalog order.
func Select(keys []string) ([]Spec, error) {
	all := Catalog()
	if len(keys) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	var out []Spec
	for _, s := range all {
		if want[s.Key] {
			out = append(out, s)
			delete(want, s.Key)
		}
	}
	if len(want) > 0 {
		var unknown, known []string
		for k := range want {
			unknown = append(unknown, k)
		}
		for _, s := range all {
			known = append(known, s.Key)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown image %s (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}
