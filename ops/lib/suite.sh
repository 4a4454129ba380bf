#!/usr/bin/env bash
# Sourced by the ops checks that need the running suite (the API contract, the metrics).
#   suite_start DIR: builds the binaries if needed, starts the provider simulator and the four
#     services on embedded defaults (SQLite files in DIR, free loopback ports, development keys),
#     waits until the gateway's /ready is 200, and sets GATEWAY_URL, METRICS_URLS (name=url ...),
#     LEARNER and ADMIN (development tokens).
#   suite_traffic: a completion (gateway → router → usage) and a learner's exchange (gateway →
#     conversation → router); sets SESSION to the session it made.
#   suite_stop: SIGTERM to every process suite_start started.
# shellcheck shell=bash

suite_pids=()

suite_stop() {
  local p
  for p in "${suite_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${suite_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  suite_pids=()
}

suite_start() {
  local dir=$1
  if ! cargo build -q -p gateway -p conversation -p llm-router -p usage-accounting -p provider-sim --bins; then
    echo "suite: cargo build failed" >&2
    return 1
  fi
  local bin=${CARGO_TARGET_DIR:-target}/debug
  local ports
  # shellcheck disable=SC2207
  ports=($(python3 -c '
import socket
socks = [socket.socket() for _ in range(9)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'))
  local sim=${ports[0]} gw=${ports[1]} conv=${ports[2]} router=${ports[3]} usage=${ports[4]}
  local conv_m=${ports[5]} router_m=${ports[6]} usage_m=${ports[7]}
  export FLUENTEDGE_DEV=1 LOG_LEVEL=${SUITE_LOG_LEVEL:-WARNING}
  local common=(CONVERSATION_ADDR="http://127.0.0.1:$conv" ROUTER_ADDR="http://127.0.0.1:$router"
    USAGE_ADDR="http://127.0.0.1:$usage")
  _suite_run() { # name, env...
    local name=$1; shift
    env "${common[@]}" "$@" "$bin/$name" >>"$dir/$name.log" 2>&1 &
    suite_pids+=($!)
  }
  _suite_run provider-sim SIM_LISTEN="127.0.0.1:$sim"
  _suite_run usage-accounting USAGE_LISTEN_ADDR="127.0.0.1:$usage" METRICS_ADDR="127.0.0.1:$usage_m" \
    USAGE_SQLITE_PATH="$dir/usage.db"
  _suite_run llm-router ROUTER_LISTEN_ADDR="127.0.0.1:$router" METRICS_ADDR="127.0.0.1:$router_m" \
    USAGE_OUTBOX_PATH="$dir/router-outbox.db" \
    SIMULATOR_URL="http://127.0.0.1:$sim"
  _suite_run conversation CONVERSATION_LISTEN_ADDR="127.0.0.1:$conv" METRICS_ADDR="127.0.0.1:$conv_m" \
    CONVERSATION_SQLITE_PATH="$dir/conversation.db"
  # The contract run sends thousands of requests: no per-subject rate limit.
  _suite_run gateway GATEWAY_LISTEN_ADDR="127.0.0.1:$gw" RATE_LIMIT_PER_MINUTE="${SUITE_RATE_LIMIT:-0}"
  GATEWAY_URL="http://127.0.0.1:$gw"
  METRICS_URLS="gateway=$GATEWAY_URL/metrics conversation=http://127.0.0.1:$conv_m/metrics"
  METRICS_URLS+=" llm-router=http://127.0.0.1:$router_m/metrics usage-accounting=http://127.0.0.1:$usage_m/metrics"
  local _
  for _ in $(seq 120); do
    # Ready, and not degraded: the checks also use usage-accounting.
    if curl -fsS "$GATEWAY_URL/ready" 2>/dev/null | grep -q '"degraded":\[\]'; then
      LEARNER=$("$bin/gateway" token)
      ADMIN=$("$bin/gateway" token --role admin)
      export GATEWAY_URL METRICS_URLS LEARNER ADMIN
      return 0
    fi
    sleep 0.5
  done
  echo "suite: not ready after 60 s; logs in $dir:" >&2
  tail -n 5 "$dir"/*.log >&2
  suite_stop
  return 1
}

suite_traffic() {
  curl -fsS -o /dev/null "$GATEWAY_URL/v1/chat/completions" -H "Authorization: Bearer $LEARNER" \
    -H 'content-type: application/json' \
    -d '{"model":"cost_effective","messages":[{"role":"user","content":"Hi!"}]}' || return 1
  local scenario
  scenario=$(curl -fsS "$GATEWAY_URL/api/talk/scenarios" -H "Authorization: Bearer $LEARNER" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["scenarios"][0]["id"])') || return 1
  SESSION=$(curl -fsS "$GATEWAY_URL/api/talk/sessions" -H "Authorization: Bearer $LEARNER" \
    -H 'content-type: application/json' -d "{\"scenario_id\":\"$scenario\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || return 1
  export SESSION
  curl -fsS -o /dev/null "$GATEWAY_URL/api/talk/message" -H "Authorization: Bearer $LEARNER" \
    -H 'content-type: application/json' -d "{\"session_id\":\"$SESSION\",\"content\":\"Hello\"}" \
    || return 1
  sleep 2 # usage delivery is batched
}
