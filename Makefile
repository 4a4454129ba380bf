# FluentEdge — the commands that matter. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: help run test test-web lint fmt proto build bench bench-web token clean
ROLE ?= learner
# AS= (the issuer of an INTERNAL token) shares its name with make's built-in
# assembler variable, so it counts only when the caller sets it.

help: ## this list
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-22s %s\n", $$1, $$2}'

run: ## build and run the whole suite on embedded defaults (Ctrl-C stops it)
	@scripts/run-suite.sh

test: ## every test: unit, integration (PostgreSQL + Redis on loopback), end-to-end, then the web app's
	@scripts/test-preflight.sh
	$(CARGO) build --workspace --bins
	$(CARGO) nextest run --workspace --no-fail-fast
	@$(MAKE) --no-print-directory test-web

test-web: ## the web app: Vitest unit tests and browser tests in Chromium against the real suite (needs the binaries)
	@scripts/test-web.sh

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

proto: ## regenerate proto/src/gen after editing a .proto (protoc comes from the protoc-bin-vendored crate)
	PROTO_BLESS=1 $(CARGO) test -p fluentedge-proto --test codegen

token: ## print a development JWT for `make run`'s suite (ROLE=admin for an admin; INTERNAL=1: a gRPC service token for grpcurl)
	@FLUENTEDGE_DEV=$${FLUENTEDGE_DEV-1} $(CARGO) run -q -p gateway -- token --role $(ROLE) $(if $(INTERNAL),--internal) $(if $(filter-out default,$(origin AS)),--as $(AS)) $(if $(SUB),--sub $(SUB))

bench: ## the gateway + router overhead beside nginx (PostgreSQL + Redis on loopback), the dead-primary failover figure, see docs/BENCHMARKS.md
	@scripts/bench.sh
	$(CARGO) bench -p llm-router --bench dead_primary
	@scripts/bench-web.sh

bench-web: ## the web app alone: learner bundle size (gzip) and first SSE byte → first token painted
	@scripts/bench-web.sh

build: ## debug build of every binary
	$(CARGO) build --workspace --bins

clean:
	$(CARGO) clean

# Operations: backups, restore test, alert/compose/k8s checks (docs/RUNBOOK.md).
include mk/ops.mk
