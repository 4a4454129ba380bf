#!/usr/bin/env python3
"""Checks compose/docker-compose.yml beyond `docker-compose config`: the manual's profiles hold the
right services, the manual's healthchecks are there, Redis keeps AOF on, every service image is
built from a target that docker/Dockerfile defines, every file the stack mounts exists, and the
service keys are wired as in Kubernetes: each signing service mounts only its own private key
volume (read-only) as SERVICE_AUTH_KEY_FILE, every service the trust volume as
SERVICE_AUTH_TRUST_DIR, they start after the `keys` service completed, the operator's key is
mounted by `keys` alone, AUTH_JWT_SECRET has no default and nothing sets FLUENTEDGE_DEV.

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
    "full": {"postgres", "redis", "keys", "gateway", "conversation", "llm-router",
             "usage-accounting"},
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
    errors += service_key_errors(services)
    if errors:
        print("\n".join(f"FAIL {e}" for e in errors))
        return 1
    print(f"compose: profiles {', '.join(PROFILES)} hold their services; healthchecks, AOF, "
          f"build targets and mounts checked")
    return 0


SIGNERS = ("gateway", "conversation", "llm-router")
KEY_VOLUME = "service-key-"
TRUST_VOLUME = "service-trust"


def service_key_errors(services):
    errors = []
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if "FLUENTEDGE_DEV" in env:
            errors.append(f"{name}: sets FLUENTEDGE_DEV (development keys, loopback only)")
        mounts = [v.split(":") for v in svc.get("volumes", []) if isinstance(v, str)]
        keys = [m for m in mounts if m[0].startswith(KEY_VOLUME)]
        if name == "keys":
            continue
        if name not in SIGNERS + ("usage-accounting",):
            if keys:
                errors.append(f"{name}: mounts service keys {[m[0] for m in keys]}")
            continue
        if (svc.get("depends_on") or {}).get("keys", {}).get("condition") != \
                "service_completed_successfully":
            errors.append(f"{name}: must start after `keys` completed successfully")
        key_file = env.get("SERVICE_AUTH_KEY_FILE")
        own = KEY_VOLUME + name
        if name in SIGNERS:
            if [m[0] for m in keys] != [own] or keys[0][-1] != "ro":
                errors.append(f"{name}: must mount exactly its own key volume {own}, read-only "
                              f"(mounts {[':'.join(m) for m in keys]})")
            elif not key_file or not key_file.startswith(keys[0][1] + "/"):
                errors.append(f"{name}: SERVICE_AUTH_KEY_FILE {key_file!r} is not in {own}")
        elif keys or key_file:
            errors.append(f"{name}: signs nothing, so mounts no private key")
        trust = [m for m in mounts if m[0] == TRUST_VOLUME]
        if len(trust) != 1 or trust[0][-1] != "ro" or trust[0][1] != env.get("SERVICE_AUTH_TRUST_DIR"):
            errors.append(f"{name}: must mount {TRUST_VOLUME} read-only as SERVICE_AUTH_TRUST_DIR")
    gateway_env = services["gateway"].get("environment") or {}
    if gateway_env.get("AUTH_JWT_SECRET") is not None:
        errors.append("gateway: AUTH_JWT_SECRET must be passed through (compose/.env), never given "
                      "a value or a default here")
    return errors


if __name__ == "__main__":
    sys.exit(main())
