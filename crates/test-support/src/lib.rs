//! Test helpers shared by every crate's tests: a fresh PostgreSQL database per
//! test, unique Redis key prefixes, a Redis Cluster per test, the real service
//! binaries as child processes (with their JSON logs captured), and grpcurl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod db;
mod process;
mod redis_cluster;
mod simulator;

pub use db::{TestDb, postgres_admin_url, redis_url, unique_prefix};
pub use process::{ChildProcess, binary_path, grpcurl};
pub use redis_cluster::{NodeView, RedisCluster, cluster_skipped, redis_server_available};
pub use simulator::expected_reply;

/// A reqwest client for tests (installs the TLS crypto provider reqwest needs first).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("reqwest client")
}
