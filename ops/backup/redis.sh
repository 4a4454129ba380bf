#!/usr/bin/env bash
# Redis backup, the operations manual's procedure (make redis-backup): BGSAVE, wait until the
# snapshot is written (LASTSAVE moves past its value before the BGSAVE), then copy the RDB file
# from Redis's `CONFIG GET dir` into BACKUP_DIR/redis_<UTC time>.rdb.
#
# Where: REDIS_URL (default redis://127.0.0.1:6379); with COMPOSE=1 the compose `redis`
# container (`docker compose exec -T redis redis-cli …`, then `docker compose cp`). When the
# server's directory is not readable from here (a remote Redis), the snapshot is streamed with
# `redis-cli --rdb` instead, which asks the server for the same RDB over the network.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BACKUP_DIR=${BACKUP_DIR:-backups}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TIMEOUT_S=${REDIS_BACKUP_TIMEOUT_S:-600}
OUT="$BACKUP_DIR/redis_${STAMP}.rdb"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ -n "${COMPOSE:-}" ] && [ "${COMPOSE}" != 0 ]; then
  COMPOSE_FILE=${COMPOSE_FILE:-$ROOT/compose/docker-compose.yml}
  if docker compose version >/dev/null 2>&1; then
    dc() { docker compose -f "$COMPOSE_FILE" "$@"; }
  else
    dc() { docker-compose -f "$COMPOSE_FILE" "$@"; }
  fi
  rcli() { dc exec -T redis redis-cli "$@"; }
  where="compose redis"
else
  REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
  rcli() { redis-cli -u "$REDIS_URL" "$@"; }
  where=$(printf '%s' "$REDIS_URL" | sed -E 's#//[^@/]*@#//***@#')
fi

info_field() { rcli INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }

before=$(rcli LASTSAVE | tr -d '\r')
# LASTSAVE has a one-second resolution: make sure the new snapshot's second is a later one.
while [ "$(rcli TIME | head -1 | tr -d '\r')" -le "$before" ]; do sleep 0.2; done
# SCHEDULE: if an AOF rewrite is running, Redis starts the save as soon as it ends.
reply=$(rcli BGSAVE SCHEDULE | tr -d '\r')
log "BGSAVE on $where: $reply"

deadline=$(( $(date +%s) + TIMEOUT_S ))
until [ "$(rcli LASTSAVE | tr -d '\r')" -gt "$before" ] && [ "$(info_field rdb_bgsave_in_progress)" = 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "BGSAVE did not finish within ${TIMEOUT_S}s"
  sleep 0.5
done
[ "$(info_field rdb_last_bgsave_status)" = ok ] || die "BGSAVE failed: see the Redis log"

dir=$(rcli CONFIG GET dir | tr -d '\r' | sed -n 2p)
file=$(rcli CONFIG GET dbfilename | tr -d '\r' | sed -n 2p)
mkdir -p "$BACKUP_DIR"
if [ -n "${COMPOSE:-}" ] && [ "${COMPOSE}" != 0 ]; then
  dc cp "redis:$dir/$file" "$OUT.partial"
elif [ -r "$dir/$file" ]; then
  cp "$dir/$file" "$OUT.partial"
else
  log "$dir/$file is not readable here: streaming the snapshot with redis-cli --rdb"
  rcli --rdb "$OUT.partial" >/dev/null
fi
# An RDB file starts with "REDIS" and its format version.
[ "$(head -c 5 "$OUT.partial")" = REDIS ] || { rm -f "$OUT.partial"; die "the copied file is not an RDB snapshot"; }
mv "$OUT.partial" "$OUT"
log "wrote $OUT ($(wc -c < "$OUT") bytes) from $where"
printf '%s\n' "$OUT"
