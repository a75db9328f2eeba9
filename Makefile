# fhir-pep developer and CI entry points. See README.md.
#   make demo    the local demo stack (Ctrl-C stops it; DEMO_ARGS=--once runs
#                the walk-through and stops)
#   make test    everything CI runs
# Both install what they need first: the demo FHIR server's npm packages
# (when missing or older than package-lock.json) and bin/fhir-pep.
#   make build      build bin/fhir-pep (Caddy + standard modules + fhir-pep)
#   make demo-data  regenerate examples/fhir-server/data (examples/demodata)

GO        ?= go
BIN       := bin/fhir-pep
NODE_DIR  := examples/fhir-server
# Written after a successful `npm ci`; make reinstalls when package.json or
# package-lock.json is newer, or node_modules is gone.
NODE_STAMP := $(NODE_DIR)/node_modules/.fhir-pep-npm-ci
DEMO_ARGS ?=
export GOFLAGS := -buildvcs=false

.PHONY: setup node-deps build demo demo-data test test-go test-rego test-node test-alerts vet fmt-check bench bench-e2e clean

# Kept for existing scripts: everything `make demo` and `make test` install.
setup: node-deps
	$(GO) mod download

node-deps: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

# go build is incremental: it only relinks when a source changed.
build:
	$(GO) build -o $(BIN) ./cmd/fhir-pep

demo: build node-deps
	./examples/demo.sh $(DEMO_ARGS)

demo-data:
	$(GO) run ./examples/cmd/gen-demo-data

test: fmt-check vet build node-deps test-go test-node test-alerts

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The purego build of enforce is its pure-Go scanner path (scanstring_other.go)
# on every machine: vetted and tested too, not only on CPUs without AVX2.
# enforce also has files for one GOARCH or GOOS only (the amd64 assembly, the
# unix page-guard test): a vet for a non-amd64, non-Linux unix type-checks
# the other side of each, which no Linux/amd64 run compiles.
vet:
	$(GO) vet ./...
	$(GO) vet -tags purego ./enforce/
	GOOS=freebsd GOARCH=arm64 $(GO) vet ./enforce/

# FHIR_PEP_BIN lets the end-to-end suite use the binary just built instead
# of compiling its own. The allocation budgets of a decision run without
# -race: the race detector's sync.Pool drops items at random.
test-go:
	FHIR_PEP_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -tags purego -count=1 ./enforce/
	$(GO) test -count=1 -run 'TestDecisionAllocationBudget' ./policy/

test-rego:
	$(GO) test -count=1 -run 'Rego|Policies' ./policies/ ./policy/

test-node: node-deps
	cd $(NODE_DIR) && npm test

# promtool comes with Debian's prometheus package; .ci/run installs it, so
# CI always runs these. Elsewhere they are skipped, saying so.
test-alerts:
	@if command -v promtool >/dev/null 2>&1; then \
		promtool check rules examples/prometheus/alerts.yml && \
		promtool test rules examples/prometheus/alerts_test.yml && \
		promtool check config examples/prometheus/prometheus-demo.yml; \
	else \
		echo "test-alerts: SKIPPED: promtool not found (apt-get install prometheus, or see examples/prometheus/README.md)"; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./introspection/ ./caddymodule/ ./policy/ ./enforce/ ./smart/ ./fhir/ ./trust/

# Throughput of fhir-pep against plain reverse_proxy from the same binary
# (docs/benchmarks.md). Not part of `make test`; `go vet ./...` compiles it.
#   make bench-e2e BENCH_ARGS='-rounds 3 -duration 5s -profile /tmp/prof'
BENCH_ARGS ?= -rounds 3 -duration 5s
bench-e2e: build
	$(GO) run ./cmd/bench-e2e -bin $(BIN) $(BENCH_ARGS)

clean:
	rm -rf bin
