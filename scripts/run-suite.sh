#!/usr/bin/env bash
# `make run`: build and start the provider simulator and the four services on
# embedded defaults (SQLite files under .fluentedge/, in-process budget state,
# the simulator instead of the clouds). DATABASE_URL, REDIS_URL and provider
# keys in the environment switch the same command to PostgreSQL, Redis and real
# providers. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins
# Development conveniences (the public development JWT secret and service
# keys) exist only with this switch, and every listener stays on loopback.
export FLUENTEDGE_DEV=1
if ! command -v npm >/dev/null; then
  echo "npm not found: the gateway serves the API alone (install Node.js 20+ for the web app at /)"
  web_note="  web app               npm not found: the gateway serves the API alone"
elif (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run -s build >/dev/null); then
  web_note="  web app               http://127.0.0.1:8000/     open it in a browser: \"sign in as\" any learner or admin"
else
  echo "the web app did not build (see above): serving the API alone"
  web_note="  web app               not built (see above): the gateway serves the API alone"
fi
bin=${CARGO_TARGET_DIR:-target}/debug
data=.fluentedge
mkdir -p "$data"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping FluentEdge..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

start() { # name, then env assignments
  local name=$1; shift
  env "$@" "$bin/$name" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}

SIM_PORT=${SIM_PORT:-8090}
start provider-sim SIM_LISTEN="127.0.0.1:$SIM_PORT"
start usage-accounting
start llm-router SIMULATOR_URL="http://127.0.0.1:$SIM_PORT"
start conversation
start gateway

sleep 2
learner_token=$("$bin/gateway" token)
admin_token=$("$bin/gateway" token --role admin)
grpc_token=$("$bin/gateway" token --role admin --internal)
cat <<MSG

FluentEdge is running:
$web_note
  gateway (HTTP)        http://127.0.0.1:8000      curl -i http://127.0.0.1:8000/health
  conversation (gRPC)   127.0.0.1:50051            grpcurl -plaintext 127.0.0.1:50051 list
  llm-router (gRPC)     127.0.0.1:50052            grpcurl -plaintext -H "authorization: Bearer \$GRPC" 127.0.0.1:50052 fluentedge.router.v1.RouterAdmin/GetBudget
  usage-accounting      127.0.0.1:50053            grpcurl -plaintext 127.0.0.1:50053 list
  provider simulator    http://127.0.0.1:$SIM_PORT

Development tokens (24 h; \`make token\`, \`make token ROLE=admin\` print new ones):
  learner: $learner_token
  admin:   $admin_token
  gRPC operator token (1 h; \`make token ROLE=admin INTERNAL=1\`), for grpcurl -H "authorization: Bearer \$GRPC":
           $grpc_token

  curl -s http://127.0.0.1:8000/v1/chat/completions -H "Authorization: Bearer \$LEARNER" \\
       -H 'content-type: application/json' -d '{"model":"cost_effective","messages":[{"role":"user","content":"Hi!"}]}'
  curl -s http://127.0.0.1:8000/api/v1/admin/budget -H "Authorization: Bearer \$ADMIN"
Press Ctrl-C to stop.
MSG
wait
