//! Minting and verifying service tokens (EdDSA JWTs, see the module docs).
//!
//! Both sides cache: a signer reuses a token for half its lifetime per
//! (subject, role), and a verifier remembers tokens it has verified until they
//! expire, so the steady state costs one hash-map lookup per call, not an
//! Ed25519 signature and verification.

use super::keys::{PrivateKey, TrustStore};
use super::{Caller, Issuer, Role};
use jsonwebtoken::{Algorithm, Header, Validation};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The audience of every service token: FluentEdge's internal gRPC services.
pub const AUDIENCE: &str = "fluentedge-internal";
/// Clock skew tolerated between pods.
const LEEWAY_SECS: u64 = 30;
/// Entries kept in each cache before it is cleared (bounds memory under
/// many distinct subjects; a cleared cache only costs re-signing/verifying).
const CACHE_LIMIT: usize = 8192;
/// Longest subject accepted in a token.
const MAX_SUBJECT_BYTES: usize = 256;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    role: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a token was refused (sent to the caller as UNAUTHENTICATED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the service token is malformed: {0}")]
    Malformed(String),
    #[error("the service token is signed with a key this service does not trust")]
    UnknownKey,
    #[error("the service token's issuer {0:?} does not own the key that signed it")]
    IssuerMismatch(String),
    #[error("the service token is not valid: {0}")]
    Invalid(String),
}

/// Signs this process's calls.
pub struct Signer {
    issuer: Issuer,
    key: PrivateKey,
    ttl: Duration,
    cache: Mutex<HashMap<(Option<String>, Role), Minted>>,
}

/// A token and when it was minted (Unix seconds).
type Minted = (String, u64);

impl Signer {
    pub fn new(issuer: Issuer, key: PrivateKey, ttl: Duration) -> Self {
        Self {
            issuer,
            key,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn issuer(&self) -> Issuer {
        self.issuer
    }

    /// A token for a call made for `subject` in `role` (`None`, `Service`: the
    /// service's own call).
    pub fn token(&self, subject: Option<&str>, role: Role) -> Result<String, TokenError> {
        let now = now_secs();
        let key = (subject.map(str::to_owned), role);
        let half_life = self.ttl.as_secs() / 2;
        if let Some((token, issued)) = self.cache.lock().get(&key)
            && now.saturating_sub(*issued) < half_life
        {
            return Ok(token.clone());
        }
        let token = self.mint(subject, role, now, self.ttl)?;
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (token.clone(), now));
        Ok(token)
    }

    /// A token with its own lifetime (operators' grpcurl tokens).
    pub fn mint_for(
        &self,
        subject: Option<&str>,
        role: Role,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        self.mint(subject, role, now_secs(), ttl)
    }

    fn mint(
        &self,
        subject: Option<&str>,
        role: Role,
        now: u64,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            iss: self.issuer.as_str().to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: subject.unwrap_or(self.issuer.as_str()).to_owned(),
            role: role.as_str().to_owned(),
            iat: now,
            nbf: now,
            exp: now + ttl.as_secs().max(1),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key.encoding)
            .map_err(|e| TokenError::Malformed(e.to_string()))
    }
}

/// Verifies the tokens of incoming calls.
pub struct Verifier {
    trust: TrustStore,
    validation: Validation,
    cache: Mutex<HashMap<String, (Caller, u64)>>,
}

