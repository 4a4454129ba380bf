//! `provider-sim`: run the LLM provider simulator on a fixed address.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use provider_sim::{Fault, SimConfig, Simulator};
use service_kit::config::Env;
use service_kit::telemetry::{self, TelemetryConfig};

/// Deterministic simulator of the OpenAI, Azure OpenAI, Anthropic, Bedrock, Vertex AI and Ollama APIs.
#[derive(Debug, Parser)]
#[command(name = "provider-sim", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SIM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Fault applied to every request without a header or per-vendor fault, e.g. "status=503".
    #[arg(long, env = "SIM_FAULT")]
    fault: Option<Fault>,
    /// Pause between streamed chunks, in milliseconds.
    #[arg(long, env = "SIM_CHUNK_DELAY_MS", default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Embedding size when a request does not ask for one.
    #[arg(long, env = "SIM_EMBEDDING_DIMS", default_value_t = 64)]
    embedding_dims: usize,
    /// Accept requests without credentials.
    #[arg(long, env = "SIM_NO_AUTH")]
    no_auth: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // LOG_FORMAT and LOG_LEVEL as in every service, so that `make run`'s
    // merged JSON logs parse line by line.
    let _telemetry = telemetry::init(&TelemetryConfig::from_env(
        "provider-sim",
        &Env::from_process(),
    )?)?;
    let config = SimConfig {
        default_fault: args.fault.filter(|f| !f.is_none()),
        embedding_dims: args.embedding_dims.max(1),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        require_auth: !args.no_auth,
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        default_fault = ?config.default_fault.as_ref().map(ToString::to_string),
        require_auth = config.require_auth,
        "sim.listening"
    );
    Simulator::serve(listener, config, shutdown_signal()).await?;
    tracing::info!("sim.stopped");
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
