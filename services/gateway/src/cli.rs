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
    /// Generate service-token key pairs for every signing service and operators:
    /// `<out>/private/<issuer>.pem` (mount one into each service as
    /// SERVICE_AUTH_KEY_FILE; keep operator.pem off the cluster) and
    /// `<out>/trust/<issuer>.pem` (mount the directory as SERVICE_AUTH_TRUST_DIR).
    Keys {
        #[arg(long)]
        out: std::path::PathBuf,
    },
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
        /// Print an operator's service token for grpcurl against the gRPC
        /// services instead (signed with SERVICE_AUTH_KEY_FILE, the operator's
        /// key, or the development key with FLUENTEDGE_DEV=1; at most 1 hour).
        #[arg(long)]
        internal: bool,
        /// With --internal: sign as this service instead of as an operator
        /// (needs that service's key; development: any, e.g. `--as llm-router`).
        #[arg(long = "as", requires = "internal")]
        as_issuer: Option<String>,
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
            service_kit::auth::AuthSettings::new(service_kit::auth::Issuer::Gateway, true),
            crate::Config::from_env,
            |config| config.listen_addr.clone(),
            crate::run,
        ),
        Some(Command::Keys { out }) => match write_keys(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(std::io::stderr().lock(), "gateway keys: {e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Token {
            role,
            sub,
            ttl_hours,
            internal: false,
            ..
        }) => token(role, sub, ttl_hours),
        Some(Command::Token {
            role,
            sub,
            internal: true,
            as_issuer,
            ..
        }) => internal_token(role, sub, as_issuer),
    }
}

fn write_keys(out: &std::path::Path) -> Result<(), String> {
    use service_kit::auth::Issuer;
    use service_kit::auth::keys::generate_pem;
    let private = out.join("private");
    let trust = out.join("trust");
    for dir in [&private, &trust] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    for issuer in [
        Issuer::Gateway,
        Issuer::Conversation,
        Issuer::Router,
        Issuer::Operator,
    ] {
        let (key, public) = generate_pem().map_err(|e| e.to_string())?;
        let name = format!("{issuer}.pem");
        write_private(&private.join(&name), &key)?;
        std::fs::write(trust.join(&name), public).map_err(|e| e.to_string())?;
    }
    let _ = writeln!(
        std::io::stdout().lock(),
        "wrote {}/private/<issuer>.pem and {}/trust/<issuer>.pem",
        out.display(),
        out.display()
    );
    Ok(())
}

/// Writes a private key readable by its owner only.
fn write_private(path: &std::path::Path, pem: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(pem.as_bytes()).map_err(|e| e.to_string())
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
    print_token(signed)
}

/// An operator's service token (`make token ROLE=admin INTERNAL=1`).
fn internal_token(role: Role, sub: Option<String>, as_issuer: Option<String>) -> ExitCode {
    use service_kit::auth::keys::PrivateKey;
    use service_kit::auth::{Issuer, Role as ServiceRole, Signer, settings};
    let (role, default_sub) = match role {
        Role::Learner => (ServiceRole::User, "dev-learner"),
        Role::Admin => (ServiceRole::Admin, "dev-admin"),
    };
    let env = Env::from_process();
    let key = match (env.get(settings::KEY_FILE_VAR), env.dev_mode()) {
        (Some(path), _) => {
            PrivateKey::from_file(std::path::Path::new(path)).map_err(|e| e.to_string())
        }
        (None, Ok(true)) => Ok(PrivateKey::development()),
        (None, _) => Err(format!(
            "{}: not set: point it at the operator's private key (or FLUENTEDGE_DEV=1 for `make run`)",
            settings::KEY_FILE_VAR
        )),
    };
    let ttl = std::time::Duration::from_secs(3600);
    let issuer = match as_issuer.as_deref().map(str::parse::<Issuer>) {
        None => Ok(Issuer::Operator),
        Some(parsed) => parsed,
    };
    let signed = key.and_then(|key| {
        let issuer = issuer?;
        // A service signing for itself names no person.
        let (subject, role) = if issuer == Issuer::Operator {
            (Some(sub.as_deref().unwrap_or(default_sub)), role)
        } else {
            (
                sub.as_deref(),
                if sub.is_some() {
                    role
                } else {
                    ServiceRole::Service
                },
            )
        };
        Signer::new(issuer, key, ttl)
            .mint_for(subject, role, ttl)
            .map_err(|e| e.to_string())
    });
    print_token(signed)
}

fn print_token(signed: Result<String, String>) -> ExitCode {
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
