#!/usr/bin/env python3
"""Checks the zero-trust parts of every kustomization under k8s/ (issue 14), on what it renders.

1. Network: a default-deny NetworkPolicy (ingress and egress, every pod); every Deployment selected
   by a policy of its own; and the connections the policies allow are exactly EXPECTED below, no
   more and no fewer. A pod-to-pod connection counts when the caller's egress and the callee's
   ingress both allow it; a rule that only one side has is reported as well. Peers outside the
   namespace are recognised by their selectors (PEERS), addresses (and a PostgreSQL or Redis in
   another namespace) by their port (ADDRESS_PEERS); a rule with no peer list or no port list
   allows everything and shows up as an extra edge.
2. Service keys: each signing service mounts exactly its own private key Secret
   (fluentedge-service-key-<service>, defaultMode 0400, read-only) and points SERVICE_AUTH_KEY_FILE
   into it; usage-accounting mounts no private key; no pod mounts the operator's key; every
   service mounts the trust Secret whole (no subPath, so updates reach the pod) as
   SERVICE_AUTH_TRUST_DIR; nothing sets FLUENTEDGE_DEV (development keys, loopback only).

    python3 ops/k8s-policy-check.py     # exit 1 on any failure
"""

import ipaddress
import sys
from pathlib import Path

from k8s_render import TARGETS, render

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["gateway", "conversation", "llm-router", "usage-accounting"]
SIGNERS = {"gateway", "conversation", "llm-router"}  # usage-accounting only verifies
KEY_SECRET_PREFIX = "fluentedge-service-key-"
TRUST_SECRET = "fluentedge-service-trust"

# Peers outside the namespace: (namespace labels, pod labels) → name.
PEERS = {
    "ingress-controller": ({"kubernetes.io/metadata.name": "ingress-nginx"},
                           {"app.kubernetes.io/name": "ingress-nginx"}),
    "prometheus": ({"kubernetes.io/metadata.name": "monitoring"},
                   {"app.kubernetes.io/name": "prometheus"}),
    "kube-dns": ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"}),
}
# Addresses outside the cluster, named by the port they are allowed on.
ADDRESS_PEERS = {443: "providers", 5432: "postgres", 6379: "redis"}
# The datastores may also run in the cluster, selected by namespace and pod labels instead.
DATASTORE_PORTS = {5432, 6379}
# What the providers' rule must never reach: the cluster, the VPC and the metadata service.
PRIVATE_V4 = ["10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
              "192.168.0.0/16"]
PRIVATE_V6 = ["::1/128", "fc00::/7", "fe80::/10"]

# (from, to, protocol, port): the list.
EXPECTED = {
    ("ingress-controller", "gateway", "TCP", 8000),
    ("prometheus", "gateway", "TCP", 8000),
    ("prometheus", "conversation", "TCP", 51051),
    ("prometheus", "llm-router", "TCP", 51052),
    ("prometheus", "usage-accounting", "TCP", 51053),
    ("gateway", "conversation", "TCP", 50051),
    ("gateway", "llm-router", "TCP", 50052),
    ("gateway", "usage-accounting", "TCP", 50053),
    ("conversation", "llm-router", "TCP", 50052),
    ("llm-router", "usage-accounting", "TCP", 50053),
    ("llm-router", "providers", "TCP", 443),
    ("conversation", "postgres", "TCP", 5432),
    ("usage-accounting", "postgres", "TCP", 5432),
    ("llm-router", "redis", "TCP", 6379),
} | {(s, "kube-dns", proto, 53) for s in SERVICES for proto in ("UDP", "TCP")}

errors = []


def fail(where, message):
    errors.append(f"{where}: {message}")


