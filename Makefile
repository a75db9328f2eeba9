# fhir-pep developer and CI entry points. See README.md.
#   make setup   install everything the build, the tests and the demo need
#   make build   build bin/fhir-pep (Caddy + standard modules + fhir-pep)
#   make demo    run the local demo stack (Ctrl-C stops it)
#   make test    everything CI runs

GO        ?= go
BIN       := bin/fhir-pep
NODE_DIR  := examples/fhir-server
export GOFLAGS := -buildvcs=false

.PHONY: setup build demo test test-go test-rego test-node vet fmt-check bench fuzz clean

setup:
	$(GO) mod download
	cd $(NODE_DIR) && npm ci --no-audit --no-fund

build:
	$(GO) build -o $(BIN) ./cmd/fhir-pep

demo: build
	./examples/demo.sh

test: fmt-check vet build test-go test-node

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# FHIR_PEP_BIN lets the end-to-end suite use the binary just built instead
# of compiling its own.
test-go:
	FHIR_PEP_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 30m ./...

test-rego:
	$(GO) test -count=1 -run 'Rego|Policies' ./policies/ ./policy/

test-node:
	cd $(NODE_DIR) && npm test

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./introspection/ ./caddymodule/ ./policy/ ./enforce/ ./smart/ ./fhir/ ./trust/

clean:
	rm -rf bin
