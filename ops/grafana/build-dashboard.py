#!/usr/bin/env python3
"""Writes ops/grafana/dashboards/fluentedge.json, the FluentEdge Grafana dashboard.

The JSON is generated so that its many panels stay consistent (datasource, units, layout) and
reviewable as code; the generated file is checked in because Grafana provisions it as is.
`ops/check.sh` regenerates it and fails when the checked-in file differs, and parses every
panel's PromQL with promtool.

    python3 ops/grafana/build-dashboard.py            # rewrite the JSON
    python3 ops/grafana/build-dashboard.py --check    # exit 1 if the checked-in JSON is stale
    python3 ops/grafana/build-dashboard.py --exprs    # print every PromQL expression, one a line
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "fluentedge.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
USER_ROUTES = 'route!~"/health|/ready|/metrics"'
RI = "$__rate_interval"


class Layout:
    """Places panels left to right, 24 columns wide, starting a new line when full."""

    def __init__(self):
        self.panels = []
        self.x = 0
        self.y = 0
        self.line_height = 0
        self.next_id = 1

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        self._newline()
        self.panels.append(
            {"type": "row", "id": self._id(), "title": title, "collapsed": False,
             "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += self.line_height
            self.x = 0
            self.line_height = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.line_height = max(self.line_height, h)


def targets(*exprs):
    """(expr, legend) pairs to Grafana targets with refIds A, B, ..."""
    return [
        {"datasource": DS, "refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
         "range": True}
        for i, (expr, legend) in enumerate(exprs)
    ]


def timeseries(title, exprs, unit="short", description="", thresholds=None, stack=False):
    defaults = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                         "showPoints": "never",
                                         "stacking": {"mode": "normal" if stack else "none"}}}
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
    return {"type": "timeseries", "title": title, "description": description, "datasource": DS,
            "targets": targets(*exprs), "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                   "calcs": ["mean", "max", "lastNotNull"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title, expr, unit="short", description="", thresholds=None, mappings=None,
         graph=True):
    steps = thresholds or [{"color": "green", "value": None}]
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": targets((expr, "")),
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                         "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "area" if graph else "none",
                        "textMode": "auto"}}


def gauge(title, expr, unit, thresholds, description="", max_value=1):
    return {"type": "gauge", "title": title, "description": description, "datasource": DS,
            "targets": targets((expr, "")),
            "fieldConfig": {"defaults": {"unit": unit, "min": 0, "max": max_value,
                                         "thresholds": {"mode": "absolute", "steps": thresholds}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "showThresholdMarkers": True}}


def state_timeline(title, expr, legend, mappings, description=""):
    return {"type": "state-timeline", "title": title, "description": description,
            "datasource": DS, "targets": targets((expr, legend)),
            "fieldConfig": {"defaults": {"mappings": mappings, "color": {"mode": "thresholds"},
                                         "thresholds": {"mode": "absolute", "steps": [
                                             {"color": "green", "value": None}]}},
                            "overrides": []},
            "options": {"showValue": "auto", "mergeValues": True, "rowHeight": 0.8}}


def value_map(pairs):
    """{value: (text, color)} to one Grafana value mapping."""
    return [{"type": "value", "options": {
        str(v): {"text": text, "color": color, "index": i}
        for i, (v, (text, color)) in enumerate(pairs.items())}}]


BREAKER = value_map({0: ("closed", "green"), 1: ("half-open", "yellow"), 2: ("open", "red")})
BUDGET = value_map({0: ("CLOSED", "green"), 1: ("HALF_OPEN", "orange"), 2: ("OPEN", "red")})
RATIO_STEPS = [{"color": "green", "value": None}, {"color": "orange", "value": 0.8},
               {"color": "red", "value": 0.95}]


def quantile(q, metric, by, selector=""):
    inner = f"sum by ({by}) (rate({metric}_bucket{{{selector}}}[{RI}]))"
    return f"histogram_quantile({q}, {inner})"


def build():
    p = Layout()

    p.row("Traffic")
    p.add(stat("Gateway requests/s", f"sum(rate(http_requests_total{{{USER_ROUTES}}}[{RI}]))",
               "reqps"), 4, 6)
    p.add(timeseries("HTTP requests/s by route",
                     [(f"sum by (method, route) (rate(http_requests_total{{{USER_ROUTES}}}[{RI}]))",
                       "{{method}} {{route}}")], "reqps"), 10, 6)
    p.add(timeseries("gRPC calls/s by service and RPC",
                     [(f"sum by (service, rpc) (rate(grpc_server_requests_total[{RI}]))",
                       "{{service}} {{rpc}}")], "reqps"), 10, 6)

    p.row("Latency")
    p.add(timeseries("HTTP latency (gateway)", [
        (quantile(0.5, "http_request_duration_seconds", "le", USER_ROUTES), "p50"),
        (quantile(0.95, "http_request_duration_seconds", "le", USER_ROUTES), "p95"),
        (quantile(0.99, "http_request_duration_seconds", "le", USER_ROUTES), "p99"),
    ], "s", "Alert FluentEdgeHttpLatencyP95High at P95 > 3 s for 5 minutes.",
        thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 3}]), 8, 8)
    p.add(timeseries("gRPC P95 by service", [
        (quantile(0.95, "grpc_server_request_duration_seconds", "service, le"), "{{service}}"),
    ], "s"), 8, 8)
    p.add(timeseries("LLM provider latency P95 and time to first token P95", [
        (quantile(0.95, "llm_provider_request_duration_seconds", "provider, le"),
         "{{provider}} call"),
        (quantile(0.95, "llm_provider_time_to_first_token_seconds", "provider, le"),
         "{{provider}} first token"),
    ], "s"), 8, 8)

    p.row("Errors")
    p.add(stat("HTTP 5xx ratio (5m)",
               'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
               "percentunit", "Alert FluentEdgeHttp5xxRateHigh above 1% for 5 minutes.",
               [{"color": "green", "value": None}, {"color": "red", "value": 0.01}]), 4, 7)
    p.add(timeseries("HTTP 4xx/5xx responses/s by status", [
        (f'sum by (status) (rate(http_requests_total{{status=~"[45].."}}[{RI}]))', "{{status}}"),
    ], "reqps", stack=True), 10, 7)
    p.add(timeseries("gRPC non-OK calls/s by service and code", [
        (f'sum by (service, code) (rate(grpc_server_requests_total{{code!="0"}}[{RI}]))',
         "{{service}} code {{code}}"),
    ], "reqps", "gRPC status codes: 2 UNKNOWN, 4 DEADLINE_EXCEEDED, 8 RESOURCE_EXHAUSTED (budget), "
                "13 INTERNAL, 14 UNAVAILABLE.", stack=True), 10, 7)

    p.row("LLM providers and circuit breakers")
    p.add(state_timeline("Provider circuit breakers (worst replica)",
                         "max by (provider) (llm_provider_breaker_state)", "{{provider}}",
                         BREAKER, "Alert LlmProviderBreakerOpen when open for 1 minute."), 12, 7)
    p.add(timeseries("Provider calls/s by outcome", [
        (f"sum by (provider, outcome) (rate(llm_provider_requests_total[{RI}]))",
         "{{provider}} {{outcome}}"),
    ], "reqps", stack=True), 12, 7)
    p.add(timeseries("Provider failures/s by reason", [
        (f"sum by (provider, reason) (rate(llm_provider_failures_total[{RI}]))",
         "{{provider}} {{reason}}"),
    ], "reqps", stack=True), 12, 7)
    p.add(timeseries("Retries/s by provider", [
        (f"sum by (provider) (rate(llm_provider_retries_total[{RI}]))", "{{provider}}"),
    ], "reqps"), 12, 7)

    p.row("Budget and spend")
    p.add(stat("Budget breaker", "max(llm_budget_state)", "none",
               "CLOSED below 80%, HALF_OPEN from 80% (alert), OPEN from 95% (calls blocked).",
               [{"color": "green", "value": None}, {"color": "orange", "value": 1},
                {"color": "red", "value": 2}], BUDGET, graph=False), 4, 7)
    p.add(gauge("Budget used", "max(llm_budget_utilisation_ratio)", "percentunit", RATIO_STEPS),
          4, 7)
    p.add(timeseries("Spent, reserved and limit (USD)", [
        ("max(llm_budget_spent_usd)", "spent"),
        ("max(llm_budget_reserved_usd)", "reserved (in flight)"),
        ("max(llm_budget_limit_usd)", "monthly limit"),
    ], "currencyUSD"), 10, 7)
    p.add(timeseries("Budget rejections/s by reason", [
        (f"sum by (reason) (rate(llm_budget_rejections_total[{RI}]))", "{{reason}}"),
    ], "reqps"), 6, 7)

    p.row("Tokens and cost")
    p.add(stat("Cost in the time range (USD)",
               "sum(increase(llm_cost_micro_usd_total[$__range])) / 1e6", "currencyUSD"), 4, 7)
    p.add(stat("Tokens in the time range",
               "sum(increase(gen_ai_client_token_usage_total[$__range]))", "short"), 4, 7)
    p.add(timeseries("Cost rate by provider and model (USD/hour)", [
        (f"sum by (provider, model) (rate(llm_cost_micro_usd_total[{RI}])) * 3600 / 1e6",
         "{{provider}} {{model}}"),
    ], "currencyUSD", stack=True), 8, 7)
    p.add(timeseries("Tokens/s by provider, model and type", [
        (f"sum by (provider, model, token_type) (rate(gen_ai_client_token_usage_total[{RI}]))",
         "{{provider}} {{model}} {{token_type}}"),
    ], "short", stack=True), 8, 7)

    p.row("Usage delivery and datastores")
    p.add(timeseries("Usage outbox depth and delivery failures", [
        ("max(usage_outbox_depth)", "outbox depth"),
        (f"sum(rate(usage_delivery_failures_total[{RI}]))", "delivery failures/s"),
    ], "short", "Alert UsageOutboxGrowing when the outbox keeps growing above 100."), 8, 7)
    p.add(timeseries("Ledger writes/s by result", [
        (f"sum by (result) (rate(usage_records_total[{RI}]))", "{{result}}"),
    ], "reqps", stack=True), 8, 7)
    p.add(timeseries("Database pool connections", [
        ("sum by (job, state) (db_pool_connections)", "{{job}} {{state}}"),
    ], "short"), 8, 7)
    p.add(stat("PostgreSQL up", "min(pg_up)", "none", thresholds=[
        {"color": "red", "value": None}, {"color": "green", "value": 1}],
        mappings=value_map({0: ("down", "red"), 1: ("up", "green")}), graph=False), 4, 6)
    p.add(stat("Redis up", "min(redis_up)", "none", thresholds=[
        {"color": "red", "value": None}, {"color": "green", "value": 1}],
        mappings=value_map({0: ("down", "red"), 1: ("up", "green")}), graph=False), 4, 6)
    p.add(gauge("Redis memory / maxmemory", "max(fluentedge:redis_memory_utilisation:ratio)",
                "percentunit", RATIO_STEPS), 4, 6)
    p.add(gauge("PostgreSQL storage used", "max(fluentedge:postgres_storage_utilisation:ratio)",
                "percentunit", [{"color": "green", "value": None},
                                {"color": "red", "value": 0.85}]), 4, 6)
    p.add(timeseries("Health checks (1 = healthy)", [
        ('min by (instance) (probe_success{job="blackbox-health"})', "{{instance}}"),
    ], "short"), 8, 6)

    p.row("Containers")
    p.add(timeseries("CPU / limit by container", [
        ("fluentedge:container_cpu_utilisation:ratio", "{{container}} {{pod}}"),
    ], "percentunit", "Alert FluentEdgeContainerCpuHigh above 80% for 5 minutes.",
        thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 0.8}]), 12, 7)
    p.add(timeseries("Memory / limit by container", [
        ("fluentedge:container_memory_utilisation:ratio", "{{container}} {{pod}}"),
    ], "percentunit", "Alert FluentEdgeContainerMemoryHigh above 85% for 5 minutes.",
        thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 0.85}]), 12, 7)

    return {
        "uid": "fluentedge-overview",
        "title": "FluentEdge",
        "description": "Traffic, latency, errors, LLM providers and breakers, budget and spend, "
                       "tokens and cost. Generated by ops/grafana/build-dashboard.py.",
        "tags": ["fluentedge"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {"text": "Prometheus", "value": "prometheus"},
            "hide": 0}]},
        "annotations": {"list": [{
            "name": "Alerts", "datasource": DS, "enable": True, "iconColor": "red",
            "expr": 'ALERTS{alertstate="firing"}', "titleFormat": "{{alertname}}",
            "textFormat": "{{summary}}", "step": "60s"}]},
        "links": [],
        "panels": p.panels,
    }


def render():
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv):
    text = render()
    if "--exprs" in argv:
        dash = json.loads(text)
        exprs = [t["expr"] for panel in dash["panels"] for t in panel.get("targets", [])]
        exprs += [a["expr"] for a in dash["annotations"]["list"]]
        print("\n".join(exprs))
        return 0
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 ops/grafana/build-dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
