//! RS256 tokens from an OpenID Connect identity provider, verified with the
//! keys it publishes at its JWKS URL (`AUTH_JWKS_URL`).
//!
//! Keys are fetched on first use and cached by `kid`. A token naming a `kid`
//! the cache does not hold makes one refetch (the provider has rotated its
//! keys), but at most once per [`MIN_REFETCH`]: a flood of tokens with made-up
//! `kid`s costs the provider one request per interval, not one per token.
//! A failed fetch keeps the keys already known.

use super::jwt::{Claims, TokenError, decode, is_valid_subject};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest time between two fetches of the key set.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The time source, injectable so the refetch limit is tested without waiting.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

pub struct JwksKeys {
    url: String,
    http: reqwest::Client,
    validation: Validation,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When the last fetch started; serialises fetches too.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    clock: Clock,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl JwksKeys {
    pub fn new(url: &str, audience: &str, issuer: Option<&str>) -> Result<Self, String> {
        Self::with_clock(url, audience, issuer, Arc::new(Instant::now))
    }

    pub fn with_clock(
        url: &str,
        audience: &str,
        issuer: Option<&str>,
        clock: Clock,
    ) -> Result<Self, String> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        service_kit::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[audience]);
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
        }
        validation.required_spec_claims = ["exp", "sub", "aud"].map(str::to_owned).into();
        Ok(Self {
            url: url.to_owned(),
            http,
            validation,
            keys: RwLock::new(HashMap::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            clock,
        })
    }

    /// The verified claims of an RS256 `token` signed by one of the provider's keys.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Malformed("the token has no `kid` header".into()))?;
        if !self.keys.read().contains_key(&kid) {
            self.refetch().await;
        }
        let claims = {
            let keys = self.keys.read();
            let key = keys.get(&kid).ok_or_else(|| {
                TokenError::Malformed(format!(
                    "the token's key {kid:?} is not published by the identity provider"
                ))
            })?;
            decode(token, key, &self.validation)?
        };
        if !is_valid_subject(&claims.sub) {
            return Err(TokenError::BadSubject);
        }
        Ok(claims)
    }

    /// Fetches the key set unless that was done less than [`MIN_REFETCH`] ago.
    async fn refetch(&self) {
        let mut last = self.last_fetch.lock().await;
        let now = (self.clock)();
        if last.is_some_and(|at| now.saturating_duration_since(at) < MIN_REFETCH) {
            return;
        }
        *last = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "auth.jwks_fetched");
                *self.keys.write() = keys;
            }
            Err(e) => tracing::warn!(url = %self.url, error = %e, "auth.jwks_fetch_failed"),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            // Encryption keys and other key types are not for verifying tokens.
            if jwk.kty != "RSA" || jwk.usage.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            let key = DecodingKey::from_rsa_components(&n, &e)
                .map_err(|err| format!("key {kid}: {err}"))?;
            keys.insert(kid, key);
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use parking_lot::Mutex;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KEY_1: &[u8] = include_bytes!("../../tests/fixtures/rs256-test-private.pem");
    const KEY_2: &[u8] = include_bytes!("../../tests/fixtures/rs256-rotated-private.pem");
    const JWKS_1: &str = include_str!("../../tests/fixtures/jwks-key-1.json");
    const JWKS_2: &str = include_str!("../../tests/fixtures/jwks-key-2.json");

    /// A JWKS endpoint whose answer the test changes, counting its requests.
    #[derive(Clone, Default)]
    struct Provider {
        answer: Arc<Mutex<(u16, String)>>,
        fetches: Arc<AtomicUsize>,
    }

    impl Provider {
        fn publish(&self, status: u16, body: &str) {
            *self.answer.lock() = (status, body.to_owned());
        }
        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    async fn serve(provider: Provider) -> String {
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let p = provider.clone();
                async move {
                    p.fetches.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = p.answer.lock().clone();
                    (http::StatusCode::from_u16(status).unwrap(), body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/jwks")
    }

    fn token(pem: &[u8], kid: &str, sub: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let claims = json!({"sub": sub, "aud": "fluentedge", "iss": "https://id.test", "exp": exp, "roles": ["learner"]});
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
    }

    /// A clock the test moves by hand.
    fn manual_clock() -> (Clock, Arc<Mutex<Duration>>) {
        let start = Instant::now();
        let offset = Arc::new(Mutex::new(Duration::ZERO));
        let o = offset.clone();
        (Arc::new(move || start + *o.lock()), offset)
    }

    #[tokio::test]
    async fn rotated_keys_are_fetched_once_and_unknown_kids_are_rate_limited() {
        let provider = Provider::default();
        provider.publish(200, JWKS_1);
        let url = serve(provider.clone()).await;
        let (clock, offset) = manual_clock();
        let keys =
            JwksKeys::with_clock(&url, "fluentedge", Some("https://id.test"), clock).unwrap();

        let claims = keys.verify(&token(KEY_1, "key-1", "ada")).await.unwrap();
        assert_eq!(claims.sub, "ada");
        keys.verify(&token(KEY_1, "key-1", "ada")).await.unwrap();
        assert_eq!(provider.fetches(), 1, "cached after the first fetch");

        // The provider rotates: a token with the new kid makes one refetch.
        *offset.lock() += MIN_REFETCH;
        provider.publish(200, JWKS_2);
        assert_eq!(
            keys.verify(&token(KEY_2, "key-2", "bo")).await.unwrap().sub,
            "bo"
        );
        assert_eq!(provider.fetches(), 2);

        // The retired key is gone, and made-up kids cannot make the gateway hammer the provider.
        assert!(keys.verify(&token(KEY_1, "key-1", "ada")).await.is_err());
        for i in 0..10 {
            assert!(
                keys.verify(&token(KEY_1, &format!("forged-{i}"), "eve"))
                    .await
                    .is_err()
            );
        }
        assert_eq!(
            provider.fetches(),
            2,
            "refetches are limited to one per interval"
        );

        // A failing provider keeps the keys already known.
        *offset.lock() += MIN_REFETCH;
        provider.publish(500, "oops");
        assert!(keys.verify(&token(KEY_1, "unknown", "eve")).await.is_err());
        assert_eq!(provider.fetches(), 3);
        assert_eq!(
            keys.verify(&token(KEY_2, "key-2", "bo")).await.unwrap().sub,
            "bo"
        );
    }

    #[tokio::test]
    async fn a_key_under_the_wrong_kid_or_other_claims_are_refused() {
        let provider = Provider::default();
        provider.publish(200, JWKS_1);
        let url = serve(provider).await;
        let keys = JwksKeys::new(&url, "fluentedge", Some("https://id.test")).unwrap();
        // Signed by another key but naming key-1: a bad signature.
        assert_eq!(
            keys.verify(&token(KEY_2, "key-1", "eve"))
                .await
                .unwrap_err(),
            TokenError::BadSignature
        );
        let other_issuer = JwksKeys::new(&url, "fluentedge", Some("https://elsewhere")).unwrap();
        assert_eq!(
            other_issuer
                .verify(&token(KEY_1, "key-1", "ada"))
                .await
                .unwrap_err(),
            TokenError::WrongIssuer
        );
        assert!(JwksKeys::new("ftp://x", "fluentedge", None).is_err());
    }
}
