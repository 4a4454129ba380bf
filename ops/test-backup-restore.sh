#!/usr/bin/env bash
# Backup/restore test (make backup-test), against the local PostgreSQL (PGHOST/PGPORT/PGUSER,
# default postgres@127.0.0.1:5432) and, when redis-server is installed, a scratch Redis.
#
# PostgreSQL: a scratch database gets the usage ledger's real migrations
# (services/usage-accounting/migrations/postgres) and generated rows; its totals (count, sum of
# cost_micro_usd and estimated_cost_usd, tokens, per provider and model, and a checksum of every
# row) are computed; `make backup` dumps it; the database is dropped; `make restore` brings it
# back; the totals must be identical. Then the single-table procedure: `make backup-table`, rows
# deleted, `make restore` of the table dump, identical totals again. Then the same with COMPOSE=1,
# through a `docker` shim that records the `docker compose exec/cp` calls and runs them locally
# (there is no Docker engine here), so the compose code paths are exercised too.
#
# Redis: a scratch redis-server with AOF on gets keys like the router's; `make redis-backup`
# snapshots it; the server is stopped and its data deleted; the runbook's restore procedure
# (docs/RUNBOOK.md, "Redis restore") brings it back with AOF on; every key must match.
#
# Exits non-zero on any difference. Leaves nothing behind.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
unset DATABASE_URL COMPOSE
DB="fluentedge_restore_test_$$"
WORK=$(mktemp -d)
export BACKUP_DIR="$WORK/backups"
REDIS_PORT=""
MAKE=(make --no-print-directory -f "$ROOT/mk/ops.mk")

cleanup() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "$REDIS_PORT" ]; then redis-cli -p "$REDIS_PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
q() { psql -X -v ON_ERROR_STOP=1 -q -At -d "$DB" "$@"; }

totals() {
  q <<'SQL'
SELECT 'all', count(*), sum(cost_micro_usd), sum(estimated_cost_usd), sum(input_tokens), sum(output_tokens)
FROM api_usage_log;
SELECT api_provider, model_name, count(*), sum(cost_micro_usd), sum(estimated_cost_usd)
FROM api_usage_log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT 'rows md5', md5(string_agg(t::text, E'\n' ORDER BY call_id)) FROM api_usage_log t;
SELECT 'budget_resets', count(*) FROM budget_resets;
SQL
}

compare() { # label before after
  if diff -u "$2" "$3"; then
    printf '   identical (%s)\n' "$1"
  else
    printf 'FAIL: totals differ after %s\n' "$1" >&2
    exit 1
  fi
}