impl Verifier {
    pub fn new(trust: TrustStore) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            trust,
            validation,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let now = now_secs();
        if let Some((caller, exp)) = self.cache.lock().get(token)
            && now <= *exp
        {
            return Ok(caller.clone());
        }
        let (caller, exp) = self.verify_uncached(token)?;
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (_, exp)| now <= *exp);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), (caller.clone(), exp));
        Ok(caller)
    }

    fn verify_uncached(&self, token: &str) -> Result<(Caller, u64), TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Malformed(format!(
                "algorithm {:?} is not accepted (EdDSA only)",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Malformed("no key id (kid)".into()))?;
        let (bound, key) = self.trust.lookup(&kid).ok_or(TokenError::UnknownKey)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?
            .claims;
        let issuer: Issuer = claims.iss.parse().map_err(TokenError::Invalid)?;
        if bound.is_some_and(|b| b != issuer) {
            return Err(TokenError::IssuerMismatch(claims.iss));
        }
        let role: Role = claims.role.parse().map_err(TokenError::Invalid)?;
        if claims.sub.is_empty()
            || claims.sub.len() > MAX_SUBJECT_BYTES
            || claims.sub.chars().any(char::is_control)
        {
            return Err(TokenError::Invalid("unusable `sub` claim".into()));
        }
        let subject = (role != Role::Service).then_some(claims.sub);
        Ok((
            Caller {
                issuer,
                subject,
                role,
            },
            claims.exp + LEEWAY_SECS,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::generate_pem;

    fn dev_signer(issuer: Issuer) -> Signer {
        Signer::new(issuer, PrivateKey::development(), Duration::from_secs(60))
    }

    #[test]
    fn a_token_round_trips_with_subject_and_role() {
        let verifier = Verifier::new(TrustStore::development());
        let token = dev_signer(Issuer::Gateway)
            .token(Some("alice"), Role::User)
            .unwrap();
        let caller = verifier.verify(&token).unwrap();
        assert_eq!(caller.issuer, Issuer::Gateway);
        assert_eq!(caller.subject.as_deref(), Some("alice"));
        assert_eq!(caller.role, Role::User);
        // The cached path answers the same.
        assert_eq!(verifier.verify(&token).unwrap(), caller);
        let own = dev_signer(Issuer::Router)
            .token(None, Role::Service)
            .unwrap();
        assert_eq!(verifier.verify(&own).unwrap().subject, None);
    }

    #[test]
    fn a_key_signs_only_for_the_issuer_whose_file_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate_pem().unwrap();
        std::fs::write(dir.path().join("conversation.pem"), public).unwrap();
        let verifier = Verifier::new(TrustStore::from_dir(dir.path()).unwrap());
        let key = || PrivateKey::from_pem(&private).unwrap();
        let honest = Signer::new(Issuer::Conversation, key(), Duration::from_secs(60));
        assert!(
            verifier
                .verify(&honest.token(None, Role::Service).unwrap())
                .is_ok()
        );
        let forged = Signer::new(Issuer::Router, key(), Duration::from_secs(60));
        assert!(matches!(
            verifier.verify(&forged.token(None, Role::Service).unwrap()),
            Err(TokenError::IssuerMismatch(_))
        ));
        // The development key is not trusted by a production trust store.
        let dev = dev_signer(Issuer::Conversation)
            .token(None, Role::Service)
            .unwrap();
        assert_eq!(verifier.verify(&dev), Err(TokenError::UnknownKey));
    }

    fn encode(claims: &Claims) -> String {
        let key = PrivateKey::development();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    fn claims(iat: u64, nbf: u64, exp: u64) -> Claims {
        Claims {
            iss: "gateway".into(),
            aud: AUDIENCE.into(),
            sub: "alice".into(),
            role: "user".into(),
            iat,
            nbf,
            exp,
        }
    }

    #[test]
    fn expired_not_yet_valid_and_tampered_tokens_are_refused() {
        let verifier = Verifier::new(TrustStore::development());
        let now = now_secs();
        let expired = encode(&claims(now - 600, now - 600, now - 300));
        assert!(matches!(
            verifier.verify(&expired),
            Err(TokenError::Invalid(_))
        ));
        let early = encode(&claims(now, now + 300, now + 600));
        assert!(matches!(
            verifier.verify(&early),
            Err(TokenError::Invalid(_))
        ));
        let mut wrong_aud = claims(now, now, now + 60);
        wrong_aud.aud = "fluentedge".into();
        assert!(verifier.verify(&encode(&wrong_aud)).is_err());
        let good = encode(&claims(now, now, now + 60));
        let tampered = format!("{}x", &good[..good.len() - 1]);
        assert!(verifier.verify(&tampered).is_err());
        assert!(matches!(
            verifier.verify("nonsense"),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn signers_reuse_tokens_per_subject() {
        let signer = dev_signer(Issuer::Gateway);
        let a = signer.token(Some("a"), Role::User).unwrap();
        assert_eq!(signer.token(Some("a"), Role::User).unwrap(), a);
        assert_ne!(signer.token(Some("b"), Role::User).unwrap(), a);
        assert_ne!(signer.token(Some("a"), Role::Admin).unwrap(), a);
    }
}
