#!/usr/bin/env bash
# `make bench-web`: the learner bundle size (gzip) and the time from the first
# SSE byte to the first token painted, measured in Chromium against the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "bench-web: npm is not installed; skipped" >&2
  exit 0
fi
${CARGO:-cargo} build --workspace --bins
cd web
npm ci --no-audit --no-fund --loglevel=error
npm run build >/dev/null
npm run -s bench
