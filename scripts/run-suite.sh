#!/usr/bin/env bash
# `make run`: build and start the provider simulator and the four services on
# embedded defaults (SQLite files under .fluentedge/, in-process budget state,
# the simulator instead of the clouds). DATABASE_URL, REDIS_URL and provider
# keys in the environment switch the same command to PostgreSQL, Redis and real
# providers. Ctrl-C stops everything; so does any process that fails to start
# or exits (make run then exits 1 naming it). It prints the addresses the
# services logged as bound, and writes the development tokens to
# .fluentedge/tokens.env for `source`. RUN_WEB=0 skips the web app's build;
# RUN_DATA_DIR moves the logs and tokens file.
set -euo pipefail
cd "$(dirname "$0")/.."

# FLUENTEDGE_BIN_DIR: run binaries built elsewhere (the suite's own test).
if [ -z "${FLUENTEDGE_BIN_DIR:-}" ]; then
  cargo build --workspace --bins
fi
# Development conveniences (the public development JWT secret and service
# keys) exist only with this switch, and every listener stays on loopback.
export FLUENTEDGE_DEV=1
if [ "${RUN_WEB:-1}" = 0 ]; then
  web_note="  web app               not built (RUN_WEB=0): the gateway serves the API alone"
elif ! command -v npm >/dev/null; then
  echo "npm not found: the gateway serves the API alone (install Node.js 20+ for the web app at /)"
  web_note="  web app               npm not found: the gateway serves the API alone"
elif (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run -s build >/dev/null); then
  web_note="  web app               http://127.0.0.1:8000/     open it in a browser: \"sign in as\" any learner or admin"
else
  echo "the web app did not build (see above): serving the API alone"
  web_note="  web app               not built (see above): the gateway serves the API alone"
fi
bin=${FLUENTEDGE_BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
data=${RUN_DATA_DIR:-.fluentedge}
mkdir -p "$data"

logs="$data/logs"
mkdir -p "$logs"
pids=()
declare -A pid_of
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
  : >"$logs/$name.log"
  env "$@" "$bin/$name" > >(tee "$logs/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
}

# The address a service logged as bound in its start-up event (console or
# JSON logs alike): what it really serves on, whatever the environment said.
bound_addr() { # name, event
  sed 's/\x1b\[[0-9;]*m//g' "$logs/$1.log" | grep -m1 -F "$2" \
    | grep -oE '\baddr"?[=:]"?[^" ,}]+' | head -1 | sed -E 's/^addr"?[=:]"?//' || true
}

# Waits for a service's start-up event; a process that exits first (bad
# configuration, a port in use, a database it cannot migrate) stops make run.
wait_started() { # name, event
  local name=$1 event=$2 code i
  for i in $(seq 300); do
    [ -n "$(bound_addr "$name" "$event")" ] && return 0
    if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
      code=0; wait "${pid_of[$name]}" || code=$?
      echo "make run: $name failed to start (exit $code), stopping the rest; its log: $logs/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "make run: $name did not start within 30 s, stopping the rest; its log: $logs/$name.log" >&2
  exit 1
}

SIM_PORT=${SIM_PORT:-8090}
start provider-sim SIM_LISTEN="127.0.0.1:$SIM_PORT"
wait_started provider-sim sim.listening
start usage-accounting
start llm-router SIMULATOR_URL="http://$(bound_addr provider-sim sim.listening)"
start conversation
start gateway
for name in usage-accounting llm-router conversation gateway; do
  wait_started "$name" server.started
done
sim=$(bound_addr provider-sim sim.listening)
usage=$(bound_addr usage-accounting server.started)
router=$(bound_addr llm-router server.started)
conversation=$(bound_addr conversation server.started)
gateway=$(bound_addr gateway server.started)
web_note=${web_note//127.0.0.1:8000/$gateway}

learner_token=$("$bin/gateway" token)
admin_token=$("$bin/gateway" token --role admin)
grpc_token=$("$bin/gateway" token --role admin --internal)
# The tokens, for the user's shell: `source .fluentedge/tokens.env` (owner-only).
(umask 077 && cat >"$data/tokens.env" <<ENV
export LEARNER=$learner_token
export ADMIN=$admin_token
export GRPC=$grpc_token
ENV
)
cat <<MSG

FluentEdge is running (each service's log is also in $logs/):
$web_note
  gateway (HTTP)        http://$gateway      curl -i http://$gateway/health
  conversation (gRPC)   $conversation            grpcurl -plaintext $conversation list
  llm-router (gRPC)     $router            grpcurl -plaintext -H "authorization: Bearer \$GRPC" $router fluentedge.router.v1.RouterAdmin/GetBudget
  usage-accounting      $usage            grpcurl -plaintext $usage list
  provider simulator    http://$sim

Development tokens (24 h; \`make token\`, \`make token ROLE=admin\` print new ones):
  learner: $learner_token
  admin:   $admin_token
  gRPC operator token (1 h; \`make token ROLE=admin INTERNAL=1\`), for grpcurl -H "authorization: Bearer \$GRPC":
           $grpc_token

Put them in your shell as \$LEARNER, \$ADMIN and \$GRPC (in another terminal):
  source $data/tokens.env

  curl -s http://$gateway/v1/chat/completions -H "Authorization: Bearer \$LEARNER" \\
       -H 'content-type: application/json' -d '{"model":"cost_effective","messages":[{"role":"user","content":"Hi!"}]}'
  curl -s http://$gateway/api/v1/admin/budget -H "Authorization: Bearer \$ADMIN"
Press Ctrl-C to stop.
MSG
# Any process that exits stops the suite, loudly: a half-running suite misleads.
code=0
wait -n "${pids[@]}" || code=$?
for name in "${!pid_of[@]}"; do
  if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
    echo "make run: $name exited (status $code), stopping the rest; its log: $logs/$name.log" >&2
  fi
done
exit 1
