//! llm-router integration tests: every vendor client against the provider
//! simulator (requests, responses, streams, usage, error classes), the
//! engine's fallback and accounting, and the gRPC surface on port 0.

// Test helpers fail loudly on purpose, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "router/support.rs"]
mod support;

#[path = "router/anthropic.rs"]
mod anthropic;
#[path = "router/azure.rs"]
mod azure;
#[path = "router/bedrock.rs"]
mod bedrock;
#[path = "router/engine.rs"]
mod engine;
#[path = "router/grpc.rs"]
mod grpc;
#[path = "router/ollama.rs"]
mod ollama;
#[path = "router/openai.rs"]
mod openai;
#[path = "router/vertex.rs"]
mod vertex;
