#!/usr/bin/env python3
"""Checks what promtool cannot: the alert rules cover the manual's alert table, every alert has
a severity, a summary, a description and a runbook_url whose anchor exists in docs/RUNBOOK.md
(and every internal link of the runbook resolves);
and writes the Grafana dashboard's PromQL as a rule file so that promtool can parse it.

    python3 ops/rules-check.py                    # rules metadata; exit 1 on a failure
    python3 ops/rules-check.py --dashboard OUT    # also write the dashboard exprs to OUT for promtool
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "ops/prometheus/rules/fluentedge.rules.yml"
RUNBOOK = ROOT / "docs/RUNBOOK.md"

# The operations manual's alert table (and the additions), row by row.
REQUIRED = {
    "FluentEdgeContainerCpuHigh": "warning",       # CPU > 80% for 5 min
    "FluentEdgeContainerMemoryHigh": "warning",    # memory > 85% for 5 min
    "FluentEdgeHttp5xxRateHigh": "critical",       # HTTP 5xx > 1% for 5 min
    "FluentEdgeHttpLatencyP95High": "warning",     # P95 > 3000 ms for 5 min
    "PostgresCpuHigh": "warning",                  # PostgreSQL CPU > 80% for 5 min
    "PostgresStorageHigh": "critical",             # PostgreSQL storage > 85%
    "RedisMemoryHigh": "warning",                  # Redis memory > 80%
    "LlmProviderBreakerOpen": "critical",          # LLM circuit breaker open
    "FluentEdgeHealthCheckFailing": "critical",    # health check failing 3 times in a row
    "LlmBudgetHalfOpen": "warning",                # budget HALF_OPEN (alert)
    "LlmBudgetOpen": "critical",                   # budget OPEN (critical)
    "UsageOutboxGrowing": "warning",               # a growing usage outbox
}


def github_anchor(heading):
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def main(argv):
    errors = []
    rules = yaml.safe_load(RULES.read_text())
    anchors = set()
    if RUNBOOK.exists():
        for line in RUNBOOK.read_text().splitlines():
            m = re.match(r"^#{1,6}\s+(.*)$", line)
            if m:
                anchors.add(github_anchor(m.group(1)))
    else:
        errors.append("docs/RUNBOOK.md is missing")
    if RUNBOOK.exists():
        for link in re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text()):
            if link not in anchors:
                errors.append(f"docs/RUNBOOK.md links to #{link}, which is no heading")
    alerts = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                alerts[rule["alert"]] = rule
    for name, rule in alerts.items():
        labels = rule.get("labels", {})
        ann = rule.get("annotations", {})
        if labels.get("severity") not in ("warning", "critical"):
            errors.append(f"{name}: severity must be warning or critical")
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                errors.append(f"{name}: no {key}")
        url = ann.get("runbook_url", "")
        if not url.startswith("docs/RUNBOOK.md#"):
            errors.append(f"{name}: runbook_url must point into docs/RUNBOOK.md")
        elif url.split("#", 1)[1] not in anchors:
            errors.append(f"{name}: docs/RUNBOOK.md has no section #{url.split('#', 1)[1]}")
    for name, severity in REQUIRED.items():
        if name not in alerts:
            errors.append(f"the manual's alert {name} is missing")
        elif alerts[name].get("labels", {}).get("severity") != severity:
            errors.append(f"{name}: severity should be {severity}")

    if "--dashboard" in argv:
        out = Path(argv[argv.index("--dashboard") + 1])
        exprs = subprocess.run([sys.executable, str(ROOT / "ops/grafana/build-dashboard.py"),
                                "--exprs"], check=True, capture_output=True, text=True).stdout
        # Grafana's variables, replaced by values of the right type so promtool can parse.
        subst = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}
        recs = []
        for i, expr in enumerate(e for e in exprs.splitlines() if e.strip()):
            for k, v in subst.items():
                expr = expr.replace(k, v)
            if "$" in expr:
                errors.append(f"dashboard expression with an unknown variable: {expr}")
            recs.append({"record": f"dashboard:expr_{i}", "expr": expr})
        out.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": recs}]}))

    if errors:
        print("\n".join(f"FAIL {e}" for e in errors))
        return 1
    print(f"rules: {len(alerts)} alerts, each with severity, summary, description and a runbook "
          f"section; the manual's {len(REQUIRED)} rows covered")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
