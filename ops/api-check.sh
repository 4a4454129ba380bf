#!/usr/bin/env bash
# The API contract: schemathesis (PyPI, pinned, in a virtualenv under ~/.cache/fluentedge) against
# /openapi.json on the running suite (embedded defaults, scratch ports, ops/lib/suite.sh). Every
# check, bounded examples: any failure (a 5xx, an undocumented status or content type, a response
# off its schema, invalid data accepted, valid data refused) fails the run.
#   ops/api-check.sh [extra st run options]     (ops/check.sh runs it)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${API_CHECK_EXAMPLES:-50}

venv=${XDG_CACHE_HOME:-$HOME/.cache}/fluentedge/schemathesis-$SCHEMATHESIS_VERSION
if [ ! -x "$venv/bin/st" ]; then
  echo "installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
  if ! python3 -m venv "$venv" || ! "$venv/bin/pip" install -q --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION"; then
    echo "pip install schemathesis failed" >&2
    exit 1
  fi
fi

# shellcheck source=ops/lib/suite.sh
. ops/lib/suite.sh
work=$(mktemp -d)
trap 'suite_stop; rm -rf "$work"' EXIT
suite_start "$work" || exit 1

run() { # label, token, st options...
  local label=$1 token=$2; shift 2
  echo "-- $label"
  # One worker: CPython 3.11 can fail with "AST constructor recursion depth mismatch" when
  # schemathesis compiles in several threads at once.
  "$venv/bin/st" --config-file ops/schemathesis.toml run "$GATEWAY_URL/openapi.json" \
    --checks all --max-examples "$EXAMPLES" --seed 1 --workers 1 --request-timeout 30 --no-color -H "Authorization: Bearer $token" \
    --warnings off "$@"
}
status=0
# Learners on their own API and the OpenAI-compatible one; operators on the admin API.
run "learner: talk, openai, ops" "$LEARNER" --exclude-tag admin "$@" || status=1
run "admin: admin" "$ADMIN" --include-tag admin "$@" || status=1
[ $status -eq 0 ] || { echo "service logs: "; tail -n 20 "$work"/*.log; }
exit $status
