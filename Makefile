# clusterdns make targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
BUF_VERSION := v1.75.0
BUF        := $(BIN)/buf
KUBE_APISERVER := $(BIN)/kube-apiserver
KUBECTL    := $(BIN)/kubectl
KUBE_NODE_BINS := $(BIN)/kubelet $(BIN)/kube-proxy $(BIN)/kube-controller-manager $(BIN)/kube-scheduler
KUBENODE   := $(BIN)/kubenode
NODE_STATE ?= /var/lib/clusterdns-node
GO_PKGS    := ./frontend/... ./recordsvc/... ./clusterdnsctl/... ./grpcresolver/... ./proto/... ./internal/...
RUN_RECORDSVC_LISTEN ?= 127.0.0.1:9090
RUN_FRONTEND_LISTEN  ?= 127.0.0.1:1053
RUN_SOURCE           ?= deploy/examples/cluster.yaml
RUN_METRICS_LISTEN   ?= 127.0.0.1:9153
FUZZTIME   ?= 20s
# What --version and the build_info metrics report.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILDINFO  := github.com/clusterdns/clusterdns/internal/buildinfo
LDFLAGS    := -s -w -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).revision=$(REVISION)
KUBE_VERSION_PKG := k8s.io/component-base/version
KUBE_LDFLAGS := -X $(KUBE_VERSION_PKG).gitVersion=v1.37.2 -X $(KUBE_VERSION_PKG).gitMajor=1 -X $(KUBE_VERSION_PKG).gitMinor=37

export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/frontend, bin/recordsvc and bin/clusterdnsctl, stamped with VERSION and REVISION
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./frontend ./recordsvc ./clusterdnsctl

.PHONY: images
images: ## release images of frontend and recordsvc for linux/amd64 and linux/arm64, no Docker engine: OCI layouts in bin/images/<command>/ (reproducible: dated SOURCE_DATE_EPOCH, else the commit time)
	go run ./test/images/cmd/releaseimages -out $(BIN)/images -version '$(VERSION)' -revision '$(REVISION)'

.PHONY: run
run: build ## run the record service on deploy/examples/cluster.yaml and a frontend on 127.0.0.1:1053
	@echo "record service on $(RUN_RECORDSVC_LISTEN) (source $(RUN_SOURCE)), frontend on $(RUN_FRONTEND_LISTEN)"
	@echo "try:  dig @$(subst :, -p ,$(RUN_FRONTEND_LISTEN)) kubernetes.default.svc.cluster.local"
	@echo "cache hits: curl -s http://$(RUN_METRICS_LISTEN)/metrics | grep cache_hits"
	@echo "edit $(RUN_SOURCE) to add Services; Ctrl-C stops both"
	@$(BIN)/recordsvc --listen $(RUN_RECORDSVC_LISTEN) --source file:$(RUN_SOURCE) & rs=$$!; \
	$(BIN)/frontend --listen $(RUN_FRONTEND_LISTEN) --recordsvc $(RUN_RECORDSVC_LISTEN) \
	  --metrics-listen $(RUN_METRICS_LISTEN) & fe=$$!; \
	trap 'kill $$fe $$rs 2>/dev/null; wait' INT TERM; \
	wait -n; kill $$fe $$rs 2>/dev/null; wait

