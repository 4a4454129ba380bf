//! provider-sim: a deterministic simulator of the LLM vendors FluentEdge talks to.
//!
//! One HTTP port speaks OpenAI, Azure OpenAI, Anthropic Messages, AWS Bedrock Runtime
//! (Converse / ConverseStream with AWS event-stream framing), GCP Vertex AI Gemini (plus a Google
//! OAuth2 token endpoint) and Ollama, with fault injection and request recording. See the crate
//! README for routes and the fault syntax.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use provider_sim::{Fault, SimConfig, Simulator, Vendor};
//! let sim = Simulator::spawn(SimConfig::default()).await?;
//! // The next two Anthropic calls get a 529 `overloaded_error`.
//! sim.set_fault(Vendor::Anthropic, Fault::status(529), Some(2));
//! let base = sim.base_url(); // point the client under test at it
//! # let _ = base; Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

mod app;
mod control;
mod faults;
mod record;
mod respond;
mod server;
mod text;
mod vendors;

pub use faults::{FAULT_HEADER, Fault, FaultParseError};
pub use record::{MAX_RECORDED, RecordedRequest};
pub use text::{CONTENT_FILTER_TRIGGER, CONTEXT_LENGTH_TRIGGER};
pub use vendors::{UnknownVendor, Vendor};

use app::Shared;

/// How long `serve` lets open connections finish after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(5);

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Fault applied to every request that has no header fault and no per-vendor fault.
    pub default_fault: Option<Fault>,
    /// Embedding size when the request does not ask for one (default 64).
    pub embedding_dims: usize,
    /// Pause between streamed content chunks (default 0).
    pub chunk_delay: Duration,
    /// Check each vendor's credentials are present and well-formed (default true).
    pub require_auth: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            default_fault: None,
            embedding_dims: 64,
            chunk_delay: Duration::ZERO,
            require_auth: true,
        }
    }
}

/// A running simulator on `127.0.0.1:<random port>`. Dropping it shuts the server down and
/// closes every open connection.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: DropGuard,
}

impl Simulator {
    /// Bind `127.0.0.1:0` and serve in the background until the handle is dropped.
    pub async fn spawn(config: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let stop = CancellationToken::new();
        let app = app::router(Arc::clone(&shared));
        tokio::spawn(server::run(listener, app, stop.clone(), Duration::ZERO));
        Ok(Simulator {
            addr,
            shared,
            _stop: stop.drop_guard(),
        })
    }

    /// Serve on `listener` until `shutdown` completes, then drain open connections (bounded).
    pub async fn serve(
        listener: TcpListener,
        config: SimConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let shared = Arc::new(Shared::new(config));
        let stop = CancellationToken::new();
        let trigger = stop.clone();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        server::run(listener, app::router(shared), stop, DRAIN).await;
        watcher.abort();
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Apply `fault` to the vendor's next `times` requests (`None`: until cleared).
    /// Requests to the Google OAuth token endpoint do not consume Vertex faults.
    pub fn set_fault(&self, vendor: Vendor, fault: Fault, times: Option<u32>) {
        self.shared.faults.set(vendor, fault, times);
    }

    /// Remove every per-vendor fault (the config's default fault stays).
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every request received (the latest [`MAX_RECORDED`]), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.all()
    }

    /// Model-API requests received by `vendor` (exact; token-endpoint requests excluded).
    pub fn request_count(&self, vendor: Vendor) -> usize {
        self.shared.recorder.count(vendor)
    }

    /// Requests received by the Google OAuth2 token endpoint (`POST /token`).
    pub fn token_requests(&self) -> usize {
        self.shared.recorder.token_requests()
    }

    /// Forget recorded requests and reset the counters.
    pub fn clear_requests(&self) {
        self.shared.recorder.clear();
    }
}
