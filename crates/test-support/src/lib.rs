//! Test helpers shared by every crate's tests: a fresh PostgreSQL database per
//! test, unique Redis key prefixes, the real service binaries as child
//! processes (with their JSON logs captured), and grpcurl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod db;
mod process;

pub use db::{TestDb, postgres_admin_url, redis_url, unique_prefix};
pub use process::{ChildProcess, binary_path, grpcurl};
