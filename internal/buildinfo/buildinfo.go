// Package buildinfo tells which version and commit a clusterdns binary was
// built from, for --version and for the build-info metric of /metrics.
//
// The version is stamped at link time:
//
//	go build -ldflags "-X github.com/clusterdns/clusterdns/internal/buildinfo.version=v1.2.3"
//
// The commit is the vcs.revision the Go toolchain records when it builds
// inside a git work tree; a build without one (an image built from a copy
// of the sources, or -buildvcs=false for a reproducible build) gets it from
// the link-time variable revision instead.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are set with -ldflags -X at link time. They are the
// package's only mutable state, written by the linker and never at run
// time, which is why they are variables and not constants.
var (
	version  string
	revision string
)

// Unknown is reported for what the build did not record.
const Unknown = "unknown"

// Info is what a binary knows of its build.
type Info struct {
	// Version is the release version stamped at link time, else the main
	// module's version when built with go install, else "devel".
	Version string
	// Revision is the git commit, with "-dirty" appended when the work tree
	// had changes; Unknown when neither the toolchain nor the linker
	// recorded it.
	Revision string
	// GoVersion is the Go release the binary was built with.
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, revision, bi)
}

// resolve chooses among the link-time values and what the toolchain
// recorded (bi may be nil): the linker's version wins, since a release
// build states it on purpose; the toolchain's commit wins, since it cannot
// go stale the way a value passed by hand can.
func resolve(ldVersion, ldRevision string, bi *debug.BuildInfo) Info {
	info := Info{Version: ldVersion, Revision: ldRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		var vcsRevision string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if vcsRevision != "" {
			info.Revision = vcsRevision
			if modified {
				info.Revision += "-dirty"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Revision == "" {
		info.Revision = Unknown
	}
	return info
}

// String is the line --version prints for the named program.
func (i Info) String(program string) string {
	return fmt.Sprintf("%s %s (revision %s, %s)", program, i.Version, i.Revision, i.GoVersion)
}

// Gauge returns a gauge named name, always 1, whose labels version,
// revision and goversion carry i: the usual shape of a build-info metric,
// which queries join on to label other series with the version.
func (i Info) Gauge(name string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: name,
		Help: "A metric with a constant '1' value labeled by the version, revision and Go version the binary was built from.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"revision":  i.Revision,
			"goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
