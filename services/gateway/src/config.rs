//! The gateway's configuration, parsed once at start-up.

use secrecy::SecretString;
use service_kit::{ConfigError, Env};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens (`GATEWAY_LISTEN_ADDR`, default port 8000).
    pub listen_addr: String,
    /// conversation's gRPC address(es), comma-separated (`CONVERSATION_ADDR`).
    pub conversation_addr: String,
    /// llm-router's gRPC address(es) (`ROUTER_ADDR`).
    pub router_addr: String,
    /// usage-accounting's gRPC address(es) (`USAGE_ADDR`).
    pub usage_addr: String,
    /// Longest a request may take before its response starts, and the deadline
    /// of unary gRPC calls (`GATEWAY_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Deadline of a streamed reply, start to end (`GATEWAY_STREAM_TIMEOUT_MS`).
    pub stream_timeout: Duration,
    /// How long `/ready` waits for each backend's health (`GATEWAY_READY_TIMEOUT_MS`).
    pub ready_timeout: Duration,
    /// Header-read and idle limits of each connection
    /// (`GATEWAY_HEADER_READ_TIMEOUT_MS`, `GATEWAY_IDLE_TIMEOUT_MS`).
    pub connection_limits: crate::server::ConnectionLimits,
    /// Largest request body accepted (`GATEWAY_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// How long in-flight requests get after SIGTERM (`SHUTDOWN_GRACE_MS`).
    pub shutdown_grace: Duration,
    pub auth: AuthConfig,
    /// Origins allowed by CORS, matched exactly (`CORS_ALLOW_ORIGINS`, comma
    /// list). Empty: no CORS headers at all.
    pub cors_allow_origins: Vec<String>,
    /// Requests per minute per authenticated subject (`RATE_LIMIT_PER_MINUTE`,
    /// default 600; 0 switches the limit off).
    pub rate_limit_per_minute: u32,
    /// The web app served at `/` (see [`crate::web_config`]).
    pub web: crate::web_config::WebConfig,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HS256 secret (`AUTH_JWT_SECRET`). `None` with no public keys: the fixed
    /// development secret (see [`AuthConfig::development`]).
    pub jwt_secret: Option<SecretString>,
    /// RS256 public keys, PEM, one or more in the file (`AUTH_JWT_PUBLIC_KEYS_FILE`).
    pub public_keys_file: Option<PathBuf>,
    /// The identity provider's JWKS URL (`AUTH_JWKS_URL`): RS256 tokens
    /// signed by its published keys (see `auth::jwks`).
    pub jwks_url: Option<String>,
    /// The `aud` every token must carry (`AUTH_AUDIENCE`, default `fluentedge`).
    pub audience: String,
    /// The `iss` every token must carry, when set (`AUTH_ISSUER`).
    pub issuer: Option<String>,
    /// SHA-256 of the admin API key (`ADMIN_API_KEY_SHA256`, 64 hex digits).
    pub admin_key_sha256: Option<[u8; 32]>,
    /// Development conveniences switched on (`FLUENTEDGE_DEV=1`, loopback only).
    pub dev_mode: bool,
}

/// The development HS256 secret used when no key is configured. Public on
/// purpose: tokens signed with it are worthless outside a developer's machine.
pub const DEVELOPMENT_JWT_SECRET: &str = "fluentedge-development-secret-not-for-production";

impl AuthConfig {
    /// Whether the gateway runs on the public development secret: only when
    /// switched on explicitly and no key is configured.
    pub fn development(&self) -> bool {
        self.dev_mode
            && self.jwt_secret.is_none()
            && self.public_keys_file.is_none()
            && self.jwks_url.is_none()
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let admin_key_sha256 = match env.get("ADMIN_API_KEY_SHA256") {
            None => None,
            Some(raw) => {
                let bytes = hex::decode(raw.trim()).map_err(|e| {
                    ConfigError::new("ADMIN_API_KEY_SHA256", format!("not hex: {e}"))
                })?;
                let digest: [u8; 32] = bytes.try_into().map_err(|_| {
                    ConfigError::new(
                        "ADMIN_API_KEY_SHA256",
                        "expected a SHA-256 digest (64 hex digits)",
                    )
                })?;
                Some(digest)
            }
        };
        let dev_mode = env.dev_mode()?;
        let jwt_secret = jwt_secret(env, dev_mode)?;
        let public_keys_file = env.get("AUTH_JWT_PUBLIC_KEYS_FILE").map(PathBuf::from);
        let jwks_url = env.get("AUTH_JWKS_URL").map(str::to_owned);
        if jwt_secret.is_none() && public_keys_file.is_none() && jwks_url.is_none() && !dev_mode {
            return Err(ConfigError::new(
                "AUTH_JWT_SECRET",
                "not set: set AUTH_JWT_SECRET (32+ bytes), AUTH_JWT_PUBLIC_KEYS_FILE or AUTH_JWKS_URL; \
                 FLUENTEDGE_DEV=1 uses the public development secret, on loopback only",
            ));
        }
        let config = Self {
            jwt_secret,
            public_keys_file,
            jwks_url,
            audience: env.string_or("AUTH_AUDIENCE", "fluentedge"),
            issuer: env.get("AUTH_ISSUER").map(str::to_owned),
            admin_key_sha256,
            dev_mode,
        };
        // Unreadable or invalid keys are a configuration error, reported at start.
        crate::auth::jwt::JwtKeys::from_config(&config)?;
        Ok(config)
    }
}

