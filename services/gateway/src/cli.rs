//! The gateway binary's command line: serve (the default), or print a
//! development token signed with this gateway's configuration (`make token`).

use crate::AuthConfig;
use crate::auth::jwt::JwtKeys;
use clap::{Parser, Subcommand, ValueEnum};
use service_kit::Env;
use service_kit::bootstrap::EXIT_CONFIG;
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "gateway", about = "FluentEdge's HTTP gateway")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Print a JWT for the suite this environment configures (HS256: the
    /// AUTH_JWT_SECRET, or the development secret when it is unset).
    Token {
        #[arg(long, value_enum, default_value_t = Role::Learner)]
        role: Role,
        /// The subject (default: dev-learner or dev-admin).
        #[arg(long)]
        sub: Option<String>,
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Role {
    Learner,
    Admin,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        None | Some(Command::Serve) => service_kit::bootstrap::run_service(
            crate::SERVICE,
            crate::Config::from_env,
            |config| config.listen_addr.clone(),
            crate::run,
        ),
        Some(Command::Token {
            role,
            sub,
            ttl_hours,
        }) => token(role, sub, ttl_hours),
    }
}

fn token(role: Role, sub: Option<String>, ttl_hours: u64) -> ExitCode {
    let (roles, default_sub): (&[&str], _) = match role {
        Role::Learner => (&["learner"], "dev-learner"),
        Role::Admin => (&["admin"], "dev-admin"),
    };
    let signed = AuthConfig::from_env(&Env::from_process())
        .map_err(|e| e.to_string())
        .and_then(|c| JwtKeys::from_config(&c).map_err(|e| e.to_string()))
        .and_then(|keys| {
            keys.sign(
                sub.as_deref().unwrap_or(default_sub),
                roles,
                ttl_hours.saturating_mul(3600),
            )
        });
    match signed {
        Ok(token) => {
            let _ = writeln!(std::io::stdout().lock(), "{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "gateway token: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