.PHONY: test-deps
test-deps: $(BUF) $(KUBE_APISERVER) $(KUBECTL) ## install what the tests need (etcd, kube-apiserver, kubectl, buf, promtool, dnsperf, NSD, CoreDNS)
	@command -v etcd >/dev/null || { \
	  echo "installing Debian's etcd-server"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; }
	@command -v etcd >/dev/null || { echo "etcd is still missing after apt-get install etcd-server" >&2; exit 1; }
	@command -v promtool >/dev/null || { \
	  echo "installing Debian's prometheus (for promtool, which checks deploy/monitoring)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }
	@command -v promtool >/dev/null || { echo "promtool is still missing after apt-get install prometheus" >&2; exit 1; }
	bash bench/setup.sh

$(BUF):
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

# The API server, kubectl and the node's components come from k8s.io/kubernetes,
# built in a module of their own (test/kubeapiserver) so the main module never
# depends on it.
$(KUBE_APISERVER) $(KUBECTL) $(KUBE_NODE_BINS) &: test/kubeapiserver/go.mod test/kubeapiserver/go.sum $(wildcard test/kubeapiserver/cmd/*/main.go)
	cd test/kubeapiserver && go build -ldflags '$(KUBE_LDFLAGS)' -o $(BIN)/ ./cmd/kube-apiserver ./cmd/kubectl \
	  ./cmd/kubelet ./cmd/kube-proxy ./cmd/kube-controller-manager ./cmd/kube-scheduler

# Kubernetes' e2e suite with its sig-network specs, for the DNS conformance
# specs run against the node (test/nodee2e).
$(BIN)/e2e.test: test/kubeapiserver/go.mod test/kubeapiserver/go.sum test/kubeapiserver/e2e/e2e_test.go
	cd test/kubeapiserver && go test -c -ldflags '$(KUBE_LDFLAGS)' -o $(BIN)/e2e.test ./e2e
test-deps: $(BIN)/e2e.test

.PHONY: test
test: test-deps check-generate lint ## install what is missing, then run every test (unit, fuzz corpus, integration)
	go test -count=1 -race $(GO_PKGS)
	$(MAKE) --no-print-directory fuzz
	go test -count=1 -timeout 30m $$(go list ./test/... | grep -v '/test/nodee2e$$')
	go test -count=1 -timeout 20m ./bench/ ./bench/fanout/
	go test -count=1 -timeout 60m ./test/nodee2e/

.PHONY: node-deps
node-deps: $(KUBE_NODE_BINS) $(BIN)/agnhost ## install what the one-machine node needs (containerd, runc, CNI plugins, iptables; kubelet, kube-proxy, controller manager, scheduler)
	bash test/kubenode/install-deps.sh
	bash test/images/deps.sh
test-deps: node-deps

# agnhost, the e2e suite's test image program, goes into an image of test/images.
$(BIN)/agnhost: test/kubeapiserver/go.mod test/kubeapiserver/go.sum
	cd test/kubeapiserver && go build -o $(BIN)/agnhost k8s.io/kubernetes/test/images/agnhost

.PHONY: cluster-up
cluster-up: test-deps ## start the one-machine node with clusterdns as its DNS (idempotent); the last line is `export KUBECONFIG=...`
	go build -o $(KUBENODE) ./test/kubenode/cmd/kubenode
	$(KUBENODE) up -detach -state $(NODE_STATE) >/dev/null
	$(KUBENODE) deploy -state $(NODE_STATE)

.PHONY: cluster-down
cluster-down: ## remove the node of cluster-up and everything it made (idempotent)
	go build -o $(KUBENODE) ./test/kubenode/cmd/kubenode
	$(KUBENODE) down -state $(NODE_STATE)

.PHONY: bench
bench: test-deps ## side-by-side benchmarks vs CoreDNS and NSD at full scale (~15 min); writes bench/results/
	CLUSTERDNS_BENCH=full go test -count=1 -timeout 40m -run TestBenchmarkSuite -v ./bench/

.PHONY: bench-go
bench-go: ## Go benchmarks of the frontend's hot paths and the record service's answer path, with allocations
	go test -run='^$$' -bench=. -benchmem ./frontend/internal/dnsserver ./frontend/internal/dnscache ./frontend/internal/forward
	go test -run='^$$' -bench=LookupMiss -benchmem ./recordsvc/internal/recordserver

.PHONY: bench-fanout
bench-fanout: test-deps ## one record service and 5,000 Watch subscribers under churn, restarted (~15 min); writes bench/results/fanout.md
	CLUSTERDNS_FANOUT=full go test -count=1 -timeout 60m -run TestFanout -v ./bench/fanout/

.PHONY: bench-relist
bench-relist: test-deps ## record-service RSS through a relist forced by a kube-apiserver restart, 10k Services/100k Pods (~8 min); writes bench/results/relist.md
	CLUSTERDNS_RELIST=1 go test -count=1 -timeout 60m -run TestRelist -v ./bench/fanout/

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	go test -run='^$$' -fuzz=FuzzHandler -fuzztime=$(FUZZTIME) ./frontend/internal/dnsserver
	go test -run='^$$' -fuzz=FuzzParseRaw -fuzztime=$(FUZZTIME) ./frontend/internal/dnsserver
	go test -run='^$$' -fuzz=FuzzToMsg -fuzztime=$(FUZZTIME) ./frontend/internal/recordclient

.PHONY: generate
generate: $(BUF) ## regenerate the gRPC code from proto/
	buf generate

.PHONY: check-generate
check-generate: $(BUF) ## fail when the generated code is stale
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	buf generate -o $$tmp && \
	for f in $$(cd $$tmp && find . -name '*.go'); do \
	  cmp -s $$tmp/$$f $$f || { echo "generated code is stale: $$f (run make generate)" >&2; exit 1; }; \
	done && echo "generated code is up to date"

# buf breaking compares the API with the previous commit (HEAD~1: on main,
# the commit before the last merge or push). A shallow clone of depth 1, or a
# copy without git history, has no previous commit to compare with: the
# check is then skipped, and says so, rather than failing every such build.
BUF_BREAKING_AGAINST ?= .git\#ref=HEAD~1

.PHONY: lint
lint: $(BUF) ## go vet, gofmt, buf lint, buf format and buf breaking against the previous commit
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' | grep -v '\.pb\.go$$' | grep -v '^test/kubeapiserver/')); \
	  [ -z "$$out" ] || { echo "gofmt would change: $$out" >&2; exit 1; }
	buf lint
	buf format -d --exit-code
	@if git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null 2>&1; then \
	  echo "buf breaking --against '$(BUF_BREAKING_AGAINST)'"; \
	  buf breaking --against '$(BUF_BREAKING_AGAINST)'; \
	else \
	  echo "buf breaking: skipped: no previous commit (shallow clone or no git history)"; \
	fi

.PHONY: clean
clean: ## remove built binaries (keeps the kube-apiserver build cache)
	rm -f $(BIN)/frontend $(BIN)/recordsvc $(BIN)/clusterdnsctl
