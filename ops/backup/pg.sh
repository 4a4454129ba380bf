#!/usr/bin/env bash
# PostgreSQL backups and restores, the operations manual's pg_dump / psql procedures
# (make backup, make backup-table, make restore).
#
#   pg.sh dump [DB...]               full dump of each database (none given: DATABASE_URL's)
#   pg.sh dump-table TABLE [DB]      one table (DB defaults to fluentedge, the ledger)
#   pg.sh restore FILE [DB]          load a dump (DB defaults to the name the file starts with)
#
# Where: the local server through libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD (default
# postgres@127.0.0.1:5432) or DATABASE_URL; with COMPOSE=1, the compose `postgres` container
# (`docker compose exec -T postgres …` as user fluentedge).
#
# Dumps are plain SQL, as in the manual, made with --clean --if-exists (a restore replaces the
# objects it contains) and --no-owner --no-privileges (they restore under any role, local or
# compose). Files are named <db>_<UTC time>.sql or <db>.<table>_<UTC time>.sql in BACKUP_DIR and
# written under a temporary name first, so a failed dump never leaves a file that looks complete.
# A restore runs in one transaction with ON_ERROR_STOP: it applies completely or not at all.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BACKUP_DIR=${BACKUP_DIR:-backups}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

compose_mode() { [ -n "${COMPOSE:-}" ] && [ "${COMPOSE}" != 0 ]; }

if compose_mode; then
  COMPOSE_FILE=${COMPOSE_FILE:-$ROOT/compose/docker-compose.yml}
  if docker compose version >/dev/null 2>&1; then
    dc() { docker compose -f "$COMPOSE_FILE" "$@"; }
  else
    dc() { docker-compose -f "$COMPOSE_FILE" "$@"; }
  fi
  PG_USER=${POSTGRES_USER:-fluentedge}
  # The connection is the container's own socket; "$1" is a database name.
  run_psql() { local db=$1; shift; dc exec -T postgres psql -X -U "$PG_USER" -d "$db" "$@"; }
  run_pg_dump() { local db=$1; shift; dc exec -T postgres pg_dump -U "$PG_USER" "$@" "$db"; }
  where="compose postgres"
else
  export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
  # "$1" is a database name or a postgres:// URL (DATABASE_URL).
  run_psql() { local db=$1; shift; psql -X -d "$db" "$@"; }
  run_pg_dump() { local db=$1; shift; pg_dump "$@" -d "$db"; }
  where="${PGUSER}@${PGHOST}:${PGPORT}"
fi

# The database name of a name or URL (postgres://u:p@h:5432/name?x=y -> name).
db_name() { local t=${1%%\?*}; [[ $t == postgres*://* ]] && t=${t##*/}; printf '%s' "$t"; }
# The same server's maintenance database, for CREATE/DROP DATABASE.
maint_of() {
  if [[ $1 == postgres*://* ]]; then
    local base=${1%%\?*}; printf '%s/postgres' "${base%/*}"
  else printf 'postgres'; fi
}
# A database given by name on the server of DATABASE_URL, when only the URL is known.
on_server_of_url() {
  if [ -n "${DATABASE_URL:-}" ] && ! compose_mode && [[ $1 != postgres*://* ]]; then
    local base=${DATABASE_URL%%\?*}; printf '%s/%s' "${base%/*}" "$1"
  else printf '%s' "$1"; fi
}

exists() { # db-or-url
  local name; name=$(db_name "$1")
  [ "$(run_psql "$(maint_of "$1")" -Atc "SELECT 1 FROM pg_database WHERE datname = '${name//\'/\'\'}'")" = 1 ]
}

dump_to() { # db-or-url out-file [pg_dump options...]
  local db=$1 out=$2; shift 2
  mkdir -p "$(dirname "$out")"
  local tmp="$out.partial"
  if run_pg_dump "$db" --no-owner --no-privileges --clean --if-exists "$@" > "$tmp"; then
    mv "$tmp" "$out"
    log "wrote $out ($(wc -c < "$out") bytes) from $(db_name "$db") on $where"
    printf '%s\n' "$out"
  else
    rm -f "$tmp"
    die "pg_dump of $(db_name "$db") failed"
  fi
}

cmd_dump() {
  local targets=("$@") dumped=0
  if [ ${#targets[@]} -eq 0 ]; then
    [ -n "${DATABASE_URL:-}" ] || die "no database given and DATABASE_URL unset"
    targets=("$DATABASE_URL")
  fi
  for t in "${targets[@]}"; do
    t=$(on_server_of_url "$t")
    if ! exists "$t"; then
      log "warning: database $(db_name "$t") does not exist on $where: skipped"
      continue
    fi
    dump_to "$t" "$BACKUP_DIR/$(db_name "$t")_${STAMP}.sql"
    dumped=$((dumped + 1))
  done
  [ "$dumped" -gt 0 ] || die "nothing dumped"
}

cmd_dump_table() {
  local table=${1:?table} db
  db=$(on_server_of_url "${2:-${DATABASE_URL:-fluentedge}}")
  exists "$db" || die "database $(db_name "$db") does not exist on $where"
  [ -n "$(run_psql "$db" -Atc "SELECT to_regclass('${table//\'/\'\'}')")" ] \
    || die "table $table does not exist in $(db_name "$db")"
  # A partitioned table (the ledger, by month) keeps its rows in its partitions:
  # name every one, or the dump holds an empty parent and its restore empties the table.
  local tables=() t
  while IFS= read -r t; do
    [ -n "$t" ] && tables+=("--table=$t")
  done < <(run_psql "$db" -Atc "SELECT relid::regclass::text FROM pg_partition_tree('${table//\'/\'\'}')")
  dump_to "$db" "$BACKUP_DIR/$(db_name "$db").${table}_${STAMP}.sql" "${tables[@]}"
}

cmd_restore() {
  local file=${1:?file} db
  [ -f "$file" ] || die "no such file: $file"
  if [ -n "${2:-}" ]; then
    db=$2
  else
    # <db>_<stamp>.sql or <db>.<table>_<stamp>.sql, as `pg.sh dump` names them.
    if ! [[ $(basename "$file") =~ ^([^.]+)(\.[^.]+)?_[0-9]{8}T[0-9]{6}Z\.sql$ ]]; then
      die "cannot tell the database from $file: give DB=<name>"
    fi
    db=${BASH_REMATCH[1]}
  fi
  db=$(on_server_of_url "$db")
  if ! exists "$db"; then
    log "creating database $(db_name "$db") on $where"
    run_psql "$(maint_of "$db")" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$(db_name "$db")\"" >/dev/null
  fi
  log "restoring $file into $(db_name "$db") on $where"
  run_psql "$db" -v ON_ERROR_STOP=1 --single-transaction -q < "$file" >/dev/null
  log "restored $file into $(db_name "$db")"
}

case "${1:-}" in
  dump) shift; cmd_dump "$@" ;;
  dump-table) shift; cmd_dump_table "$@" ;;
  restore) shift; cmd_restore "$@" ;;
  *) die "usage: $0 dump [DB...] | dump-table TABLE [DB] | restore FILE [DB]" ;;
esac
