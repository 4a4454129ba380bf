//! `usage-accounting retention [--dry-run]`: applies retention once (or,
//! with `--dry-run`, logs what it would retire) with the service's own
//! configuration, then exits. For operators and cron jobs; the running
//! service also applies it daily.

use crate::config::Config;
use crate::retention;
use crate::storage;
use chrono::Utc;
use service_kit::Env;
use service_kit::bootstrap::EXIT_CONFIG;
use service_kit::telemetry::{self, TelemetryConfig};
use std::process::ExitCode;

const USAGE: &str = "usage: usage-accounting retention [--dry-run]\n\
    Moves whole months older than USAGE_RETENTION_MONTHS out of api_usage_log\n\
    (to api_usage_log_archive, or deleted with USAGE_RETENTION_ACTION=delete).";

/// Exit code for bad arguments (sysexits' EX_USAGE).
const EXIT_USAGE: u8 = 64;

pub fn retention(args: &[String]) -> ExitCode {
    let mut dry_run = false;
    for arg in args {
        match arg.as_str() {
            "--dry-run" => dry_run = true,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let env = Env::from_process();
    let parsed = Config::from_env(&env)
        .and_then(|c| Ok((c, TelemetryConfig::from_env(crate::SERVICE, &env)?)));
    let (config, telemetry_config) = match parsed {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("{}: {e}", crate::SERVICE);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if config.retention.keep_months == 0 {
        eprintln!("USAGE_RETENTION_MONTHS is 0 or unset: every month is kept, nothing to do");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _guard = match telemetry::init(&telemetry_config) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{}: {e}", crate::SERVICE);
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let run = async {
            let store = storage::open(&config.database, 1)?;
            store.migrate().await?;
            retention::run_once(store.as_ref(), config.retention, Utc::now(), dry_run).await
        };
        match run.await {
            Ok(months) => {
                let rows: u64 = months.iter().map(|m| m.retired.rows).sum();
                tracing::info!(months = months.len(), rows, dry_run, "retention.completed");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "retention.failed");
                ExitCode::FAILURE
            }
        }
    })
}
