#!/usr/bin/env python3
"""Renders every kustomization under k8s/ and checks what it renders.

1. Schema: each object against the Kubernetes JSON schemas shipped by the PyPI package
   `kubernetes-validate` (offline, strict: unknown fields fail), for the oldest and the newest
   Kubernetes version we support; KEDA ScaledObjects against ops/schemas/keda-scaledobject.schema.json.
   A kind with no schema fails.
2. Policy, the issue's requirements made checkable (NetworkPolicies and service keys:
   ops/k8s-policy-check.py):
   - every service has a Deployment, a Service, a PodDisruptionBudget and a HorizontalPodAutoscaler
     (or, in the KEDA overlay, a ScaledObject);
   - gRPC services probe with native `grpc:` probes on their port, the gateway with HTTP /health
     (liveness) and /ready (readiness);
   - preStop sleep and a termination grace period that covers it plus the 25 s drain;
   - requests, limits, min and max replicas and LOG_LEVEL equal the manual's row for the overlay;
   - no secret is inlined: variables that carry credentials come from secretKeyRef only (paths to
     mounted Secrets, *_FILE and *_DIR, excepted), and no Secret object is rendered at all;
   - the router's ConfigMap holds services/llm-router/config/router.toml unchanged.

    python3 ops/k8s-check.py            # exit 1 on any failure
"""

import json
import re
import sys
from pathlib import Path

import jsonschema
from k8s_render import TARGETS, render
from kubernetes_validate import utils as kv

ROOT = Path(__file__).resolve().parent.parent
K8S_VERSIONS = ["1.30.0", "1.33.0"]
SERVICES = {"gateway": 8000, "conversation": 50051, "llm-router": 50052, "usage-accounting": 50053}
# The operations manual's scaling and log-level tables.
TABLE = {
    "dev": {"cpu": "0.5", "memory": "1Gi", "min": 1, "max": 3, "log": "DEBUG"},
    "staging": {"cpu": "1.0", "memory": "2Gi", "min": 1, "max": 5, "log": "INFO"},
    "production": {"cpu": "2.0", "memory": "4Gi", "min": 2, "max": 20, "log": "WARNING"},
}
SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL|DATABASE_URL|REDIS_URL)")
KEDA_SCHEMA = json.loads((ROOT / "ops/schemas/keda-scaledobject.schema.json").read_text())

errors = []


def fail(where, message):
    errors.append(f"{where}: {message}")


