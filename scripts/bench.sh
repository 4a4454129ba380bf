#!/usr/bin/env bash
# `make bench`: what FluentEdge adds on top of the provider, measured on this machine.
#
# Runs the release binaries with the production wiring — gateway → llm-router over gRPC → the provider
# simulator answering instantly, the budget breaker in Redis, usage delivered to usage-accounting on
# PostgreSQL — and, in the same run, the same requests sent straight to the simulator. Reports the
# difference: added p50/p99 latency at 20 and 200 req/s (open loop, coordinated-omission corrected),
# closed-loop req/s, streaming time to first byte, CPU per request summed over the services, peak RSS.
#
# Needs PostgreSQL and Redis on loopback (as `make test`). Installs oha (the load generator) from
# crates.io into .fluentedge/tools on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-15s}
TOOLS=$PWD/.fluentedge/tools
OHA=${OHA:-$(command -v oha || echo "$TOOLS/bin/oha")}
if [ ! -x "$OHA" ]; then
  echo "installing oha into $TOOLS (once)..."
  cargo install --locked --root "$TOOLS" oha
  OHA=$TOOLS/bin/oha
fi

cargo build --release --bins
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
db="fe_bench_$$"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE ${db}_conv" postgres
prefix="bench:$$:"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for d in "$db" "${db}_conv"; do
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" postgres || true
  done
  redis-cli --scan --pattern "*${prefix}*" | xargs -r redis-cli del >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Each service gets one runtime worker, as in the Kubernetes manifests (a 500m
# CPU limit makes `available_parallelism` one): on a 2-core machine also running
# the load generator, the simulator, Redis and PostgreSQL, more workers than
# cores only add cross-thread wake-ups.
start() { # name, env...
  local name=$1; shift
  env LOG_LEVEL=WARNING LOG_FORMAT=json METRICS_ADDR=off WORKER_THREADS=1 "$@" "$bin/$name" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_${name//-/_}=$!"
}

start provider-sim SIM_LISTEN=127.0.0.1:18090
start usage-accounting USAGE_LISTEN_ADDR=127.0.0.1:18053 DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
start llm-router ROUTER_LISTEN_ADDR=127.0.0.1:18052 SIMULATOR_URL=http://127.0.0.1:18090 \
  REDIS_URL=redis://127.0.0.1:6379 REDIS_KEY_PREFIX="$prefix" USAGE_ADDR=http://127.0.0.1:18053 \
  AI_MONTHLY_BUDGET_USD=1000000
# Not on the measured path; running, so its memory counts in the four services' RSS.
start conversation CONVERSATION_LISTEN_ADDR=127.0.0.1:18051 ROUTER_ADDR=http://127.0.0.1:18052 \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/${db}_conv"
start gateway GATEWAY_LISTEN_ADDR=127.0.0.1:18000 ROUTER_ADDR=http://127.0.0.1:18052 \
  USAGE_ADDR=http://127.0.0.1:18053 CONVERSATION_ADDR=http://127.0.0.1:18051 RATE_LIMIT_PER_MINUTE=100000000
sleep 2
for _ in $(seq 50); do curl -sf http://127.0.0.1:18000/ready >/dev/null && break; sleep 0.2; done
if ! curl -sf http://127.0.0.1:18000/ready >/dev/null; then
  echo "the suite did not become ready:" >&2
  curl -s http://127.0.0.1:18000/ready >&2 || true
  tail -n 5 "$work"/*.log >&2
  exit 1
fi

token=$("$bin/gateway" token --sub bench-user)
body='{"model":"cost_effective","messages":[{"role":"user","content":"Hello, can we practise ordering food?"}],"max_tokens":32}'
direct_body='{"messages":[{"role":"user","content":"Hello, can we practise ordering food?"}],"max_tokens":32}'
GW=(-H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$body" -m POST http://127.0.0.1:18000/v1/chat/completions)
SIM=(-H 'api-key: sim' -H 'content-type: application/json' -d "$direct_body" -m POST \
  "http://127.0.0.1:18090/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21")

cpu_ms() { # total user+system CPU of the FluentEdge services, in ms
  local t=0
  for p in $pid_gateway $pid_llm_router $pid_usage_accounting; do
    t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
  done
  echo $(( t * 1000 / $(getconf CLK_TCK) ))
}

pct() { # json file, percentile key
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.3f' % (d['latencyPercentiles'][sys.argv[2]]*1000))" "$1" "$2"
}
rps() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.0f' % d['summary']['requestsPerSec'])" "$1"; }
ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['summary']['successRate'])" "$1"; }

"$OHA" --no-tui -n 2000 -c 16 "${GW[@]}" >/dev/null   # warm-up: channels, pools, scripts
"$OHA" --no-tui -n 2000 -c 16 "${SIM[@]}" >/dev/null

declare -A R
for q in 20 200; do
  "$OHA" --no-tui --output-format json -z "$DURATION" -q "$q" --latency-correction "${SIM[@]}" >"$work/sim-$q.json"
  "$OHA" --no-tui --output-format json -z "$DURATION" -q "$q" --latency-correction "${GW[@]}" >"$work/gw-$q.json"
  for p in p50 p99; do
    R[sim-$q-$p]=$(pct "$work/sim-$q.json" $p); R[gw-$q-$p]=$(pct "$work/gw-$q.json" $p)
  done
  R[gw-$q-ok]=$(ok "$work/gw-$q.json")
done

cpu0=$(cpu_ms)
"$OHA" --no-tui --output-format json -z "$DURATION" -c 64 "${GW[@]}" >"$work/gw-closed.json"
cpu1=$(cpu_ms)
"$OHA" --no-tui --output-format json -z "$DURATION" -c 64 "${SIM[@]}" >"$work/sim-closed.json"
gw_n=$(python3 -c "import json; d=json.load(open('$work/gw-closed.json')); print(sum(d['statusCodeDistribution'].values()))")

ttfb() { # median time to first byte over 200 streaming requests, ms
  local url=$1; shift
  for _ in $(seq 200); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$@" "$url"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int(NR/2)+1]*1000}'
}
sbody='{"model":"cost_effective","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}],"max_tokens":32}'
sdirect='{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}],"max_tokens":32}'
ttfb_gw=$(ttfb http://127.0.0.1:18000/v1/chat/completions -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$sbody")
ttfb_sim=$(ttfb "http://127.0.0.1:18090/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21" -H 'api-key: sim' -H 'content-type: application/json' -d "$sdirect")

rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$1/status; }
sub() { python3 -c "print('%.3f' % ($1 - $2))"; }

cat <<REPORT

## make bench — $(date -u +%Y-%m-%d) on $(nproc) cores, load generator on the same machine

| measure | direct to simulator | through FluentEdge | added by FluentEdge |
| --- | --- | --- | --- |
| p50 at 20 req/s (ms) | ${R[sim-20-p50]} | ${R[gw-20-p50]} | $(sub ${R[gw-20-p50]} ${R[sim-20-p50]}) |
| p99 at 20 req/s (ms) | ${R[sim-20-p99]} | ${R[gw-20-p99]} | $(sub ${R[gw-20-p99]} ${R[sim-20-p99]}) |
| p50 at 200 req/s (ms) | ${R[sim-200-p50]} | ${R[gw-200-p50]} | $(sub ${R[gw-200-p50]} ${R[sim-200-p50]}) |
| p99 at 200 req/s (ms) | ${R[sim-200-p99]} | ${R[gw-200-p99]} | $(sub ${R[gw-200-p99]} ${R[sim-200-p99]}) |
| closed loop, 64 connections (req/s) | $(rps "$work/sim-closed.json") | $(rps "$work/gw-closed.json") | |
| stream time to first byte, median (ms) | $ttfb_sim | $ttfb_gw | $(sub $ttfb_gw $ttfb_sim) |

- success rate through FluentEdge: ${R[gw-20-ok]} at 20 req/s, ${R[gw-200-ok]} at 200 req/s
- CPU per request (gateway + llm-router + usage-accounting): $(python3 -c "print('%.3f' % (($cpu1 - $cpu0) / max($gw_n, 1)))") ms over $gw_n requests
- peak RSS (MB): gateway $(rss $pid_gateway), conversation $(rss $pid_conversation), llm-router $(rss $pid_llm_router), usage-accounting $(rss $pid_usage_accounting) — the four services $(python3 -c "print('%.1f' % ($(rss $pid_gateway) + $(rss $pid_conversation) + $(rss $pid_llm_router) + $(rss $pid_usage_accounting)))"); provider-sim $(rss $pid_provider_sim)
- ledger rows written: $(psql -h 127.0.0.1 -U postgres -tAc "SELECT count(*) FROM api_usage_log" "$db")
REPORT
