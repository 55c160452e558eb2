# Orderflow. `make run` needs nothing but Go; `make test` also starts its own Redis and
# RabbitMQ (installing them with apt-get when missing and run as root).

GO      ?= go
PKGS    := ./...
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: run build image test test-cluster test-short test-race fuzz rules bench bench-quick generate wire-check lint fmt

run: ## the worker on the embedded default: GoChannel, memory stores, HTTP on 127.0.0.1:8080
	$(GO) run . run

build: ## bin/orderflow
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/orderflow .

# The image is FROM scratch (deploy/Containerfile), so nothing is pulled: the binary is
# built here, static, and the CA certificates are the build host's. podman where it is
# installed, else docker; `make image CONTAINER_TOOL=docker IMAGE=orderflow:1.2` chooses.
IMAGE          ?= orderflow:latest
CONTAINER_TOOL ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
CA_CERTS       ?= /etc/ssl/certs/ca-certificates.crt
IMAGE_CONTEXT  ?= .tmp/image

image: ## container image orderflow:latest (IMAGE): static binary, CA certificates, uid 65532, `orderflow run`
	rm -rf "$(IMAGE_CONTEXT)" && mkdir -p "$(IMAGE_CONTEXT)"
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o "$(IMAGE_CONTEXT)/orderflow" .
	cp "$(CA_CERTS)" "$(IMAGE_CONTEXT)/ca-certificates.crt"
	$(CONTAINER_TOOL) build -f deploy/Containerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) "$(IMAGE_CONTEXT)"

# deploy/validate is a module of its own too (compose-go and k8s.io/api stay out of this
# go.mod): it checks the manifests of deploy/ against handlers.Table() and the config code,
# which it imports through `replace ... => ../..`. -mod=mod: a dependency added to this
# go.mod is then added to its go.mod and go.sum as it builds, instead of failing it.
VALIDATE := $(GO) -C deploy/validate
test: ## every test, unit and integration, against real Redis and RabbitMQ started here; the deploy/ manifests; the alert rules; then every fuzz target
	bash tests/services.sh $(GO) test -count=1 $(PKGS)
	$(VALIDATE) test -mod=mod -count=1 ./...
	$(MAKE) --no-print-directory rules
	$(MAKE) --no-print-directory fuzz

# The cluster tests (tests/cluster_test.go, build tag cluster) start their own 3-node
# RabbitMQ cluster and Redis Cluster of 3 masters and 3 replicas, on top of the servers
# services.sh starts for the harness; -v prints the chaos test's counts.
test-cluster: ## chaos and quorum-queue tests on a 3-node RabbitMQ cluster and a 6-node Redis Cluster started here
	bash tests/services.sh $(GO) test -tags cluster -count=1 -timeout 30m -v -run '^TestCluster_' ./tests/

test-short: ## unit tests only: no servers, no binary
	$(GO) test -count=1 -short $(PKGS)

test-race: ## every test under the race detector
	bash tests/services.sh $(GO) test -count=1 -race $(PKGS)

# Go fuzzes one target per invocation, so each target has its line. `go test` runs their
# seed corpora (testdata/fuzz/<Target>) as unit tests already; this mutates them too.
# Counts of inputs, not durations: with a duration, go1.26's fuzz coordinator can report
# "context deadline exceeded" when a worker is mid-input at the deadline on a busy
# machine (golang/go#75804), which fails the run with no crasher. Each count is a few
# seconds here; FUZZTIME=30s (or 1000000x) applies to every target.
FUZZ_DECODE     ?= 30000x
FUZZ_UNMARSHAL  ?= 20000x
FUZZ_POSTORDERS ?= 15000x
ifdef FUZZTIME
FUZZ_DECODE     = $(FUZZTIME)
FUZZ_UNMARSHAL  = $(FUZZTIME)
FUZZ_POSTORDERS = $(FUZZTIME)
endif

fuzz: ## every fuzz target for a few seconds' worth of inputs (FUZZTIME overrides): event decoding, the AMQP unmarshaler, POST /orders
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_DECODE) ./domain/event
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZ_UNMARSHAL) ./app/adapters/amqpbroker
	$(GO) test -run '^$$' -fuzz '^FuzzPostOrders$$' -fuzztime $(FUZZ_POSTORDERS) ./app/httpapi

# promtool comes with Debian's prometheus package, which tests/services.sh installs when
# missing and run as root. Without it the rules are not checked: a failure under CI=true.
PROMTOOL ?= promtool

rules: ## promtool check rules and promtool test rules on deploy/prometheus/alerts.yaml
	@if command -v $(PROMTOOL) >/dev/null 2>&1; then \
		$(PROMTOOL) check rules deploy/prometheus/alerts.yaml && \
		$(PROMTOOL) test rules deploy/prometheus/alerts_test.yaml; \
	elif [ "$${CI:-}" = true ]; then \
		echo "rules: $(PROMTOOL) is required under CI=true (Debian: apt-get install prometheus)"; exit 1; \
	else \
		echo "rules: $(PROMTOOL) not installed (Debian: apt-get install prometheus); alert rules not checked"; \
	fi

# tests/benchreport is a module of its own (gonum/plot and x/perf stay out of this go.mod).
# It is built there but run from here: it runs `go test ./tests/` and writes -docs/-json
# relative to the working directory, which must be the repository root.
BENCHREPORT := .tmp/benchreport

bench: ## every benchmark in 3 passes (one run of each per pass), against its own RabbitMQ and Redis; writes docs/BENCHMARKS.md, docs/benchmarks.json and plots
	$(GO) -C tests/benchreport build -o "$(CURDIR)/$(BENCHREPORT)" .
	bash tests/services.sh $(BENCHREPORT) -count 3 -docs docs

bench-quick: ## the same benchmarks at small sizes (CI smoke, about 5 minutes here); prints the table
	$(GO) -C tests/benchreport build -o "$(CURDIR)/$(BENCHREPORT)" .
	bash tests/services.sh $(BENCHREPORT) -quick -count 3 -json "$${TMPDIR:-/tmp}/orderflow-bench-quick.json"

generate: ## rebuild wire_gen.go files
	$(GO) tool wire ./ ./tests

wire-check: ## fail when a provider set is broken or wire_gen.go is stale
	$(GO) tool wire check ./ ./tests
	@if ! $(GO) tool wire diff ./ ./tests >/dev/null 2>&1; then \
		$(GO) tool wire diff ./ ./tests; echo "wire_gen.go is stale: run make generate"; exit 1; fi

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags cluster ./tests/
	$(GO) tool staticcheck $(PKGS)
	$(GO) tool staticcheck -tags cluster ./tests/
	$(GO) -C tests/benchreport vet ./...
	sc=$$($(GO) tool -n staticcheck) && cd tests/benchreport && "$$sc" ./...
	$(VALIDATE) vet -mod=mod ./...
	sc=$$($(GO) tool -n staticcheck) && cd deploy/validate && "$$sc" ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
