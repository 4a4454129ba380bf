#!/usr/bin/env bash
# `make test-web`: the web app's unit tests (Vitest) and its browser tests
# (Debian chromium via playwright-core, against the real suite built by
# `cargo build --workspace --bins`). Fails when they fail; skips, loudly,
# only when npm is not installed.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null; then
  echo "!! SKIPPED: web tests (npm is not installed; install Node.js 20+ to run them)" >&2
  exit 0
fi
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "web tests need Chromium at $chromium: apt-get install -y chromium (or set CHROMIUM_PATH)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
npm run build
npm test
npm run test:e2e
