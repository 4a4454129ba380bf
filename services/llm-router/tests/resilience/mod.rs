//! llm-router resilience: retries, provider breakers, the budget breaker,
//! usage delivery and the admin RPCs. Needs Redis (127.0.0.1:6379, unique key
//! prefixes per test) and `redis-server` + `redis-cli` on PATH for the outage
//! tests and the Redis Cluster suites (each starts a cluster of its own; they
//! are skipped with a loud message where redis-server is absent).

pub mod support;

mod admin;
mod breaker;
mod budget_breaker;
mod budget_exactness;
mod budget_reclaim;
mod budget_slices;
mod budget_store;
mod cluster_failover;
mod dead_primary;
mod delivery;
mod ledger_grpc;
mod logs;
mod outbox;
mod pin_store;
mod redis_outage;
mod retry;
