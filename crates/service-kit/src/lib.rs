//! What every FluentEdge service shares, so that each `main.rs` stays a few lines:
//! typed configuration from the environment, telemetry (JSON/console logs and
//! OpenTelemetry traces), the request context that travels across every hop,
//! the gRPC server bootstrap (health, reflection, limits, graceful drain),
//! gRPC client channels, and the one error-code vocabulary mapped to gRPC and HTTP.

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod context;
#[cfg(feature = "database")]
pub mod database;
pub mod error;
pub mod grpc_client;
mod grpc_health;
pub mod grpc_server;
pub mod metrics;
pub mod rpc_span;
pub mod shutdown;
pub mod telemetry;
pub mod text;

pub use config::{ConfigError, Env, ServerSettings};
pub use context::RequestContext;
pub use error::{ErrorCode, ServiceError};
pub use shutdown::shutdown_signal;

/// Installs the process-wide TLS crypto provider (ring) used by every HTTPS
/// client (providers, OTLP). Idempotent; call once at start-up.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
