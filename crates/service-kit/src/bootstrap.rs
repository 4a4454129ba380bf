//! `main` for every service: config → telemetry → bind → run → exit code.

use crate::config::{ConfigError, Env};
use crate::telemetry::{self, TelemetryConfig};
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use tokio::net::TcpListener;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Exit code for invalid configuration (as sysexits' EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

/// Runs a service process. `parse` reads the config from the environment,
/// `listen_addr` says where to bind, `run` serves until the shutdown future
/// (SIGTERM/SIGINT) resolves and the service has drained.
pub fn run_service<C, Fut>(
    service: &'static str,
    parse: impl FnOnce(&Env) -> Result<C, ConfigError>,
    listen_addr: impl FnOnce(&C) -> String,
    run: impl FnOnce(C, TcpListener, Shutdown) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), BoxError>>,
{
    let env = Env::from_process();
    let (config, telemetry_config) =
        match parse(&env).and_then(|c| Ok((c, TelemetryConfig::from_env(service, &env)?))) {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("{service}: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    crate::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{service}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _guard = match telemetry::init(&telemetry_config) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{service}: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let addr = listen_addr(&config);
        let listener = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(addr = %addr, error = %e, "server.bind_failed");
                return ExitCode::FAILURE;
            }
        };
        match run(config, listener, Box::pin(crate::shutdown_signal())).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "server.failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// Binds the metrics listener (when configured) and serves it until `shutdown`.
pub async fn spawn_metrics(
    addr: Option<&str>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Option<std::net::SocketAddr>, BoxError> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(crate::metrics::serve(listener, async move {
        shutdown.cancelled().await
    }));
    tracing::info!(addr = %bound, "metrics.listening");
    Ok(Some(bound))
}
