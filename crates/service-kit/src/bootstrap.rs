//! `main` for every service: config → telemetry → bind → run → exit code.

use crate::auth::AuthSettings;
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
/// `credentials` says how the service authenticates (its keys are loaded and
/// installed before anything serves: missing keys exit 78), `listen_addr` says
/// where to bind, `run` serves until the shutdown future (SIGTERM/SIGINT)
/// resolves and the service has drained.
pub fn run_service<C, Fut>(
    service: &'static str,
    credentials: AuthSettings,
    parse: impl FnOnce(&Env) -> Result<C, ConfigError>,
    listen_addr: impl FnOnce(&C) -> String,
    run: impl FnOnce(C, TcpListener, Shutdown) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), BoxError>>,
{
    let env = Env::from_process();
    let dev_mode = env.dev_mode().unwrap_or(false);
    let parsed = parse(&env).and_then(|c| {
        Ok((
            c,
            TelemetryConfig::from_env(service, &env)?,
            worker_threads(&env)?,
            credentials.load(&env)?,
        ))
    });
    let (config, telemetry_config, workers, credentials) = match parsed {
        Ok(all) => all,
        Err(e) => {
            eprintln!("{service}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::install_crypto_provider();
    crate::auth::install(credentials);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
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
        tracing::info!(worker_threads = workers, "runtime.started");
        if dev_mode {
            tracing::warn!(
                "development_mode: FLUENTEDGE_DEV=1 (public development keys, loopback only)"
            );
        }
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

/// Runtime worker threads: `WORKER_THREADS`, else one per CPU this process may
/// use. `available_parallelism` honours cgroup CPU quotas, so a pod limited to
/// 500m gets one worker: more workers than cores only add cross-thread wake-ups
/// (latency and CPU) for a service whose work is I/O.
pub fn worker_threads(env: &Env) -> Result<usize, ConfigError> {
    let default = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers: usize = env.parse_or("WORKER_THREADS", default)?;
    if !(1..=MAX_WORKER_THREADS).contains(&workers) {
        return Err(ConfigError::new(
            "WORKER_THREADS",
            format!("must be 1 to {MAX_WORKER_THREADS}, got {workers}"),
        ));
    }
    Ok(workers)
}

const MAX_WORKER_THREADS: usize = 256;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(value: Option<&str>) -> Result<usize, ConfigError> {
        let env = match value {
            Some(v) => Env::from_pairs([("WORKER_THREADS", v)]),
            None => Env::from_pairs::<&str, &str>([]),
        };
        worker_threads(&env)
    }

    #[test]
    fn worker_threads_default_to_the_usable_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(workers(None).ok(), Some(cpus));
        assert_eq!(workers(Some("3")).ok(), Some(3));
    }

    #[test]
    fn worker_threads_out_of_range_or_not_a_number_name_the_variable() {
        for bad in ["0", "257", "two", "-1"] {
            let err = workers(Some(bad))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("WORKER_THREADS"), "{bad}: {err}");
        }
    }
}
