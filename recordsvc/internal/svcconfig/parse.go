package svcconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/clusterdns/clusterdns/internal/dnsconfig"
	"github.com/clusterdns/clusterdns/recordsvc/internal/dnsschema"
)

// Parse reads a configuration file strictly (an unknown or repeated field is an error naming it) and
// validates it. An empty file is a valid configuration that sets nothing.
func Parse(data []byte) (*RecordService, error) {
	var f RecordService
	if err := dnsconfig.DecodeStrict(data, &f); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks every field and returns all problems found, each naming its field ("limits.maxStreams:
// -1: must be 0..2147483647"). Rules that join a field with a flag (autopath needs pods verified) are
// checked once the file is merged with the command line; within the file they are checked here.
func (f *RecordService) Validate() error {
	var errs []error
	addf := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if f.LogLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(f.LogLevel)); err != nil {
			addf("logLevel", "%q: want debug, info, warn or error", f.LogLevel)
		}
	}
	if f.ClusterDomain != "" {
		if _, err := dnsschema.New(dnsschema.Config{Zone: f.ClusterDomain}); err != nil {
			addf("clusterDomain", "%v", err)
		}
	}
	if f.TTL != nil && (*f.TTL < 1 || *f.TTL > math.MaxInt32) {
		addf("ttl", "%d: must be 1..%d seconds", *f.TTL, math.MaxInt32)
	}
	if f.DirectoryLimit != nil && (*f.DirectoryLimit < 0 || *f.DirectoryLimit > math.MaxInt32) {
		addf("directoryLimit", "%d: must be 0..%d Services", *f.DirectoryLimit, math.MaxInt32)
	}
	if f.Pods != "" {
		if _, err := dnsschema.ParsePodMode(f.Pods); err != nil {
			addf("pods", "%v", err)
		}
	}
	verified := f.Pods == "" || f.Pods == "verified" // absent: the flag decides, checked after the merge
	if f.Autopath != nil && *f.Autopath && !verified {
		addf("autopath", "needs pods verified (the client's namespace comes from the watched pods), got pods %s", f.Pods)
	}
	if f.VisibilityPolicy != "" && !verified {
		addf("visibilityPolicy", "needs pods verified (a client's namespace comes from the watched pods), got pods %s", f.Pods)
	}
	if f.NameserverService != "" {
		if _, err := dnsschema.New(dnsschema.Config{NameserverService: f.NameserverService}); err != nil {
			addf("nameserverService", "%v", err)
		}
	}
	for _, p := range []struct {
		field, path string
	}{{"visibilityPolicy", f.VisibilityPolicy}, {"authzPolicy", f.AuthzPolicy}} {
		if p.path != "" && strings.TrimSpace(p.path) != p.path {
			addf(p.field, "%q: leading or trailing spaces", p.path)
		}
	}
	if f.Lameduck != nil && f.Lameduck.D() < 0 {
		addf("lameduck", "%s: must not be negative", f.Lameduck.D())
	}
	if h := f.Healthz; h != nil {
		for _, d := range []struct {
			field string
			d     *dnsconfig.Duration
		}{{"healthz.syncTimeout", h.SyncTimeout}, {"healthz.sourceFailure", h.SourceFailure}} {
			if d.d != nil && d.d.D() <= 0 {
				addf(d.field, "%s: must be positive", d.d.D())
			}
		}
	}
	if l := f.Limits; l != nil {
		for _, n := range []struct {
			field string
			v     *int64
			min   int64
		}{
			{"limits.maxConnections", l.MaxConnections, 0},
			{"limits.maxConnectionsPerIP", l.MaxConnectionsPerIP, 0},
			{"limits.maxStreamsPerConnection", l.MaxStreamsPerConnection, 1},
			{"limits.maxStreams", l.MaxStreams, 0},
			{"limits.maxStreamsPerClient", l.MaxStreamsPerClient, 0},
		} {
			if n.v != nil && (*n.v < n.min || *n.v > math.MaxInt32) {
				addf(n.field, "%d: must be %d..%d", *n.v, n.min, math.MaxInt32)
			}
		}
	}
	return errors.Join(errs...)
}

// Setting is one field the file sets, as the flag it stands for takes it.
type Setting struct {
	// Field is the field's name in the file (limits.maxStreams).
	Field string
	// Flag is the flag's name without dashes (max-streams).
	Flag string
	// Value is the value as the flag parses it.
	Value string
}

// Settings lists the fields f sets, in the file's order of fields.
func (f *RecordService) Settings() []Setting {
	var out []Setting
	str := func(field, flag, v string) {
		if v != "" {
			out = append(out, Setting{field, flag, v})
		}
	}
	boolean := func(field, flag string, v *bool) {
		if v != nil {
			out = append(out, Setting{field, flag, fmt.Sprint(*v)})
		}
	}
	integer := func(field, flag string, v *int64) {
		if v != nil {
			out = append(out, Setting{field, flag, fmt.Sprint(*v)})
		}
	}
	duration := func(field, flag string, v *dnsconfig.Duration) {
		if v != nil {
			out = append(out, Setting{field, flag, time.Duration(*v).String()})
		}
	}
	str("logLevel", "log-level", f.LogLevel)
	str("clusterDomain", "cluster-domain", f.ClusterDomain)
	integer("ttl", "ttl", f.TTL)
	str("pods", "pods", f.Pods)
	boolean("autopath", "autopath", f.Autopath)
	boolean("zoneAware", "zone-aware", f.ZoneAware)
	integer("directoryLimit", "directory-limit", f.DirectoryLimit)
	str("nameserverService", "nameserver-service", f.NameserverService)
	boolean("queryLog", "query-log", f.QueryLog)
	str("visibilityPolicy", "visibility-policy", f.VisibilityPolicy)
	str("authzPolicy", "authz-policy", f.AuthzPolicy)
	duration("lameduck", "lameduck", f.Lameduck)
	if h := f.Healthz; h != nil {
		duration("healthz.syncTimeout", "healthz-sync-timeout", h.SyncTimeout)
		duration("healthz.sourceFailure", "healthz-source-failure", h.SourceFailure)
	}
	if l := f.Limits; l != nil {
		integer("limits.maxConnections", "max-connections", l.MaxConnections)
		integer("limits.maxConnectionsPerIP", "max-connections-per-ip", l.MaxConnectionsPerIP)
		integer("limits.maxStreamsPerConnection", "max-streams-per-connection", l.MaxStreamsPerConnection)
		integer("limits.maxStreams", "max-streams", l.MaxStreams)
		integer("limits.maxStreamsPerClient", "max-streams-per-client", l.MaxStreamsPerClient)
	}
	return out
}
