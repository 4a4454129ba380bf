//! llm-router integration tests, one binary (the vendor clients' own tests
//! live in `crates/llm-providers/tests`): the engine's fallback, the gRPC
//! surface on port 0, the resilience and budget modules (`resilience/`), and the whole call path end to end
//! (`calls_*`: the router with real Redis and the real usage-accounting).
//! Needs PostgreSQL and Redis on loopback, `redis-server` and `grpcurl` on
//! PATH, and the workspace binaries built (`cargo build --workspace --bins`).

// Test helpers fail loudly on purpose, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tests start concurrent callers and routers at will; the tracked-spawn rule
// (clippy.toml) is for the router's own work.
#![allow(clippy::disallowed_methods)]

#[path = "router/support.rs"]
mod support;

#[path = "router/stack.rs"]
mod stack;

mod resilience;

#[path = "router/calls_admin.rs"]
mod calls_admin;
#[path = "router/calls_budget.rs"]
mod calls_budget;
#[path = "router/calls_ledger.rs"]
mod calls_ledger;
#[path = "router/calls_resilience.rs"]
mod calls_resilience;
#[path = "router/calls_shutdown.rs"]
mod calls_shutdown;
#[path = "router/engine.rs"]
mod engine;
#[path = "router/grpc.rs"]
mod grpc;
#[path = "router/tools.rs"]
mod tools;
