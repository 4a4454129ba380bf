#!/usr/bin/env bash
# Backup/restore test of the embedded SQLite files (make backup-test runs it after the PostgreSQL
# and Redis parts). The real binaries on embedded defaults (ops/lib/suite.sh) write the files: a
# completion and a learner's exchange, so the ledger, the conversation store and the router's
# outbox all hold rows. Their totals are computed; `make backup` (embedded defaults: no
# DATABASE_URL) copies them while the services run; the services stop and the files are deleted;
# `make restore` of each backup brings them back; the totals must be identical, and the services
# started on the restored files serve the conversation again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
unset DATABASE_URL COMPOSE STORE DB
work=$(mktemp -d)
export BACKUP_DIR="$work/backups" FLUENTEDGE_DATA="$work/data"
mkdir -p "$FLUENTEDGE_DATA"
# shellcheck source=ops/lib/suite.sh
. ops/lib/suite.sh
trap 'suite_stop; rm -rf "$work"' EXIT
MAKE=(make --no-print-directory -f "$ROOT/mk/ops.mk")

# The suite keeps its files where FLUENTEDGE_DATA says (suite_start puts them in its directory).
suite_start "$FLUENTEDGE_DATA"
suite_traffic || { echo "FAIL: traffic through the suite failed" >&2; exit 1; }

# Every table's row count and a digest of its rows, per file.
totals() {
  python3 - "$FLUENTEDGE_DATA" <<'PY'
import hashlib, pathlib, sqlite3, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.db")):
    db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    for t in tables:
        rows = db.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()
        print(f.name, t, len(rows), hashlib.md5(repr(rows).encode()).hexdigest())
PY
}
before=$(totals)
echo "$before"
grep -q '^usage.db api_usage_log [1-9]' <<<"$before" || { echo "FAIL: no ledger rows to back up" >&2; exit 1; }
grep -q '^conversation.db messages [1-9]' <<<"$before" || { echo "FAIL: no messages to back up" >&2; exit 1; }

echo "== make backup (embedded defaults, services running)"
"${MAKE[@]}" backup
suite_stop
rm -f "$FLUENTEDGE_DATA"/*.db "$FLUENTEDGE_DATA"/*.db-wal "$FLUENTEDGE_DATA"/*.db-shm
echo "== make restore of each backup"
for f in "$BACKUP_DIR"/*.db; do "${MAKE[@]}" restore FILE="$f"; done
after=$(totals)
if [ "$before" != "$after" ]; then
  echo "FAIL: totals differ after restore" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "== the services start on the restored files and serve the restored conversation"
suite_start "$FLUENTEDGE_DATA"
served=$(curl -fsS "$GATEWAY_URL/api/talk/sessions/$SESSION/messages" -H "Authorization: Bearer $LEARNER" \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')
[ "$served" = 2 ] || { echo "FAIL: the restored session serves $served messages, expected 2" >&2; exit 1; }
echo "SQLite backup/restore: $(wc -l <<<"$after") tables identical after restore, served again"
