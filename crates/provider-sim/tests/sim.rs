//! Integration tests for provider-sim: every vendor protocol, every fault kind, the control API.
//! Each test spawns its own simulator on port 0, so they all run in parallel.

// Test helpers outside `#[test]` functions fail loudly on purpose, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "sim/support.rs"]
mod support;

#[path = "sim/anthropic.rs"]
mod anthropic;
#[path = "sim/azure.rs"]
mod azure;
#[path = "sim/bedrock.rs"]
mod bedrock;
#[path = "sim/control.rs"]
mod control;
#[path = "sim/faults.rs"]
mod faults;
#[path = "sim/ollama.rs"]
mod ollama;
#[path = "sim/openai.rs"]
mod openai;
#[path = "sim/vertex.rs"]
mod vertex;
