//! The gateway over HTTP, against fake gRPC backends (deterministic) and,
//! where marked, the real binaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "gateway/app.rs"]
mod app;
#[path = "gateway/fakes.rs"]
mod fakes;

#[path = "gateway/admin.rs"]
mod admin;
#[path = "gateway/auth.rs"]
mod auth;
#[path = "gateway/connections.rs"]
mod connections;
#[path = "gateway/contract.rs"]
mod contract;
#[path = "gateway/edges.rs"]
mod edges;
#[path = "gateway/errors.rs"]
mod errors;
#[path = "gateway/jwks.rs"]
mod jwks;
#[path = "gateway/openai.rs"]
mod openai;
#[path = "gateway/openai_sdk.rs"]
mod openai_sdk;
#[path = "gateway/real_suite.rs"]
mod real_suite;
#[path = "gateway/talk.rs"]
mod talk;
#[path = "gateway/web.rs"]
mod web;
