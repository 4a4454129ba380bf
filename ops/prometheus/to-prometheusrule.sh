#!/usr/bin/env bash
# Prints ops/prometheus/rules/fluentedge.rules.yml wrapped in a PrometheusRule, for clusters whose
# Prometheus is run by the Prometheus Operator (kube-prometheus-stack):
#   make k8s-prometheus-rule NAMESPACE=monitoring | kubectl apply -f -
# The rules are the same ones `promtool test rules` checks; nothing is copied by hand.
set -euo pipefail
ns=${1:-monitoring}
rules="$(dirname "$0")/rules/fluentedge.rules.yml"
python3 - "$rules" "$ns" <<'PY'
import sys, yaml

def text(dumper, value):
    # Multi-line PromQL stays readable as a literal block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

yaml.SafeDumper.add_representer(str, text)
rules = yaml.safe_load(open(sys.argv[1]))
doc = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {
        "name": "fluentedge",
        "namespace": sys.argv[2],
        # kube-prometheus-stack selects rules by its release label; adjust to yours.
        "labels": {"app.kubernetes.io/part-of": "fluentedge", "release": "kube-prometheus-stack"},
    },
    "spec": {"groups": rules["groups"]},
}
yaml.safe_dump(doc, sys.stdout, sort_keys=False, width=100)
PY