step "PostgreSQL: scratch database $DB with the ledger's migrations"
pg_isready -q || { echo "PostgreSQL is not reachable on $PGHOST:$PGPORT" >&2; exit 1; }
psql -X -v ON_ERROR_STOP=1 -q -d postgres -c "CREATE DATABASE \"$DB\""
migrations=("$ROOT"/services/usage-accounting/migrations/postgres/*.sql)
[ -e "${migrations[0]}" ] || { echo "no migrations in services/usage-accounting/migrations/postgres" >&2; exit 1; }
for m in "${migrations[@]}"; do q -f "$m"; done

step "generated ledger rows"
q <<'SQL'
-- The ledger is partitioned by month; the service prepares partitions, here the script does.
SELECT fe_ensure_month_partition('api_usage_log', m)
FROM generate_series(date_trunc('month', now()) - interval '1 month', date_trunc('month', now()) + interval '1 month', interval '1 month') m;
INSERT INTO api_usage_log
  (call_id, request_id, created_at, api_provider, model_name, input_tokens, output_tokens,
   cost_micro_usd, price_version, user_id, tier, outcome, latency_ms, operation)
SELECT 'call-' || lpad(i::text, 6, '0'), 'req-' || lpad((i / 3)::text, 6, '0'),
       date_trunc('month', now()) - interval '20 days' + i * interval '7 minutes',
       (ARRAY['azure', 'anthropic', 'bedrock', 'vertex'])[1 + i % 4],
       (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-haiku-4-5'])[1 + i % 3],
       100 + (i * 37) % 4000,
       20 + (i * 11) % 900,
       (i * 7919) % 250000,
       '2025-10-01', 'learner-' || (i % 50),
       (ARRAY['sota', 'cost_effective'])[1 + i % 2],
       (ARRAY['success', 'success', 'success', 'failed', 'partial'])[1 + i % 5],
       (i * 13) % 5000,
       'chat'
FROM generate_series(1, 5000) AS i;
INSERT INTO budget_resets (reset_id, reset_at, actor, reason)
VALUES ('reset-1', now() - interval '3 days', 'admin', 'restore test');
SQL
totals > "$WORK/before.txt"
sed 's/^/   /' "$WORK/before.txt" | head -3

step "make backup DB=$DB"
"${MAKE[@]}" backup DB="$DB"
dump=$(ls "$BACKUP_DIR"/"${DB}"_*.sql)

step "drop the database"
psql -X -v ON_ERROR_STOP=1 -q -d postgres -c "DROP DATABASE \"$DB\""

step "make restore FILE=$(basename "$dump")"
"${MAKE[@]}" restore FILE="$dump"
totals > "$WORK/after.txt"
compare "full dump, drop, restore" "$WORK/before.txt" "$WORK/after.txt"

step "make backup-table TABLE=api_usage_log DB=$DB, delete rows, restore the table"
"${MAKE[@]}" backup-table TABLE=api_usage_log DB="$DB"
table_dump=$(ls "$BACKUP_DIR"/"${DB}".api_usage_log_*.sql)
q -c "DELETE FROM api_usage_log WHERE api_provider = 'azure'"
[ "$(q -c "SELECT count(*) FROM api_usage_log WHERE api_provider = 'azure'")" = 0 ]
"${MAKE[@]}" restore FILE="$table_dump"
totals > "$WORK/after-table.txt"
compare "table dump, delete, restore" "$WORK/before.txt" "$WORK/after-table.txt"

step "the manual's monthly cost query runs on the restored ledger"
q -c "SELECT api_provider, model_name,
             SUM(input_tokens) as total_input,
             SUM(output_tokens) as total_output,
             SUM(estimated_cost_usd) as total_cost
      FROM api_usage_log
      WHERE created_at >= date_trunc('month', CURRENT_DATE)
      GROUP BY api_provider, model_name
      ORDER BY total_cost DESC;" | head -3 | sed 's/^/   /'

step "COMPOSE=1 plumbing, through a docker shim that records each call and runs it locally"
# No Docker engine here: the shim stands in for `docker compose`, so the COMPOSE=1 code paths
# (exec -T postgres pg_dump/psql -U fluentedge, stdin for restores) run for real against the
# local server. Every call is recorded and checked below.
SHIM="$WORK/shim"
mkdir -p "$SHIM"
cat > "$SHIM/docker" <<'SH'
#!/usr/bin/env bash
printf '%s\n' "$*" >> "$SHIM_LOG"
[ "$1" = compose ] || exit 1; shift
[ "$1" = version ] && { echo "Docker Compose version shim"; exit 0; }
[ "$1" = -f ] && shift 2
if [ "$1" = cp ]; then cp "${2#redis:}" "$3"; exit; fi   # compose cp redis:/dir/file dest
[ "$1" = exec ] || exit 1; shift
[ "$1" = -T ] && shift
if [ "$1" = redis ]; then shift 2; exec redis-cli -p "$SHIM_REDIS_PORT" "$@"; fi
[ "$1" = postgres ] || exit 1; shift
args=(); prev=""
for a in "$@"; do
  # the container's superuser is fluentedge; here it is postgres
  if [ "$prev" = -U ] && [ "$a" = fluentedge ]; then a=postgres; fi
  args+=("$a"); prev=$a
done
PGHOST=127.0.0.1 exec "${args[@]}"
SH
chmod +x "$SHIM/docker"
export SHIM_LOG="$WORK/shim.log"
PATH="$SHIM:$PATH" COMPOSE=1 BACKUP_DIR="$WORK/compose-backups" "${MAKE[@]}" backup DB="$DB"
compose_dump=$(ls "$WORK"/compose-backups/"${DB}"_*.sql)
psql -X -v ON_ERROR_STOP=1 -q -d postgres -c "DROP DATABASE \"$DB\""
PATH="$SHIM:$PATH" COMPOSE=1 "${MAKE[@]}" restore FILE="$compose_dump"
totals > "$WORK/after-compose.txt"
compare "COMPOSE=1 dump, drop, restore" "$WORK/before.txt" "$WORK/after-compose.txt"
for call in "exec -T postgres pg_dump -U fluentedge --no-owner --no-privileges --clean --if-exists $DB" \
            "exec -T postgres psql -X -U fluentedge -d $DB -v ON_ERROR_STOP=1 --single-transaction"; do
  if ! grep -qF -- "$call" "$SHIM_LOG"; then
    echo "FAIL: no docker compose call '$call' among:" >&2; cat "$SHIM_LOG" >&2; exit 1
  fi
done
echo "   docker compose calls as expected"

if ! command -v redis-server >/dev/null; then
  echo "== Redis: redis-server not installed here, Redis backup/restore not tested"
  echo "backup-restore: PostgreSQL passed"
  exit 0
fi

step "Redis: scratch redis-server with AOF on"
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RDIR="$WORK/redis"
mkdir -p "$RDIR"
start_redis() { # extra options...
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RDIR" --save "" \
    --daemonize yes --logfile "$RDIR/redis.log" "$@"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "scratch redis-server did not start" >&2; exit 1
}
rc() { redis-cli -p "$REDIS_PORT" "$@"; }
start_redis --appendonly yes
rc SET '{fluentedge:budget:2026-11}:spent' 123456789 >/dev/null
rc HSET '{fluentedge:budget:2026-11}:reservations' req-1 5000 req-2 7000 >/dev/null
for i in $(seq 1 200); do rc XADD fluentedge:usage:outbox '*' request_id "req-$i" cost_micro_usd "$i" >/dev/null; done
redis_state() { for k in $(rc --scan | sort); do printf '%s %s ' "$k" "$(rc TYPE "$k")"; rc --no-raw DUMP "$k" | md5sum; done; }
redis_state > "$WORK/redis-before.txt"

step "make redis-backup"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT" "${MAKE[@]}" redis-backup
rdb=$(ls "$BACKUP_DIR"/redis_*.rdb)

step "make redis-backup COMPOSE=1 (docker shim)"
PATH="$SHIM:$PATH" COMPOSE=1 SHIM_REDIS_PORT="$REDIS_PORT" BACKUP_DIR="$WORK/compose-redis" "${MAKE[@]}" redis-backup
cmp "$(ls "$WORK"/compose-redis/redis_*.rdb)" "$RDIR/dump.rdb"
for call in "exec -T redis redis-cli BGSAVE SCHEDULE" "cp redis:$RDIR/dump.rdb"; do
  if ! grep -qF -- "$call" "$SHIM_LOG"; then
    echo "FAIL: no docker compose call '$call' among:" >&2; cat "$SHIM_LOG" >&2; exit 1
  fi
done
echo "   docker compose calls as expected"

step "stop Redis and lose its data"
rc SHUTDOWN NOSAVE >/dev/null 2>&1 || true
sleep 0.3
rm -rf "${RDIR:?}/appendonlydir" "$RDIR/dump.rdb"

step "restore (docs/RUNBOOK.md: RDB in place, start without AOF, re-enable AOF)"
cp "$rdb" "$RDIR/dump.rdb"
start_redis --appendonly no
rc CONFIG SET appendonly yes >/dev/null
for _ in $(seq 100); do
  info=$(rc INFO persistence | tr -d '\r')
  grep -q '^aof_rewrite_in_progress:0' <<<"$info" && grep -q '^aof_enabled:1' <<<"$info" \
    && ! grep -q '^aof_rewrite_scheduled:1' <<<"$info" && break
  sleep 0.1
done
redis_state > "$WORK/redis-after.txt"
compare "Redis backup, data loss, restore" "$WORK/redis-before.txt" "$WORK/redis-after.txt"

step "restart with AOF on: the data comes back from the new AOF"
rc SHUTDOWN NOSAVE >/dev/null 2>&1 || true
sleep 0.3
rm -f "$RDIR/dump.rdb"
start_redis --appendonly yes
redis_state > "$WORK/redis-after-restart.txt"
compare "restart from the rewritten AOF" "$WORK/redis-before.txt" "$WORK/redis-after-restart.txt"

echo "backup-restore: PostgreSQL and Redis passed"
