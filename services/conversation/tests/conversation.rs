//! The conversation service's integration tests: one binary.
//!
//! - `storage`: the storage conformance suite, on PostgreSQL and on SQLite.
//! - `service_*`: the gRPC service (spawned on port 0) against a fake router
//!   that injects failures deterministically, on both databases.
//! - `real_router`: the whole path through the real llm-router binary and the
//!   provider simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "conversation/fake_router.rs"]
mod fake_router;
#[path = "conversation/real_router.rs"]
mod real_router;
#[path = "conversation/service_access.rs"]
mod service_access;
#[path = "conversation/service_failures.rs"]
mod service_failures;
#[path = "conversation/service_flow.rs"]
mod service_flow;
#[path = "conversation/service_paging.rs"]
mod service_paging;
#[path = "conversation/storage.rs"]
mod storage;
#[path = "conversation/storage_messages.rs"]
mod storage_messages;
#[path = "conversation/storage_migrations.rs"]
mod storage_migrations;
#[path = "conversation/support.rs"]
mod support;