def check_schema(where, obj):
    name = f"{where} {obj['kind']}/{obj['metadata']['name']}"
    if obj["kind"] == "ScaledObject":
        try:
            jsonschema.validate(obj, KEDA_SCHEMA)
        except jsonschema.ValidationError as e:
            fail(name, f"KEDA schema: {'.'.join(map(str, e.path))}: {e.message}")
        return
    for version in K8S_VERSIONS:
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as e:
            fail(name, f"Kubernetes {version} schema: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError:
            fail(name, f"no schema for {obj['apiVersion']} {obj['kind']}")


def check_deployment(where, dep, row):
    name = dep["metadata"]["name"]
    port = SERVICES[name]
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    here = f"{where} Deployment/{name}"
    if "replicas" in dep["spec"]:
        fail(here, "sets replicas: the HPA owns the count (kubectl apply would reset it)")
    probes = {k: c.get(k) for k in ("startupProbe", "readinessProbe", "livenessProbe")}
    for kind, probe in probes.items():
        if not probe:
            fail(here, f"no {kind}")
            continue
        if name == "gateway":
            want = "/ready" if kind == "readinessProbe" else "/health"
            got = (probe.get("httpGet") or {}).get("path")
            if got != want:
                fail(here, f"{kind} must be HTTP GET {want}, is {probe}")
        elif (probe.get("grpc") or {}).get("port") != port:
            fail(here, f"{kind} must be a native grpc probe on {port}, is {probe}")
    if (probes.get("livenessProbe") or {}).get("failureThreshold") != 3:
        fail(here, "liveness must restart after 3 failed checks (the manual's alert)")
    sleep = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if sleep < 3:
        fail(here, "needs a preStop sleep so endpoints are removed before SIGTERM")
    if grace < sleep + 25 + 5:
        fail(here, f"terminationGracePeriodSeconds {grace} < preStop {sleep} + 25 s drain + 5")
    res = c.get("resources") or {}
    if row:
        for side in ("requests", "limits"):
            got = res.get(side) or {}
            if str(got.get("cpu")) != row["cpu"] or got.get("memory") != row["memory"]:
                fail(here, f"{side} {got} != the manual's {row['cpu']} vCPU / {row['memory']}")
    elif not res.get("limits") or not res.get("requests"):
        fail(here, "no resources")
    for env in c.get("env", []):
        if env["name"].endswith(("_FILE", "_DIR")):
            continue  # a path to a mounted Secret, not a secret itself
        if SECRET_NAME.search(env["name"]) and "value" in env:
            fail(here, f"{env['name']} is inlined: reference it with secretKeyRef")
        if SECRET_NAME.search(env["name"]) and "configMapKeyRef" in env.get("valueFrom", {}):
            fail(here, f"{env['name']} comes from a ConfigMap: use a Secret")
    sc = spec.get("securityContext") or {}
    if not sc.get("runAsNonRoot"):
        fail(here, "pods must run as non-root")


def check_target(rel, env):
    where = f"k8s/{rel}"
    objs = render(ROOT / "k8s" / rel)
    row = TABLE.get(env) if env else None
    by_kind = {}
    for obj in objs:
        check_schema(where, obj)
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    if "Secret" in by_kind:
        fail(where, "renders a Secret: secrets are created out of band and only referenced")
    for name in SERVICES:
        for kind in ("Deployment", "Service", "PodDisruptionBudget"):
            if name not in by_kind.get(kind, {}):
                fail(where, f"{name} has no {kind}")
        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(name)
        so = by_kind.get("ScaledObject", {}).get(name)
        if not hpa and not so:
            fail(where, f"{name} has neither a HorizontalPodAutoscaler nor a ScaledObject")
        if hpa and so:
            fail(where, f"{name} has both an HPA and a KEDA ScaledObject")
        if hpa and row and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) != (
                row["min"], row["max"]):
            fail(where, f"HPA {name} replicas {hpa['spec']['minReplicas']}..{hpa['spec']['maxReplicas']}"
                        f" != the manual's {row['min']}..{row['max']}")
        if so and row and so["spec"]["maxReplicaCount"] != row["max"]:
            fail(where, f"ScaledObject {name} max != {row['max']}")
        if name in by_kind.get("Deployment", {}):
            check_deployment(where, by_kind["Deployment"][name], row)
    configmaps = {n.rsplit("-", 1)[0]: o for n, o in by_kind.get("ConfigMap", {}).items()}
    router = configmaps.get("llm-router-config", {}).get("data", {}).get("router.toml")
    source = ROOT / "services/llm-router/config/router.toml"
    if source.exists() and router != source.read_text():
        fail(where, "ConfigMap llm-router-config differs from services/llm-router/config/router.toml"
                    " (run: make k8s-sync-router-config)")
    if row:
        level = configmaps.get("fluentedge-config", {}).get("data", {}).get("LOG_LEVEL")
        if level != row["log"]:
            fail(where, f"LOG_LEVEL {level} != the manual's {row['log']}")
    print(f"  {where}: {len(objs)} objects")


def main():
    for rel, env in TARGETS.items():
        check_target(rel, env)
    if errors:
        print("\n".join(f"FAIL {e}" for e in errors))
        return 1
    print(f"k8s: {len(TARGETS)} kustomizations valid against Kubernetes {', '.join(K8S_VERSIONS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
