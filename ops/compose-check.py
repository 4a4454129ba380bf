#!/usr/bin/env python3
"""Checks compose/docker-compose.yml beyond `docker-compose config`: the manual's profiles hold the
right services, the manual's healthchecks are there, Redis keeps AOF on, every service image is
built from a target that docker/Dockerfile defines, and every file the stack mounts exists.

    python3 ops/compose-check.py    # exit 1 on a failure
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose/docker-compose.yml"
PROFILES = {
    "db": {"postgres", "redis"},
    "full": {"postgres", "redis", "gateway", "conversation", "llm-router", "usage-accounting"},
    "monitoring": {"prometheus", "grafana", "otel-collector", "jaeger", "postgres-exporter",
                   "redis-exporter", "blackbox-exporter", "cadvisor", "node-exporter"},
}


def main():
    errors = []
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    members = {}
    for name, svc in services.items():
        for p in svc.get("profiles", []):
            members.setdefault(p, set()).add(name)
    for profile, want in PROFILES.items():
        missing = want - members.get(profile, set())
        if missing:
            errors.append(f"profile {profile} lacks {sorted(missing)}")
    if members.get("db", set()) - PROFILES["db"]:
        errors.append(f"profile db should hold only PostgreSQL and Redis: {sorted(members['db'])}")

    def healthcheck(name):
        return " ".join(map(str, services[name].get("healthcheck", {}).get("test", [])))

    if "pg_isready -U fluentedge" not in healthcheck("postgres"):
        errors.append("postgres: healthcheck must be pg_isready -U fluentedge (the manual)")
    if "redis-cli ping" not in healthcheck("redis"):
        errors.append("redis: healthcheck must be redis-cli ping (the manual)")
    for name in ("postgres", "redis"):
        if services[name].get("healthcheck", {}).get("interval") != "5s":
            errors.append(f"{name}: the manual checks every 5 s")
    if services["gateway"].get("healthcheck", {}).get("interval") != "30s" or \
            "/health" not in healthcheck("gateway"):
        errors.append("gateway: the manual checks GET /health every 30 s")
    command = " ".join(map(str, services["redis"].get("command", [])))
    if not re.search(r"--appendonly \$\{REDIS_APPENDONLY:-yes\}|--appendonly yes", command):
        errors.append("redis: AOF must be on (--appendonly yes)")
    if "noeviction" not in command:
        errors.append("redis: maxmemory-policy must be noeviction (budget and outbox keys)")

    targets = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", (ROOT / "docker/Dockerfile").read_text(),
                             flags=re.M | re.I))
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            if build.get("dockerfile") != "docker/Dockerfile" or build.get("target") not in targets:
                errors.append(f"{name}: build must use a docker/Dockerfile target ({sorted(targets)})")
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("."):
                if not (COMPOSE.parent / src).resolve().exists():
                    errors.append(f"{name}: mounts {src}, which does not exist")
    if errors:
        print("\n".join(f"FAIL {e}" for e in errors))
        return 1
    print(f"compose: profiles {', '.join(PROFILES)} hold their services; healthchecks, AOF, "
          f"build targets and mounts checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
