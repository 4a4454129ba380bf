# Operations targets (docs/RUNBOOK.md). Included by the root Makefile; also usable alone:
#   make -f mk/ops.mk backup
#
# Local servers by default (libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD, defaulting to
# postgres@127.0.0.1:5432; or DATABASE_URL; REDIS_URL for Redis). COMPOSE=1 runs the same
# procedures inside the compose containers (`docker compose exec postgres …`, user fluentedge).

OPS_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
SHELL := /bin/bash

# Where dumps go, and which databases `make backup` dumps (the ledger first).
BACKUP_DIR ?= backups
BACKUP_DATABASES ?= fluentedge fluentedge_conversation
export BACKUP_DIR COMPOSE

.PHONY: backup backup-table restore redis-backup backup-test ops-check dashboard \
        k8s-render k8s-sync-router-config k8s-prometheus-rule k8s-grafana-dashboard

# The embedded SQLite files of `make run` (FLUENTEDGE_DATA, default .fluentedge): `make backup` and
# `make restore` handle them when no DATABASE_URL, COMPOSE or DB is given and that directory holds
# *.db files; STORE=postgres or STORE=sqlite chooses explicitly.
FLUENTEDGE_DATA ?= .fluentedge
export FLUENTEDGE_DATA
STORE ?= $(if $(or $(DATABASE_URL),$(filter-out 0,$(COMPOSE)),$(DB)),postgres,$(if $(wildcard $(FLUENTEDGE_DATA)/*.db),sqlite,postgres))

backup: ## pg_dump of each database (DB=name for one), or the embedded SQLite files, into $(BACKUP_DIR)
ifeq ($(STORE),sqlite)
	@python3 $(OPS_ROOT)/ops/backup/sqlite.py dump
else
	@$(OPS_ROOT)/ops/backup/pg.sh dump $(if $(DB),$(DB),$(if $(DATABASE_URL),,$(BACKUP_DATABASES)))
endif

backup-table: ## dump one table: make backup-table TABLE=api_usage_log [DB=fluentedge]
	@test -n "$(TABLE)" || { echo "usage: make backup-table TABLE=<table> [DB=<database>]" >&2; exit 2; }
	@$(OPS_ROOT)/ops/backup/pg.sh dump-table "$(TABLE)" $(DB)

restore: ## restore a dump: make restore FILE=backups/fluentedge_….sql [DB=name], or FILE=backups/usage_….db
	@test -n "$(FILE)" || { echo "usage: make restore FILE=<dump.sql|backup.db> [DB=<database>]" >&2; exit 2; }
ifneq ($(filter %.db,$(FILE)),)
	@python3 $(OPS_ROOT)/ops/backup/sqlite.py restore "$(FILE)"
else
	@$(OPS_ROOT)/ops/backup/pg.sh restore "$(FILE)" $(DB)
endif

redis-backup: ## Redis BGSAVE, wait for it, copy dump.rdb into $(BACKUP_DIR)/redis_<UTC time>.rdb
	@$(OPS_ROOT)/ops/backup/redis.sh

backup-test: ## dump, drop, restore a scratch ledger on local PostgreSQL, then the embedded SQLite files; totals must match
	@$(OPS_ROOT)/ops/test-backup-restore.sh
	@$(OPS_ROOT)/ops/test-sqlite-backup-restore.sh

ops-check: ## every ops check: alert rules + tests, dashboard, compose, k8s, Dockerfile, backups
	@$(OPS_ROOT)/ops/check.sh

dashboard: ## regenerate ops/grafana/dashboards/fluentedge.json from its generator
	@python3 $(OPS_ROOT)/ops/grafana/build-dashboard.py

k8s-render: ## render the manifests of ENV=dev|staging|production (default production)
	@kubectl kustomize $(OPS_ROOT)/k8s/overlays/$(or $(ENV),production)

k8s-sync-router-config: ## copy services/llm-router/config/router.toml into the k8s ConfigMap source
	@cp $(OPS_ROOT)/services/llm-router/config/router.toml $(OPS_ROOT)/k8s/base/config/router.toml
	@echo "k8s/base/config/router.toml updated"

k8s-prometheus-rule: ## print the alert rules as a PrometheusRule (Prometheus Operator), NAMESPACE=monitoring
	@$(OPS_ROOT)/ops/prometheus/to-prometheusrule.sh $(or $(NAMESPACE),monitoring)

k8s-grafana-dashboard: ## print the dashboard as a ConfigMap for Grafana's dashboard sidecar, NAMESPACE=monitoring
	@kubectl create configmap fluentedge-dashboard --namespace $(or $(NAMESPACE),monitoring) \
	  --from-file=fluentedge.json=$(OPS_ROOT)/ops/grafana/dashboards/fluentedge.json --dry-run=client -o yaml \
	  | kubectl label --local -f - grafana_dashboard=1 -o yaml
