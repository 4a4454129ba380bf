//! Google OAuth2 access tokens for Vertex AI: from a service-account key
//! (the JWT-bearer grant, RFC 7523: an RS256-signed assertion exchanged at the
//! token endpoint), cached and refreshed before they expire; or a static
//! token (`VERTEX_ACCESS_TOKEN`, and the simulator).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::RwLock;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::transport::http::bearer;
use crate::transport::http::{self as transport, ErrorAnswer};
use crate::{ErrorKind, ProviderError};

pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// A token is replaced this long before it expires, so that no request
/// leaves with a token about to die in flight.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Longest wait for the token endpoint.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The fields of a service-account key file we use.
#[derive(Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    pub client_email: String,
    private_key: SecretString,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses and checks a key file: the right type, a usable RSA key.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let key: ServiceAccountKey =
            serde_json::from_slice(bytes).map_err(|e| format!("not a service-account key: {e}"))?;
        if key.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(format!(
                "key type {:?} is not \"service_account\"",
                key.kind.as_deref().unwrap_or_default()
            ));
        }
        if key.client_email.is_empty() {
            return Err("client_email is empty".into());
        }
        // Sign once now so that a broken key fails at start-up, not per request.
        let signing = key.encoding_key()?;
        sign_assertion(
            &signing,
            &key,
            "https://example.invalid/token",
            SystemTime::now(),
        )?;
        Ok(key)
    }

    fn encoding_key(&self) -> Result<EncodingKey, String> {
        EncodingKey::from_rsa_pem(self.private_key.expose_secret().as_bytes())
            .map_err(|e| format!("private_key is not an RSA PEM key: {e}"))
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

fn sign_assertion(
    key: &EncodingKey,
    account: &ServiceAccountKey,
    audience: &str,
    now: SystemTime,
) -> Result<String, String> {
    let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = account.private_key_id.clone();
    let claims = Claims {
        iss: &account.client_email,
        scope: SCOPE,
        aud: audience,
        iat,
        exp: iat + ASSERTION_LIFETIME_SECS,
    };
    jsonwebtoken::encode(&header, &claims, key).map_err(|e| format!("signing failed: {e}"))
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
}

fn classify_token_error(answer: &ErrorAnswer<'_>) -> ProviderError {
    let e: TokenError = serde_json::from_slice(answer.body).unwrap_or_default();
    let kind = match answer.status {
        400 | 401 | 403 => ErrorKind::Authentication,
        s => ErrorKind::from_status(s, answer.retry_after),
    };
    ProviderError::new(
        kind,
        format!(
            "token endpoint answered HTTP {}: {}",
            answer.status, e.error
        ),
    )
}

struct Cached {
    header: HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

struct Exchange {
    key: EncodingKey,
    account: Arc<ServiceAccountKey>,
    token_url: String,
    http: reqwest::Client,
    cache: RwLock<Option<Cached>>,
    /// One refresh at a time; the others wait for its token.
    refreshing: tokio::sync::Mutex<()>,
}

enum Source {
    Static(HeaderValue),
    ServiceAccount(Box<Exchange>),
}

/// Where Vertex's `Authorization` header comes from.
pub struct TokenSource {
    source: Source,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Static(_) => f.write_str("TokenSource::Static"),
            Source::ServiceAccount(x) => f
                .debug_struct("TokenSource::ServiceAccount")
                .field("client_email", &x.account.client_email)
                .field("token_url", &x.token_url)
                .finish(),
        }
    }
}

impl TokenSource {
    pub fn fixed(token: &SecretString) -> Self {
        let header = bearer(token).unwrap_or_else(|| HeaderValue::from_static("invalid-token"));
        TokenSource {
            source: Source::Static(header),
        }
    }

    pub fn service_account(
        account: Arc<ServiceAccountKey>,
        token_url: &str,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        let key = account.encoding_key()?;
        Ok(TokenSource {
            source: Source::ServiceAccount(Box::new(Exchange {
                key,
                account,
                token_url: token_url.to_owned(),
                http,
                cache: RwLock::new(None),
                refreshing: tokio::sync::Mutex::new(()),
            })),
        })
    }

    /// The `Authorization` header value for a request made now.
    pub async fn authorization(&self) -> Result<HeaderValue, ProviderError> {
        self.authorization_at(Instant::now()).await
    }

    /// As [`Self::authorization`], as if it were `now` (tests move time forward).
    pub async fn authorization_at(&self, now: Instant) -> Result<HeaderValue, ProviderError> {
        let x = match &self.source {
            Source::Static(h) => return Ok(h.clone()),
            Source::ServiceAccount(x) => x,
        };
        if let Some(h) = x.fresh(now) {
            return Ok(h);
        }
        let _guard = x.refreshing.lock().await;
        if let Some(h) = x.fresh(now) {
            return Ok(h); // another caller refreshed it while we waited
        }
        match x.fetch(now).await {
            Ok(h) => Ok(h),
            Err(e) => {
                // A failed early refresh still leaves a usable token.
                let cache = x.cache.read();
                match cache.as_ref() {
                    Some(c) if now < c.expires_at => {
                        tracing::warn!(error = %e, "vertex.token_refresh_failed");
                        Ok(c.header.clone())
                    }
                    _ => Err(e),
                }
            }
        }
    }
}

impl Exchange {
    fn fresh(&self, now: Instant) -> Option<HeaderValue> {
        let cache = self.cache.read();
        cache
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.header.clone())
    }

    async fn fetch(&self, now: Instant) -> Result<HeaderValue, ProviderError> {
        let assertion =
            sign_assertion(&self.key, &self.account, &self.token_url, SystemTime::now())
                .map_err(|e| ProviderError::new(ErrorKind::Authentication, e))?;
        let form = serde_urlencoded::to_string([
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.as_str()),
        ])
        .map_err(|e| ProviderError::new(ErrorKind::Authentication, e.to_string()))?;
        let request = self
            .http
            .post(&self.token_url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        let deadline = Instant::now() + TOKEN_TIMEOUT;
        let resp = transport::send(request, deadline, classify_token_error).await?;
        let body = transport::read_body(resp, deadline, 64 * 1024).await?;
        let reply: TokenReply = transport::parse_json(&body, "token reply")?;
        let header = bearer(&reply.access_token)
            .ok_or_else(|| ProviderError::malformed("access token is not a valid header value"))?;
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600));
        // Refresh REFRESH_MARGIN early, or halfway through a short-lived token.
        let early = lifetime
            .checked_sub(REFRESH_MARGIN)
            .filter(|d| *d >= lifetime / 2)
            .unwrap_or(lifetime / 2);
        *self.cache.write() = Some(Cached {
            header: header.clone(),
            refresh_at: now + early,
            expires_at: now + lifetime,
        });
        tracing::debug!(expires_in_s = lifetime.as_secs(), "vertex.token_refreshed");
        Ok(header)
    }
}
