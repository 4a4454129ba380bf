"""Renders a kustomization with `kubectl kustomize` (or `kustomize build`): the objects, as dicts.
Shared by ops/k8s-check.py and ops/k8s-policy-check.py."""

import shutil
import subprocess
import sys

import yaml

# Every kustomization under k8s/ and the row of the manual's tables it follows.
TARGETS = {
    "base": None,
    "overlays/dev": "dev",
    "overlays/staging": "staging",
    "overlays/production": "production",
    "overlays/dev-scale-to-zero": "dev",
}


def render(path):
    kubectl = shutil.which("kubectl")
    cmd = [kubectl, "kustomize", str(path)] if kubectl else None
    if cmd is None and shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(path)]
    if cmd is None:
        sys.exit("ops/k8s checks need kubectl (kubectl kustomize) or kustomize on PATH")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]
