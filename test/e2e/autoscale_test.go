package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/clusterdns/clusterdns/test/kubecluster"
)

// autoscaleComponents are the Components of deploy/autoscale/ and the
// objects each adds to the base.
var autoscaleComponents = []struct {
	name  string
	added []string
}{
	{"proportional", []string{
		"configmap/clusterdns-frontend-autoscaler",
		"deployment.apps/clusterdns-frontend-autoscaler",
		"serviceaccount/clusterdns-frontend-autoscaler",
		"clusterrole.rbac.authorization.k8s.io/clusterdns-frontend-autoscaler",
		"clusterrolebinding.rbac.authorization.k8s.io/clusterdns-frontend-autoscaler",
		"role.rbac.authorization.k8s.io/clusterdns-frontend-autoscaler",
		"rolebinding.rbac.authorization.k8s.io/clusterdns-frontend-autoscaler",
	}},
	{"hpa", []string{"horizontalpodautoscaler.autoscaling/clusterdns-frontend"}},
}

// TestAutoscaleComponents renders the base with each autoscaling Component
// as a user's kustomization would, checks that the frontend Deployment no
// longer states a replica count (the autoscaler owns it) while the record
// service keeps its own, and has the API server's validation and admission
// accept every object (server-side dry run).
func TestAutoscaleComponents(t *testing.T) {
	t.Parallel()
	c := kubecluster.Start(t)
	for _, tc := range autoscaleComponents {
		t.Run(tc.name, func(t *testing.T) {
			manifest := renderWithComponent(t, c, tc.name)
			objs := decodeManifest(t, manifest)
			for _, o := range objs {
				if o.GetKind() != "Deployment" {
					continue
				}
				replicas, found, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
				switch o.GetName() {
				case "clusterdns-frontend":
					if found {
						t.Errorf("frontend Deployment states replicas %d; the autoscaler should own them", replicas)
					}
				case "clusterdns-recordsvc":
					if !found || replicas != 2 {
						t.Errorf("record service Deployment: replicas %d (stated %v), want 2", replicas, found)
					}
				}
			}
			if tc.name == "hpa" {
				checkHPA(t, objs)
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := c.RunKubectl(ctx, manifest, "apply", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for line := range strings.Lines(out) {
				name, outcome, _ := strings.Cut(strings.TrimSpace(line), " ")
				if outcome != "created (server dry run)" {
					t.Errorf("dry run: %q, want `<object> created (server dry run)`", line)
				}
				got = append(got, name)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(append(slices.Clone(deployObjects), tc.added...)))
			if !slices.Equal(got, want) {
				t.Errorf("dry run created\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// checkHPA checks the HorizontalPodAutoscaler's bounds and the behavior
// that keeps it from flapping.
func checkHPA(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "HorizontalPodAutoscaler" })
	if i < 0 {
		t.Fatal("no HorizontalPodAutoscaler rendered")
	}
	spec := objs[i].Object["spec"]
	target, _, _ := unstructured.NestedString(objs[i].Object, "spec", "scaleTargetRef", "name")
	minReplicas, _, _ := unstructured.NestedInt64(objs[i].Object, "spec", "minReplicas")
	window, _, _ := unstructured.NestedInt64(objs[i].Object, "spec", "behavior", "scaleDown", "stabilizationWindowSeconds")
	metrics, _, _ := unstructured.NestedSlice(objs[i].Object, "spec", "metrics")
	if target != "clusterdns-frontend" || minReplicas < 2 || window < 300 || len(metrics) != 1 {
		t.Errorf("HorizontalPodAutoscaler spec %v: want the frontend Deployment, at least 2 replicas, a scale-down window of at least 5 minutes and one (CPU) metric", spec)
	}
}

// renderWithComponent runs `kubectl kustomize` on a kustomization, outside
// the repository, that takes deploy/ as its resource and
// deploy/autoscale/<component> as a Component.
func renderWithComponent(t *testing.T, c *kubecluster.Cluster, component string) string {
	t.Helper()
	dir := t.TempDir()
	deploy, err := filepath.Abs(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	// kustomize takes only relative paths to other kustomizations.
	rel, err := filepath.Rel(dir, deploy)
	if err != nil {
		t.Fatal(err)
	}
	k := "resources: [" + rel + "]\ncomponents: [" + filepath.Join(rel, "autoscale", component) + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return c.Kubectl(t, "kustomize", dir)
}

// decodeManifest splits a multi-document YAML manifest into objects.
func decodeManifest(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		// Through JSON, so that integers decode as int64 as unstructured's
		// accessors expect.
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode rendered manifest: %v", err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var o unstructured.Unstructured
		if err := o.UnmarshalJSON(raw); err != nil {
			t.Fatalf("decode rendered object: %v", err)
		}
		objs = append(objs, &o)
	}
}
