# ExecutionOrchestrator. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
TEMPORAL_CLI_VERSION := 1.5.1

.PHONY: run test build bench browser-deps fmt vet clean

run: bin/temporal bin/orchestrator
	./bin/orchestrator dev

build: bin/orchestrator

bin/orchestrator: $(shell find . -name '*.go' -not -path './tools/*' -not -path './tests/browser/node_modules/*') go.mod go.sum
	$(GO) build -o $@ ./cmd/orchestrator

# The Temporal CLI (dev server + Web UI) is pinned in the nested module
# tools/temporal so its dependencies stay out of ours. Built once, then cached.
bin/temporal: tools/temporal/go.mod tools/temporal/go.sum
	@echo ">> building the Temporal CLI v$(TEMPORAL_CLI_VERSION) into bin/temporal (first build takes about 3 minutes; cached afterwards)"
	@mkdir -p bin
	cd tools/temporal && $(GO) build -trimpath \
		-ldflags "-X github.com/temporalio/cli/temporalcli.Version=$(TEMPORAL_CLI_VERSION)" \
		-o ../../bin/temporal github.com/temporalio/cli/cmd/temporal
	@touch $@

# Chromium from Debian and playwright-core from npm drive the browser test;
# nothing downloads a browser build.
browser-deps:
	@bash scripts/browser-deps.sh

test: bin/temporal browser-deps
	TEMPORAL_CLI=$(CURDIR)/bin/temporal $(GO) test -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./action/ ./connectors/treasury/ ./gate/ ./proof/ ./audit/ ./codec/

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
