// Package svcconfig is the record service's configuration file (recordsvc --config): its Go types, a strict
// YAML parser and validation whose errors name the field the way the file spells it (limits.maxStreams).
// Every field is optional: an absent one means "the command-line flag's value", so pointers keep "absent"
// apart from "zero". Listen addresses, the source, the kubeconfig and the TLS files stay flags: they describe
// how a replica is wired into its pod, not how it answers.
package svcconfig

import "github.com/clusterdns/clusterdns/internal/dnsconfig"

// RecordService is the whole configuration file of the record service. Each field mirrors the flag named
// in its comment.
type RecordService struct {
	// LogLevel is debug, info, warn or error (--log-level); applied while serving.
	LogLevel string `json:"logLevel,omitempty"`
	// ClusterDomain is the cluster zone (--cluster-domain).
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// TTL of the records in seconds, 1..2147483647 (--ttl).
	TTL *int64 `json:"ttl,omitempty"`
	// Pods is the pod-record mode: disabled, insecure or verified (--pods).
	Pods string `json:"pods,omitempty"`
	// Autopath completes search paths server-side; needs pods verified (--autopath).
	Autopath *bool `json:"autopath,omitempty"`
	// ZoneAware orders headless answers by the client's zone (--zone-aware).
	ZoneAware *bool `json:"zoneAware,omitempty"`
	// DirectoryLimit is the most Services a namespace may have for its NXDOMAINs to carry their names, 0 for
	// none (--directory-limit).
	DirectoryLimit *int64 `json:"directoryLimit,omitempty"`
	// NameserverService is namespace/name of the Service the zone's NS record names (--nameserver-service).
	NameserverService string `json:"nameserverService,omitempty"`
	// QueryLog logs one line per Lookup (--query-log).
	QueryLog *bool `json:"queryLog,omitempty"`
	// VisibilityPolicy is the visibility policy file (--visibility-policy); that file reloads itself.
	VisibilityPolicy string `json:"visibilityPolicy,omitempty"`
	// AuthzPolicy is the authorization policy file (--authz-policy); that file reloads itself.
	AuthzPolicy string `json:"authzPolicy,omitempty"`
	// Lameduck is how long answers go on after SIGTERM (--lameduck).
	Lameduck *dnsconfig.Duration `json:"lameduck,omitempty"`
	// Healthz bounds when /healthz fails.
	Healthz *Healthz `json:"healthz,omitempty"`
	// Limits are the admission bounds of the gRPC listener.
	Limits *Limits `json:"limits,omitempty"`
}

// Healthz mirrors --healthz-sync-timeout and --healthz-source-failure.
type Healthz struct {
	SyncTimeout   *dnsconfig.Duration `json:"syncTimeout,omitempty"`
	SourceFailure *dnsconfig.Duration `json:"sourceFailure,omitempty"`
}

// Limits mirror --max-connections, --max-connections-per-ip, --max-streams-per-connection, --max-streams
// and --max-streams-per-client; 0 means no limit except for MaxStreamsPerConnection, which is at least 1.
type Limits struct {
	MaxConnections          *int64 `json:"maxConnections,omitempty"`
	MaxConnectionsPerIP     *int64 `json:"maxConnectionsPerIP,omitempty"`
	MaxStreamsPerConnection *int64 `json:"maxStreamsPerConnection,omitempty"`
	MaxStreams              *int64 `json:"maxStreams,omitempty"`
	MaxStreamsPerClient     *int64 `json:"maxStreamsPerClient,omitempty"`
}
