//! Every vendor client against the provider simulator: request bodies and
//! headers as the vendor expects them, replies, streams, usage, embeddings and
//! the error classes each vendor answer maps to.

// Test helpers fail loudly on purpose, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "vendors/support.rs"]
mod support;

#[path = "vendors/anthropic.rs"]
mod anthropic;
#[path = "vendors/azure.rs"]
mod azure;
#[path = "vendors/bedrock.rs"]
mod bedrock;
#[path = "vendors/ollama.rs"]
mod ollama;
#[path = "vendors/openai.rs"]
mod openai;
#[path = "vendors/vertex.rs"]
mod vertex;