def selects(selector, labels):
    """Whether a label selector matches `labels` (an empty selector matches everything)."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": labels.get(key) not in values,
              "Exists": key in labels,
              "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def is_empty(selector):
    return not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions")


class Namespace:
    """One rendered kustomization: its Deployments' pod labels and container ports."""

    def __init__(self, objs):
        self.deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
        self.policies = [o for o in objs if o["kind"] == "NetworkPolicy"]

    def labels(self, name):
        return self.deployments[name]["spec"]["template"]["metadata"].get("labels") or {}

    def selected(self, selector):
        return [n for n in self.deployments if selects(selector, self.labels(n))]

    def container_ports(self, name):
        return {p["containerPort"] for c in self.deployments[name]["spec"]["template"]["spec"][
            "containers"] for p in c.get("ports") or []}

    def port_number(self, name, port):
        """A policy port as a number: named ports resolve against the Deployment's containers."""
        if isinstance(port, int) or name not in self.deployments:
            return port
        for c in self.deployments[name]["spec"]["template"]["spec"]["containers"]:
            for p in c.get("ports") or []:
                if p.get("name") == port:
                    return p["containerPort"]
        return port


def peer_names(ns, where, peers, port):
    """The names of a rule's peers; a missing or empty list means anyone."""
    if not peers:
        return ["anyone"]
    names = []
    for peer in peers:
        if "ipBlock" in peer:
            names.append(address_peer(where, peer["ipBlock"], port))
        elif "namespaceSelector" in peer:
            key = (peer["namespaceSelector"], peer.get("podSelector") or {})
            found = [n for n, (nsl, podl) in PEERS.items()
                     if key == ({"matchLabels": nsl}, {"matchLabels": podl})]
            if not found and port in DATASTORE_PORTS:
                found = [ADDRESS_PEERS[port]]  # a PostgreSQL / Redis running in the cluster
            names.append(found[0] if found else f"namespaces {key}")
        else:
            matched = ns.selected(peer.get("podSelector"))
            names.extend(matched or [f"no pod matches {peer.get('podSelector')}"])
    return names


def address_peer(where, block, port):
    name = ADDRESS_PEERS.get(port, f"address {block['cidr']}")
    cidr = ipaddress.ip_network(block["cidr"])
    if cidr.prefixlen == 0:
        private = PRIVATE_V4 if cidr.version == 4 else PRIVATE_V6
        missing = [p for p in private if p not in (block.get("except") or [])]
        if missing:
            fail(where, f"{block['cidr']} on port {port} does not exclude {missing}")
    return name


def rule_ports(rule):
    """(protocol, port) pairs of a rule; none listed means every port."""
    ports = rule.get("ports")
    if not ports:
        return [("any", "any")]
    return [(p.get("protocol", "TCP"),
             f"{p['port']}-{p['endPort']}" if "endPort" in p else p.get("port", "any"))
            for p in ports]


def edges(ns, where):
    ingress, egress = set(), set()
    for pol in ns.policies:
        spec = pol["spec"]
        here = f"{where} NetworkPolicy/{pol['metadata']['name']}"
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        for target in ns.selected(spec.get("podSelector")):
            for rule in (spec.get("ingress") or []) if "Ingress" in types else []:
                for proto, port in rule_ports(rule):
                    port = ns.port_number(target, port)
                    for src in peer_names(ns, here, rule.get("from"), port):
                        ingress.add((src, target, proto, port))
            for rule in (spec.get("egress") or []) if "Egress" in types else []:
                for proto, port in rule_ports(rule):
                    for dst in peer_names(ns, here, rule.get("to"), port):
                        egress.add((target, dst, proto, ns.port_number(dst, port)))
    return ingress, egress


