#!/usr/bin/env bash
# `make bench`: what FluentEdge adds on top of the provider, measured on this machine.
#
# Runs the release binaries with the production wiring — gateway → llm-router over gRPC → the provider
# simulator answering instantly, the budget breaker in Redis, usage delivered to usage-accounting on
# PostgreSQL — and, in the same run, the same requests sent straight to the simulator and through
# nginx (Debian nginx-light, a plain keep-alive reverse proxy in front of the same simulator), the
# reference every FluentEdge figure is also given as a ratio to, since absolute figures travel badly
# between machines. Reports added p50/p99 latency at 20 and 200 req/s (open loop, coordinated-omission
# corrected), closed-loop req/s, streaming time to first byte, CPU per request (the services, and the
# whole system with PostgreSQL and Redis), CPU burnt while idle, peak RSS, and the machine's CPU model.
#
# Needs PostgreSQL and Redis on loopback (as `make test`). Installs oha (the load generator) from
# crates.io into .fluentedge/tools on first use, and nginx-light with apt-get when nginx is missing.
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

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [ ! -x "$NGINX" ]; then
  echo "installing nginx-light (the reference proxy, once)..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  NGINX=/usr/sbin/nginx
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

# Development mode (FLUENTEDGE_DEV=1: the public development service keys, loopback only), as
# `make run`. Each service gets one runtime worker, as in the Kubernetes manifests (a 500m
# CPU limit makes `available_parallelism` one): on a 2-core machine also running
# the load generator, the simulator, Redis and PostgreSQL, more workers than
# cores only add cross-thread wake-ups.
start() { # name, env...
  local name=$1; shift
  env FLUENTEDGE_DEV=1 LOG_LEVEL=WARNING LOG_FORMAT=json METRICS_ADDR=off WORKER_THREADS=1 "$@" "$bin/$name" >"$work/$name.log" 2>&1 &
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
# The reference: nginx as a plain reverse proxy (one worker, keep-alive to the simulator).
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX_CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream sim { server 127.0.0.1:18090; keepalive 128; }
  server {
    listen 127.0.0.1:18092;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX_CONF
"$NGINX" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" >"$work/nginx.log" 2>&1 &
pid_nginx=$!
pids+=($pid_nginx)

sleep 2
for _ in $(seq 50); do curl -sf http://127.0.0.1:18000/ready >/dev/null && break; sleep 0.2; done
if ! curl -sf http://127.0.0.1:18000/ready >/dev/null; then
  echo "the suite did not become ready:" >&2
  curl -s http://127.0.0.1:18000/ready >&2 || true
  tail -n 5 "$work"/*.log >&2
  exit 1
fi

token=$(FLUENTEDGE_DEV=1 "$bin/gateway" token --sub bench-user)
body='{"model":"cost_effective","messages":[{"role":"user","content":"Hello, can we practise ordering food?"}],"max_tokens":32}'
direct_body='{"messages":[{"role":"user","content":"Hello, can we practise ordering food?"}],"max_tokens":32}'
GW=(-H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$body" -m POST http://127.0.0.1:18000/v1/chat/completions)
SIM=(-H 'api-key: sim' -H 'content-type: application/json' -d "$direct_body" -m POST \
  "http://127.0.0.1:18090/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21")

cpu_ms() { # total user+system CPU of the given processes, in ms
  local t=0
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $(( t * 1000 / $(getconf CLK_TCK) ))
}
services=($pid_gateway $pid_llm_router $pid_usage_accounting)
# PostgreSQL and Redis are shared with whatever else runs on the machine:
# their share is an upper bound.
backing() { echo $(pgrep -x postgres) $(pgrep -f 'redis-server .*:6379' || pgrep -x redis-server); }
nginx_pids() { echo "$pid_nginx" $(pgrep -P "$pid_nginx"); }

pct() { # json file, percentile key
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.3f' % (d['latencyPercentiles'][sys.argv[2]]*1000))" "$1" "$2"
}
rps() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.0f' % d['summary']['requestsPerSec'])" "$1"; }
ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['summary']['successRate'])" "$1"; }
count() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(d['statusCodeDistribution'].values()))" "$1"; }
div() { python3 -c "print('%.2f' % ($1 / $2) if $2 > 0 else 'n/a')"; }
sub() { python3 -c "print('%.3f' % ($1 - $2))"; }

NGX=(-H 'api-key: sim' -H 'content-type: application/json' -d "$direct_body" -m POST \
  "http://127.0.0.1:18092/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21")

"$OHA" --no-tui -n 2000 -c 16 "${GW[@]}" >/dev/null   # warm-up: channels, pools, scripts
"$OHA" --no-tui -n 2000 -c 16 "${SIM[@]}" >/dev/null
"$OHA" --no-tui -n 2000 -c 16 "${NGX[@]}" >/dev/null

# Idle: what the services burn with no request at all (timers, polling loops).
IDLE_SECS=${BENCH_IDLE_SECS:-10}
idle0=$(cpu_ms "${services[@]}" $pid_conversation)
sleep "$IDLE_SECS"
idle1=$(cpu_ms "${services[@]}" $pid_conversation)

declare -A R
for q in 20 200; do
  "$OHA" --no-tui --output-format json -z "$DURATION" -q "$q" --latency-correction "${SIM[@]}" >"$work/sim-$q.json"
  n0=$(cpu_ms $(nginx_pids))
  "$OHA" --no-tui --output-format json -z "$DURATION" -q "$q" --latency-correction "${NGX[@]}" >"$work/ngx-$q.json"
  n1=$(cpu_ms $(nginx_pids))
  c0=$(cpu_ms "${services[@]}"); b0=$(cpu_ms $(backing))
  "$OHA" --no-tui --output-format json -z "$DURATION" -q "$q" --latency-correction "${GW[@]}" >"$work/gw-$q.json"
  c1=$(cpu_ms "${services[@]}"); b1=$(cpu_ms $(backing))
  for t in sim ngx gw; do
    for p in p50 p99; do R[$t-$q-$p]=$(pct "$work/$t-$q.json" $p); done
  done
  R[gw-$q-ok]=$(ok "$work/gw-$q.json")
  gn=$(count "$work/gw-$q.json")
  R[cpu-$q]=$(div $((c1 - c0)) "$gn"); R[sys-$q]=$(div $((c1 - c0 + b1 - b0)) "$gn")
  R[ngxcpu-$q]=$(div $((n1 - n0)) "$(count "$work/ngx-$q.json")")
done

c0=$(cpu_ms "${services[@]}"); b0=$(cpu_ms $(backing))
"$OHA" --no-tui --output-format json -z "$DURATION" -c 64 "${GW[@]}" >"$work/gw-closed.json"
c1=$(cpu_ms "${services[@]}"); b1=$(cpu_ms $(backing))
"$OHA" --no-tui --output-format json -z "$DURATION" -c 64 "${SIM[@]}" >"$work/sim-closed.json"
n0=$(cpu_ms $(nginx_pids))
"$OHA" --no-tui --output-format json -z "$DURATION" -c 64 "${NGX[@]}" >"$work/ngx-closed.json"
n1=$(cpu_ms $(nginx_pids))
gw_n=$(count "$work/gw-closed.json")
R[cpu-closed]=$(div $((c1 - c0)) "$gw_n"); R[sys-closed]=$(div $((c1 - c0 + b1 - b0)) "$gw_n")
R[ngxcpu-closed]=$(div $((n1 - n0)) "$(count "$work/ngx-closed.json")")

ttfb() { # median time to first byte over 200 streaming requests, ms
  local url=$1; shift
  for _ in $(seq 200); do curl -s -o /dev/null -w '%{time_starttransfer}\n' "$@" "$url"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int(NR/2)+1]*1000}'
}
sbody='{"model":"cost_effective","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}],"max_tokens":32}'
sdirect='{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}],"max_tokens":32}'
ttfb_gw=$(ttfb http://127.0.0.1:18000/v1/chat/completions -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$sbody")
ttfb_ngx=$(ttfb "http://127.0.0.1:18092/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21" -H 'api-key: sim' -H 'content-type: application/json' -d "$sdirect")
ttfb_sim=$(ttfb "http://127.0.0.1:18090/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21" -H 'api-key: sim' -H 'content-type: application/json' -d "$sdirect")

rss() { awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$1/status; }
row() { # label, direct, nginx, FluentEdge: one latency row with both added figures and the ratios
  local fe_add ngx_add
  fe_add=$(sub "$4" "$2"); ngx_add=$(sub "$3" "$2")
  echo "| $1 | $2 | $3 | $4 | $ngx_add | $fe_add | $(div "$fe_add" "$ngx_add") | $(div "$4" "$2") |"
}

cat <<REPORT

## make bench — $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg); load generator on the same machine

| measure | direct to simulator | through nginx | through FluentEdge | added by nginx | added by FluentEdge | FluentEdge added ÷ nginx added | FluentEdge ÷ direct |
| --- | --- | --- | --- | --- | --- | --- | --- |
$(row "p50 at 20 req/s (ms)" ${R[sim-20-p50]} ${R[ngx-20-p50]} ${R[gw-20-p50]})
$(row "p99 at 20 req/s (ms)" ${R[sim-20-p99]} ${R[ngx-20-p99]} ${R[gw-20-p99]})
$(row "p50 at 200 req/s (ms)" ${R[sim-200-p50]} ${R[ngx-200-p50]} ${R[gw-200-p50]})
$(row "p99 at 200 req/s (ms)" ${R[sim-200-p99]} ${R[ngx-200-p99]} ${R[gw-200-p99]})
$(row "stream time to first byte, median (ms)" $ttfb_sim $ttfb_ngx $ttfb_gw)
| closed loop, 64 connections (req/s) | $(rps "$work/sim-closed.json") | $(rps "$work/ngx-closed.json") | $(rps "$work/gw-closed.json") | | | FluentEdge ÷ nginx: $(div "$(rps "$work/gw-closed.json")" "$(rps "$work/ngx-closed.json")") | $(div "$(rps "$work/gw-closed.json")" "$(rps "$work/sim-closed.json")") |

- success rate through FluentEdge: ${R[gw-20-ok]} at 20 req/s, ${R[gw-200-ok]} at 200 req/s
- CPU per request, ms (20 req/s / 200 req/s / closed loop): FluentEdge's services (gateway + llm-router + usage-accounting) ${R[cpu-20]} / ${R[cpu-200]} / ${R[cpu-closed]}; whole system with PostgreSQL and Redis ${R[sys-20]} / ${R[sys-200]} / ${R[sys-closed]} (PostgreSQL and Redis are shared with anything else running: an upper bound); nginx ${R[ngxcpu-20]} / ${R[ngxcpu-200]} / ${R[ngxcpu-closed]}
- CPU while idle (no requests, ${IDLE_SECS} s, the four services): $(python3 -c "print('%.1f' % (($idle1 - $idle0) / $IDLE_SECS))") ms per second
- peak RSS (MB): gateway $(rss $pid_gateway), conversation $(rss $pid_conversation), llm-router $(rss $pid_llm_router), usage-accounting $(rss $pid_usage_accounting) — the four services $(python3 -c "print('%.1f' % ($(rss $pid_gateway) + $(rss $pid_conversation) + $(rss $pid_llm_router) + $(rss $pid_usage_accounting)))"); provider-sim $(rss $pid_provider_sim)
- ledger rows written: $(psql -h 127.0.0.1 -U postgres -tAc "SELECT count(*) FROM api_usage_log" "$db")
REPORT
