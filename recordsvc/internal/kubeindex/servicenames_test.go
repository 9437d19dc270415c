package kubeindex

import (
	"slices"
	"testing"
)

// TestServiceNames applies writes and checks, after each, the names listed
// for each namespace and whether the namespace's services key was
// announced: on a Service's creation or deletion, never on a mere update.
func TestServiceNames(t *testing.T) {
	steps := []struct {
		name  string
		write func(ix *Index)
		// names are the lists expected afterwards, by namespace.
		names map[string][]string
		// announced are the namespaces whose services key the change
		// must carry; every other namespace's must be absent.
		announced []string
	}{
		{"first service", func(ix *Index) { ix.SetService(svc("default", "web", "10.96.0.5")) },
			map[string][]string{"default": {"web"}, "demo": nil}, []string{"default"}},
		{"sorted insert before", func(ix *Index) { ix.SetService(svc("default", "api", "10.96.0.6")) },
			map[string][]string{"default": {"api", "web"}}, []string{"default"}},
		{"sorted insert between", func(ix *Index) { ix.SetService(svc("default", "db", "10.96.0.7")) },
			map[string][]string{"default": {"api", "db", "web"}}, []string{"default"}},
		{"upper-case name listed lower case", func(ix *Index) { ix.SetService(svc("Demo", "Cache")) },
			map[string][]string{"demo": {"cache"}, "DEMO": {"cache"}, "default": {"api", "db", "web"}}, []string{"demo"}},
		{"update is not a creation", func(ix *Index) { ix.SetService(svc("default", "db", "10.96.0.8")) },
			map[string][]string{"default": {"api", "db", "web"}}, nil},
		{"same name other case is an update", func(ix *Index) { ix.SetService(svc("demo", "cache", "10.96.0.9")) },
			map[string][]string{"demo": {"cache"}}, nil},
		{"delete middle", func(ix *Index) { ix.DeleteService("default", "db") },
			map[string][]string{"default": {"api", "web"}}, []string{"default"}},
		{"delete unknown", func(ix *Index) { ix.DeleteService("default", "db") },
			map[string][]string{"default": {"api", "web"}}, nil},
		{"namespace deleted: services stay until their own deletes", func(ix *Index) {
			ix.SetNamespace("demo")
			ix.DeleteNamespace("demo")
		},
			map[string][]string{"demo": {"cache"}}, nil},
		{"last service deleted", func(ix *Index) { ix.DeleteService("DEMO", "CACHE") },
			map[string][]string{"demo": nil}, []string{"demo"}},
		{"replace adds and removes", func(ix *Index) {
			ix.Replace(Snapshot{Namespaces: []string{"default", "other"}, Services: []Service{
				svc("default", "web", "10.96.0.5"), svc("default", "zeta"), svc("other", "b"), svc("other", "a")}})
		}, map[string][]string{"default": {"web", "zeta"}, "other": {"a", "b"}}, []string{"default", "other"}},
		{"replace with only an update", func(ix *Index) {
			ix.Replace(Snapshot{Namespaces: []string{"default", "other"}, Services: []Service{
				svc("default", "web", "10.96.0.50"), svc("default", "zeta"), svc("other", "b"), svc("other", "a")}})
		}, map[string][]string{"default": {"web", "zeta"}, "other": {"a", "b"}}, nil},
		{"replace emptying a namespace", func(ix *Index) {
			ix.Replace(Snapshot{Namespaces: []string{"default", "other"}, Services: []Service{
				svc("default", "web", "10.96.0.50"), svc("default", "zeta")}})
		}, map[string][]string{"default": {"web", "zeta"}, "other": nil}, []string{"other"}},
	}

	ix := New(Config{StartRevision: 1})
	sub := ix.Subscribe(t.Context())
	defer sub.Close()
	for _, step := range steps {
		step.write(ix)
		var keys []string
		for _, c := range drain(sub) {
			keys = append(keys, c.Keys...)
		}
		for _, ns := range []string{"default", "demo", "other"} {
			want := slices.Contains(step.announced, ns)
			if got := slices.Contains(keys, ServicesKey(ns)); got != want {
				t.Errorf("%s: %s announced = %v, want %v (keys %v)", step.name, ServicesKey(ns), got, want, keys)
			}
		}
		for ns, want := range step.names {
			got, ok := ix.ServiceNames(ns, 100)
			if !ok || !slices.Equal(got, want) {
				t.Errorf("%s: ServiceNames(%q) = %q, %v; want %q, true", step.name, ns, got, ok, want)
			}
		}
	}
}

func TestServicesKey(t *testing.T) {
	if got := ServicesKey("Kube-System"); got != "svcs/kube-system" {
		t.Errorf("ServicesKey = %q", got)
	}
}

func TestServiceNamesLimit(t *testing.T) {
	ix := New(Config{})
	for _, name := range []string{"c", "a", "b"} {
		ix.SetService(svc("default", name))
	}
	tests := []struct {
		namespace string
		limit     int
		want      []string
		ok        bool
	}{
		{"default", 3, []string{"a", "b", "c"}, true},
		{"default", 1000, []string{"a", "b", "c"}, true},
		{"default", 2, nil, false},
		{"default", 0, nil, false},
		{"default", -1, nil, false},
		{"empty", 0, nil, true},
		{"empty", -1, nil, false},
	}
	for _, tt := range tests {
		got, ok := ix.ServiceNames(tt.namespace, tt.limit)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ServiceNames(%q, %d) = %q, %v; want %q, %v", tt.namespace, tt.limit, got, ok, tt.want, tt.ok)
		}
	}
}

// TestServiceNamesShared checks that a list handed to a reader never
// changes under it, whatever is written afterwards, and that an append to
// it cannot reach the Index's list.
func TestServiceNamesShared(t *testing.T) {
	ix := New(Config{})
	for _, name := range []string{"a", "c", "e"} {
		ix.SetService(svc("default", name))
	}
	held, _ := ix.ServiceNames("default", 10)
	ix.SetService(svc("default", "b"))
	ix.DeleteService("default", "e")
	ix.SetService(svc("default", "d"))
	if want := []string{"a", "c", "e"}; !slices.Equal(held, want) {
		t.Errorf("held list changed to %q; want %q", held, want)
	}
	again, _ := ix.ServiceNames("default", 10)
	_ = append(again, "zzz")
	ix.SetService(svc("default", "f"))
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(again, want) {
		t.Errorf("second held list changed to %q; want %q", again, want)
	}
	if got, _ := ix.ServiceNames("default", 10); !slices.Equal(got, []string{"a", "b", "c", "d", "f"}) {
		t.Errorf("list %q", got)
	}
}

// TestServiceNamesConcurrent reads lists while Services come and go; run
// with -race it catches a write into a list a reader holds.
func TestServiceNamesConcurrent(t *testing.T) {
	ix := New(Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			names, _ := ix.ServiceNames("default", 1000)
			if !slices.IsSorted(names) {
				t.Errorf("unsorted list %q", names)
				return
			}
		}
	}()
	for i := 0; i < 2000; i++ {
		name := string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		if i%3 == 2 {
			ix.DeleteService("default", name)
		} else {
			ix.SetService(svc("default", name))
		}
	}
	<-done
}
