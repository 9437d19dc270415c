// Package images builds the container images the one-machine test node runs,
// without a Docker engine and without pulling from any registry: every file
// comes from this repository (Go and C builds), from bin/ (CoreDNS, agnhost,
// built from Go modules by make test-deps) or from the host's Debian packages
// (test/images/deps.sh installs them), and package ocilayout writes each image
// as an OCI image layout tar that `ctr -n k8s.io images import` loads.
//
// The images (linux/amd64), by the key that names DIR/<key>.tar:
//
//	frontend           localhost/clusterdns-frontend:test   static ./frontend, as deploy/Dockerfile
//	recordsvc          localhost/clusterdns-recordsvc:test  static ./recordsvc, as deploy/Dockerfile
//	pause              localhost/pause:test                 the sandbox: sleeps until SIGTERM
//	coredns            localhost/coredns:v1.15.0            bin/coredns as /coredns, laid out as upstream's
//	dnsclient-glibc    localhost/dnsclient-glibc:test       Debian glibc userland + dnsloop (glibc)
//	dnsclient-musl     localhost/dnsclient-musl:test        busybox + dnsloop (static musl)
//	dnsclient-go       localhost/dnsclient-go:test          dnsloop (Go, CGO_ENABLED=0) + pause
//	agnhost            the e2e agnhost 2.66.1 name          bin/agnhost + /coredns + the glibc userland
//	glibc-dns-testing  the e2e glibc-dns-testing 2.1.1 name the glibc userland (dig, getent, sh, ...)
//
// Debian has no musl-linked busybox, so dnsclient-musl's busybox is Debian's
// busybox-static, linked statically against glibc; its nslookup sends its own
// queries (it does not call getaddrinfo). musl's resolver is what dnsloop runs
// there: a static musl-gcc build, so its getaddrinfo is musl's own.
//
// The last two carry the names that Kubernetes v1.37.2's
// test/utils/image/manifest.go composes, so that the `[sig-network] DNS`
// conformance specs find them already loaded and never pull.
package images
