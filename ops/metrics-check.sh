#!/usr/bin/env bash
# Every service's /metrics as Prometheus tooling reads it: on the running suite (ops/lib/suite.sh),
# after some traffic so the families appear, each listener answers the exposition content type,
# `promtool check metrics` is clean (HELP on every family, naming rules) and the standard
# process_* metrics are there.   ops/metrics-check.sh   (ops/check.sh runs it)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
command -v promtool >/dev/null || { echo "promtool not found (Debian: apt-get install prometheus)" >&2; exit 1; }

# shellcheck source=ops/lib/suite.sh
. ops/lib/suite.sh
work=$(mktemp -d)
trap 'suite_stop; rm -rf "$work"' EXIT
suite_start "$work" || exit 1

# Traffic through every service, then the admin's budget.
suite_traffic || echo "warning: some traffic failed; families may be missing"
curl -fsS -o /dev/null "$GATEWAY_URL/api/v1/admin/budget" -H "Authorization: Bearer $ADMIN"

status=0
for entry in $METRICS_URLS; do
  name=${entry%%=*} url=${entry#*=}
  body="$work/$name.prom"
  type=$(curl -fsS -o "$body" -w '%{content_type}' "$url") || { echo "$name: $url unreachable"; status=1; continue; }
  problems=()
  [ "$type" = "text/plain; version=0.0.4; charset=utf-8" ] || problems+=("content type \"$type\"")
  lint=$(promtool check metrics <"$body" 2>&1) || problems+=("promtool: $lint")
  for family in process_cpu_seconds_total process_resident_memory_bytes process_open_fds \
    process_max_fds process_start_time_seconds; do
    grep -q "^$family " "$body" || problems+=("no $family")
  done
  families=$(grep -c '^# TYPE' "$body")
  if [ ${#problems[@]} -eq 0 ]; then
    echo "$name: $families families, promtool clean, process_* present, $type"
  else
    printf '%s: %s\n' "$name" "${problems[@]}"
    status=1
  fi
done
exit $status