def check_network(where, ns):
    deny = [p for p in ns.policies if is_empty(p["spec"].get("podSelector"))
            and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes") or [])
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not deny:
        fail(where, "no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, "
                    "no rules)")
    for name in ns.deployments:
        own = [p for p in ns.policies if not is_empty(p["spec"].get("podSelector"))
               and selects(p["spec"]["podSelector"], ns.labels(name))]
        if not own:
            fail(where, f"Deployment/{name} is selected by no NetworkPolicy of its own")
    ingress, egress = edges(ns, where)
    internal = set(ns.deployments)
    allowed = set()
    for edge in ingress | egress:
        src, dst = edge[0], edge[1]
        if src in internal and dst in internal:
            if edge in ingress and edge in egress:
                allowed.add(edge)
            else:
                side = "egress of " + src if edge in egress else "ingress of " + dst
                fail(where, f"one-sided rule {fmt(edge)}: only the {side} allows it")
        elif (src in internal and edge in egress) or (dst in internal and edge in ingress):
            allowed.add(edge)
    for edge in sorted(allowed - EXPECTED, key=str):
        fail(where, f"allows {fmt(edge)}, which is not in the list of edges")
    for edge in sorted(EXPECTED - allowed, key=str):
        fail(where, f"does not allow {fmt(edge)}")
    for edge in sorted(allowed, key=str):
        if edge[1] in internal and edge[3] not in ns.container_ports(edge[1]):
            fail(where, f"allows {fmt(edge)}, a port {edge[1]} does not listen on")
    return len(allowed)


def fmt(edge):
    src, dst, proto, port = edge
    return f"{src} → {dst}:{port}/{proto}"


def secret_volumes(spec):
    """volume name → (secret name, defaultMode, item modes), Secrets and projected Secrets."""
    found = {}
    for vol in spec.get("volumes") or []:
        sources = [vol["secret"]] if "secret" in vol else [
            s["secret"] for s in (vol.get("projected") or {}).get("sources") or [] if "secret" in s]
        mode = (vol.get("secret") or vol.get("projected") or {}).get("defaultMode", 0o644)
        for src in sources:
            modes = [i["mode"] for i in src.get("items") or [] if "mode" in i]
            found.setdefault(vol["name"], []).append((src["secretName"], mode, modes))
    return found


def check_keys(where, ns, configmaps):
    for name, dep in ns.deployments.items():
        here = f"{where} Deployment/{name}"
        spec = dep["spec"]["template"]["spec"]
        volumes = secret_volumes(spec)
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            env = {e["name"]: e for e in c.get("env") or []}
            mounts = {m["name"]: m for m in c.get("volumeMounts") or []}
            if "FLUENTEDGE_DEV" in env:
                fail(here, "sets FLUENTEDGE_DEV: development keys never run in a cluster")
            key_vols = [(v, s) for v, srcs in volumes.items() for s in srcs
                        if v in mounts and s[0].startswith(KEY_SECRET_PREFIX)]
            for vol, (secret, _, _) in [(v, s) for v, srcs in volumes.items() for s in srcs]:
                if "operator" in secret and vol in mounts:
                    fail(here, f"mounts {secret}: the operator's key never enters the cluster")
            own = KEY_SECRET_PREFIX + name
            for vol, (secret, mode, item_modes) in key_vols:
                if secret != own:
                    fail(here, f"mounts another service's private key {secret}")
                if mode != 0o400 or any(m != 0o400 for m in item_modes):
                    fail(here, f"{secret} is mounted with mode {oct(mode)}, not 0400")
                if not mounts[vol].get("readOnly"):
                    fail(here, f"{secret} is not mounted read-only")
            key_file = (env.get("SERVICE_AUTH_KEY_FILE") or {}).get("value")
            if name in SIGNERS:
                if [s for _, (s, _, _) in key_vols] != [own]:
                    fail(here, f"must mount exactly its own private key {own}")
                elif not key_file or not key_file.startswith(mounts[key_vols[0][0]]["mountPath"] + "/"):
                    fail(here, f"SERVICE_AUTH_KEY_FILE {key_file!r} is not in the mount of {own}")
            elif key_vols or key_file:
                fail(here, "signs nothing, so mounts no private key and sets no SERVICE_AUTH_KEY_FILE")
            trust = [v for v, srcs in volumes.items() if v in mounts
                     and any(s[0] == TRUST_SECRET for s in srcs)]
            trust_dir = (env.get("SERVICE_AUTH_TRUST_DIR") or {}).get("value")
            if len(trust) != 1:
                fail(here, f"must mount the Secret {TRUST_SECRET} once")
            elif "subPath" in mounts[trust[0]] or mounts[trust[0]]["mountPath"] != trust_dir:
                fail(here, f"SERVICE_AUTH_TRUST_DIR {trust_dir!r} must be the whole mount of "
                           f"{TRUST_SECRET} (no subPath: updates must reach the pod)")
    for cm in configmaps:
        if "FLUENTEDGE_DEV" in (cm.get("data") or {}):
            fail(f"{where} ConfigMap/{cm['metadata']['name']}", "sets FLUENTEDGE_DEV")


def check(where, objs):
    ns = Namespace(objs)
    missing = [s for s in SERVICES if s not in ns.deployments]
    if missing:
        fail(where, f"no Deployment for {missing}")
    n = check_network(where, ns)
    check_keys(where, ns, [o for o in objs if o["kind"] == "ConfigMap"])
    return ns, n


def find(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def pod(objs, name):
    return find(objs, "Deployment", name)["spec"]["template"]["spec"]


def named(items, name):
    return next(i for i in items if i["name"] == name)


def env_list(objs, name):
    return pod(objs, name)["containers"][0]["env"]


# Ways to get it wrong, each of which the checks above must catch (a check that cannot fail is
# no check): run on a copy of the production rendering before the real checks.
MUTATIONS = {
    "no default-deny": lambda o: o.remove(find(o, "NetworkPolicy", "default-deny")),
    "an ingress rule open to anyone": lambda o: find(o, "NetworkPolicy", "conversation")["spec"][
        "ingress"].append({"ports": [{"port": 50051}]}),
    "a rule on every port": lambda o: find(o, "NetworkPolicy", "usage-accounting")["spec"][
        "ingress"][0].pop("ports"),
    "a missing edge (gateway → usage-accounting)": lambda o: find(o, "NetworkPolicy", "gateway")[
        "spec"]["egress"].pop(2),
    "the router reaching PostgreSQL": lambda o: find(o, "NetworkPolicy", "postgres-egress")[
        "spec"]["podSelector"]["matchExpressions"][0]["values"].append("llm-router"),
    "providers' rule reaching the metadata service": lambda o: find(
        o, "NetworkPolicy", "llm-router")["spec"]["egress"][1]["to"][0]["ipBlock"]["except"].remove(
        "169.254.0.0/16"),
    "a Deployment with no policy of its own": lambda o: o.remove(
        find(o, "NetworkPolicy", "usage-accounting")),
    "conversation mounting the gateway's key": lambda o: named(pod(o, "conversation")["volumes"],
                                                       "service-key")["secret"].update(
        secretName=KEY_SECRET_PREFIX + "gateway"),
    "a private key readable by all": lambda o: named(pod(o, "gateway")["volumes"], "service-key")[
        "secret"].update(defaultMode=0o444),
    "usage-accounting with a key file": lambda o: env_list(o, "usage-accounting").append(
        {"name": "SERVICE_AUTH_KEY_FILE", "value": "/k/key.pem"}),
    "FLUENTEDGE_DEV in a Deployment": lambda o: env_list(o, "llm-router").append(
        {"name": "FLUENTEDGE_DEV", "value": "1"}),
    "the gRPC port moved, the policies not": lambda o: named(
        pod(o, "conversation")["containers"][0]["ports"], "grpc").update(containerPort=50061),
    "the trust directory through subPath": lambda o: named(
        pod(o, "llm-router")["containers"][0]["volumeMounts"], "service-trust").update(
        subPath="llm-router.pem"),
}


def self_test(objs):
    import copy
    ok = True
    for what, mutate in MUTATIONS.items():
        mutated = copy.deepcopy(objs)
        mutate(mutated)
        errors.clear()
        check("self-test", mutated)
        if not errors:
            print(f"FAIL self-test: {what} went unnoticed")
            ok = False
    errors.clear()
    print(f"  self-test: {len(MUTATIONS)} broken variants of k8s/overlays/production all caught"
          if ok else "  self-test failed")
    return ok


def main():
    if not self_test(render(ROOT / "k8s/overlays/production")):
        return 1
    for rel in TARGETS:
        where = f"k8s/{rel}"
        ns, n = check(where, render(ROOT / "k8s" / rel))
        print(f"  {where}: {len(ns.policies)} NetworkPolicies, {n} allowed edges")
    if errors:
        print("\n".join(f"FAIL {e}" for e in errors))
        return 1
    print(f"k8s policies: {len(TARGETS)} kustomizations deny by default, allow exactly the "
          f"{len(EXPECTED)} edges of the list, and mount only their own keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