/// `AUTH_JWT_SECRET`, refusing what would fail open: an empty value (an
/// empty key in a Secret is a mistake, not "no secret"), a short one, and the
/// public development secret outside development mode.
fn jwt_secret(env: &Env, dev_mode: bool) -> Result<Option<SecretString>, ConfigError> {
    const VAR: &str = "AUTH_JWT_SECRET";
    let Some(raw) = env.raw(VAR) else {
        return Ok(None);
    };
    if raw.trim().is_empty() {
        return Err(ConfigError::new(VAR, "is set but empty"));
    }
    if raw.len() < 32 {
        return Err(ConfigError::new(VAR, "must be at least 32 bytes for HS256"));
    }
    if raw == DEVELOPMENT_JWT_SECRET && !dev_mode {
        return Err(ConfigError::new(
            VAR,
            "is the public development secret; it is accepted only with FLUENTEDGE_DEV=1",
        ));
    }
    Ok(Some(SecretString::from(raw.to_owned())))
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let request_timeout =
            env.millis_or("GATEWAY_REQUEST_TIMEOUT_MS", Duration::from_secs(120))?;
        let config = Self {
            listen_addr: env.listen_addr_or("GATEWAY_LISTEN_ADDR", 8000)?,
            conversation_addr: env
                .backend_addrs_or("CONVERSATION_ADDR", "http://127.0.0.1:50051")?,
            router_addr: env.backend_addrs_or("ROUTER_ADDR", "http://127.0.0.1:50052")?,
            usage_addr: env.backend_addrs_or("USAGE_ADDR", "http://127.0.0.1:50053")?,
            request_timeout,
            stream_timeout: env.millis_or("GATEWAY_STREAM_TIMEOUT_MS", Duration::from_secs(600))?,
            ready_timeout: env.millis_or("GATEWAY_READY_TIMEOUT_MS", Duration::from_secs(1))?,
            connection_limits: crate::server::ConnectionLimits {
                header_read_timeout: env
                    .millis_or("GATEWAY_HEADER_READ_TIMEOUT_MS", Duration::from_secs(10))?,
                idle_timeout: env.millis_or(
                    "GATEWAY_IDLE_TIMEOUT_MS",
                    request_timeout + Duration::from_secs(30),
                )?,
            },
            max_body_bytes: env.parse_or("GATEWAY_MAX_BODY_BYTES", 1024 * 1024)?,
            shutdown_grace: env.millis_or("SHUTDOWN_GRACE_MS", Duration::from_secs(25))?,
            auth: AuthConfig::from_env(env)?,
            cors_allow_origins: env
                .get("CORS_ALLOW_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            rate_limit_per_minute: env.parse_or("RATE_LIMIT_PER_MINUTE", 600)?,
            web: crate::web_config::WebConfig::from_env(env)?,
        };
        if config.request_timeout.is_zero() {
            return Err(ConfigError::new(
                "GATEWAY_REQUEST_TIMEOUT_MS",
                "must be at least 1",
            ));
        }
        if config.connection_limits.header_read_timeout.is_zero() {
            return Err(ConfigError::new(
                "GATEWAY_HEADER_READ_TIMEOUT_MS",
                "must be at least 1",
            ));
        }
        if config.connection_limits.idle_timeout <= config.request_timeout {
            return Err(ConfigError::new(
                "GATEWAY_IDLE_TIMEOUT_MS",
                "must exceed GATEWAY_REQUEST_TIMEOUT_MS: a call waiting for its reply moves no bytes",
            ));
        }
        if config.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "GATEWAY_MAX_BODY_BYTES",
                "must be at least 1024",
            ));
        }
        for origin in &config.cors_allow_origins {
            if origin == "*" || http::HeaderValue::from_str(origin).is_err() {
                return Err(ConfigError::new(
                    "CORS_ALLOW_ORIGINS",
                    format!("{origin:?} is not an exact origin such as https://app.example.com"),
                ));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_on_the_development_secret() {
        let c = Config::from_env(&Env::from_pairs([("FLUENTEDGE_DEV", "1")])).unwrap();
        assert!(c.auth.development());
        // Without the development switch there is no development secret.
        assert_eq!(
            Config::from_env(&Env::default()).unwrap_err().var,
            "AUTH_JWT_SECRET"
        );
        assert_eq!(c.auth.audience, "fluentedge");
        assert_eq!(c.rate_limit_per_minute, 600);
        assert!(c.cors_allow_origins.is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("ADMIN_API_KEY_SHA256", "abc"),
            ("ADMIN_API_KEY_SHA256", "zz"),
            ("AUTH_JWT_SECRET", "short"),
            ("CORS_ALLOW_ORIGINS", "*"),
            ("GATEWAY_MAX_BODY_BYTES", "10"),
            ("RATE_LIMIT_PER_MINUTE", "-1"),
            ("AUTH_JWT_SECRET", ""),
            ("AUTH_JWT_SECRET", "   "),
            ("AUTH_JWT_SECRET", DEVELOPMENT_JWT_SECRET),
        ] {
            let dev = if value == DEVELOPMENT_JWT_SECRET {
                "0"
            } else {
                "1"
            };
            let err = Config::from_env(&Env::from_pairs([(var, value), ("FLUENTEDGE_DEV", dev)]))
                .unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn cors_origins_are_exact_and_trimmed() {
        let env = Env::from_pairs([
            (
                "CORS_ALLOW_ORIGINS",
                "https://app.example.com/, http://localhost:3000",
            ),
            ("FLUENTEDGE_DEV", "1"),
        ]);
        let c = Config::from_env(&env).unwrap();
        assert_eq!(
            c.cors_allow_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
    }
}
