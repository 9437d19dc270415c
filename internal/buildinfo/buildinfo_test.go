package buildinfo

import (
	"maps"
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestResolve(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name                  string
		ldVersion, ldRevision string
		bi                    *debug.BuildInfo
		wantVersion, wantRev  string
	}{
		{name: "nothing recorded", bi: nil, wantVersion: "devel", wantRev: Unknown},
		{name: "linker only", ldVersion: "v1.2.3", ldRevision: "abc123", bi: nil, wantVersion: "v1.2.3", wantRev: "abc123"},
		{
			name:      "toolchain commit wins over the linker's",
			ldVersion: "v1.2.3", ldRevision: "stale",
			bi:          &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", "deadbeef", "vcs.modified", "false")},
			wantVersion: "v1.2.3", wantRev: "deadbeef",
		},
		{
			name:        "modified work tree",
			bi:          &debug.BuildInfo{GoVersion: "go1.26.0", Settings: settings("vcs.revision", "deadbeef", "vcs.modified", "true")},
			wantVersion: "devel", wantRev: "deadbeef-dirty",
		},
		{
			name:        "go install version",
			ldRevision:  "abc",
			bi:          &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.9.0"}},
			wantVersion: "v0.9.0", wantRev: "abc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.ldVersion, tt.ldRevision, tt.bi)
			if got.Version != tt.wantVersion || got.Revision != tt.wantRev {
				t.Errorf("resolve = %+v, want version %q revision %q", got, tt.wantVersion, tt.wantRev)
			}
			if got.GoVersion == "" {
				t.Error("GoVersion is empty")
			}
		})
	}
}

func TestGauge(t *testing.T) {
	info := Info{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26.0"}
	reg := prometheus.NewRegistry()
	reg.MustRegister(info.Gauge("clusterdns_build_info"), info.Gauge("coredns_build_info"))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"version": "v1.2.3", "revision": "abc", "goversion": "go1.26.0"}
	for _, name := range []string{"clusterdns_build_info", "coredns_build_info"} {
		var found bool
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			found = true
			if len(f.GetMetric()) != 1 {
				t.Fatalf("%s: %d series, want 1", name, len(f.GetMetric()))
			}
			m := f.GetMetric()[0]
			if v := m.GetGauge().GetValue(); v != 1 {
				t.Errorf("%s = %v, want 1", name, v)
			}
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s labels %v, want %v", name, got, want)
			}
		}
		if !found {
			t.Errorf("%s not gathered", name)
		}
	}
	if s := info.String("frontend"); s != "frontend v1.2.3 (revision abc, go1.26.0)" {
		t.Errorf("String = %q", s)
	}
}
