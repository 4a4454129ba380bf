//! JWT verification (HS256 with a shared secret, RS256 with public keys) and
//! signing (HS256, for `gateway token`). Keys and validation rules are built
//! once at start-up; verifying a token allocates only its claims.

use crate::config::{AuthConfig, DEVELOPMENT_JWT_SECRET};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use service_kit::ConfigError;

/// Why a token was refused (the caller sees these messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (its `nbf` is in the future)")]
    NotYetValid,
    #[error("the token's audience is not accepted here")]
    WrongAudience,
    #[error("the token's issuer is not accepted here")]
    WrongIssuer,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("tokens signed with {0} are not accepted here")]
    Algorithm(String),
    #[error("the token has no usable `sub` claim")]
    BadSubject,
    #[error("the token is malformed: {0}")]
    Malformed(String),
}

/// The claims FluentEdge reads. `roles` (a list or a string) or `role`
/// containing `admin` makes an administrator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    pub exp: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn contains(&self, value: &str) -> bool {
        match self {
            Self::One(v) => v == value,
            Self::Many(vs) => vs.iter().any(|v| v == value),
        }
    }
}

impl Claims {
    pub fn is_admin(&self) -> bool {
        self.roles.as_ref().is_some_and(|r| r.contains("admin"))
            || self.role.as_deref() == Some("admin")
    }
}

/// Verifies (and in development or HS256 setups, signs) tokens.
pub struct JwtKeys {
    hs256: Option<(DecodingKey, EncodingKey)>,
    rs256: Vec<DecodingKey>,
    hs_validation: Validation,
    rs_validation: Validation,
    audience: String,
    issuer: Option<String>,
}

impl JwtKeys {
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        let secret: Option<Vec<u8>> = match (&config.jwt_secret, config.development()) {
            (Some(s), _) => Some(s.expose_secret().as_bytes().to_vec()),
            (None, true) => Some(DEVELOPMENT_JWT_SECRET.as_bytes().to_vec()),
            (None, false) => None,
        };
        let rs256 = match &config.public_keys_file {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(
                        "AUTH_JWT_PUBLIC_KEYS_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                parse_public_keys(&pem)
                    .map_err(|m| ConfigError::new("AUTH_JWT_PUBLIC_KEYS_FILE", m))?
            }
        };
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.set_audience(&[&config.audience]);
            if let Some(iss) = &config.issuer {
                v.set_issuer(&[iss]);
            }
            v.required_spec_claims = ["exp", "sub", "aud"].map(str::to_owned).into();
            // A token "not valid before" a future time is refused until then.
            v.validate_nbf = true;
            v
        };
        Ok(Self {
            hs256: secret.map(|s| (DecodingKey::from_secret(&s), EncodingKey::from_secret(&s))),
            rs256,
            hs_validation: validation(Algorithm::HS256),
            rs_validation: validation(Algorithm::RS256),
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
        })
    }

    /// The verified claims of `token`.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        // The key family follows the header, and each family has its own keys,
        // so an RS256 public key can never be used as an HS256 secret.
        let claims = match header.alg {
            Algorithm::HS256 => {
                let (key, _) = self
                    .hs256
                    .as_ref()
                    .ok_or_else(|| TokenError::Algorithm("HS256".into()))?;
                decode(token, key, &self.hs_validation)?
            }
            Algorithm::RS256 if !self.rs256.is_empty() => {
                let mut last = TokenError::BadSignature;
                let mut found = None;
                for key in &self.rs256 {
                    match decode(token, key, &self.rs_validation) {
                        Ok(c) => {
                            found = Some(c);
                            break;
                        }
                        // Another key may have signed it; anything else is final.
                        Err(TokenError::BadSignature) => {}
                        Err(e) => {
                            last = e;
                            break;
                        }
                    }
                }
                found.ok_or(last)?
            }
            other => return Err(TokenError::Algorithm(format!("{other:?}"))),
        };
        if !is_valid_subject(&claims.sub) {
            return Err(TokenError::BadSubject);
        }
        Ok(claims)
    }

    /// Whether this gateway can sign tokens (it holds an HS256 secret).
    pub fn can_sign(&self) -> bool {
        self.hs256.is_some()
    }

    /// An HS256 token for `sub` with `roles`, valid for `ttl_secs`.
    pub fn sign(&self, sub: &str, roles: &[&str], ttl_secs: u64) -> Result<String, String> {
        let (_, key) = self.hs256.as_ref().ok_or_else(|| {
            "signing needs an HS256 secret: set AUTH_JWT_SECRET (or unset the RS256 keys file for development)"
                .to_owned()
        })?;
        if !is_valid_subject(sub) {
            return Err(format!("{sub:?} is not a valid subject"));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            roles: Some(OneOrMany::Many(
                roles.iter().map(|r| (*r).to_owned()).collect(),
            )),
            role: None,
            aud: Some(OneOrMany::One(self.audience.clone())),
            iss: self.issuer.clone(),
            iat: Some(now),
            exp: now.saturating_add(ttl_secs),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| e.to_string())
    }
}

pub(crate) fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<Claims, TokenError> {
    jsonwebtoken::decode::<Claims>(token, key, validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::MissingRequiredClaim(c) if c == "aud" => TokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(c) if c == "iss" => TokenError::WrongIssuer,
            _ => TokenError::Malformed(e.to_string()),
        })
}

/// Subjects travel as gRPC metadata and appear in logs: printable ASCII only.
pub(crate) fn is_valid_subject(sub: &str) -> bool {
    !sub.is_empty() && sub.len() <= 256 && sub.bytes().all(|b| b.is_ascii_graphic())
}

/// Every `-----BEGIN PUBLIC KEY-----` (or `RSA PUBLIC KEY`) block in `pem`.
fn parse_public_keys(pem: &str) -> Result<Vec<DecodingKey>, String> {
    let mut keys = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let end_marker = block
            .find("-----END ")
            .and_then(|i| block[i + 9..].find("-----").map(|j| i + 9 + j + 5))
            .ok_or("unterminated PEM block")?;
        let key = DecodingKey::from_rsa_pem(&block.as_bytes()[..end_marker])
            .map_err(|e| format!("not an RSA public key: {e}"))?;
        keys.push(key);
        rest = &block[end_marker..];
    }
    if keys.is_empty() {
        return Err("no PEM public key in the file".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config(secret: Option<&str>) -> AuthConfig {
        AuthConfig {
            jwt_secret: secret.map(|s| SecretString::from(s.to_owned())),
            public_keys_file: None,
            jwks_url: None,
            audience: "fluentedge".into(),
            issuer: None,
            dev_mode: true,
            admin_key_sha256: None,
        }
    }

    #[test]
    fn signs_and_verifies_with_the_development_secret() {
        let keys = JwtKeys::from_config(&config(None)).unwrap();
        let token = keys.sign("alice", &["admin"], 60).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert!(claims.is_admin());
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let secret = "n".repeat(32);
        let keys = JwtKeys::from_config(&config(Some(&secret))).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = |nbf: u64| {
            let claims = serde_json::json!({"sub": "alice", "aud": "fluentedge", "exp": now + 3600, "nbf": nbf});
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap()
        };
        assert_eq!(
            keys.verify(&token(now + 600)).unwrap_err(),
            TokenError::NotYetValid
        );
        assert!(keys.verify(&token(now - 5)).is_ok());
    }

    #[test]
    fn another_secret_is_a_bad_signature() {
        let a = JwtKeys::from_config(&config(Some(&"a".repeat(32)))).unwrap();
        let b = JwtKeys::from_config(&config(Some(&"b".repeat(32)))).unwrap();
        let token = a.sign("alice", &[], 60).unwrap();
        assert_eq!(b.verify(&token).unwrap_err(), TokenError::BadSignature);
    }

    #[test]
    fn role_claim_forms() {
        let mut c = Claims {
            sub: "x".into(),
            roles: Some(OneOrMany::One("admin".into())),
            role: None,
            aud: None,
            iss: None,
            iat: None,
            exp: 0,
        };
        assert!(c.is_admin());
        c.roles = Some(OneOrMany::Many(vec!["learner".into()]));
        assert!(!c.is_admin());
        c.role = Some("admin".into());
        assert!(c.is_admin());
    }

    #[test]
    fn garbage_is_malformed_and_subjects_are_checked() {
        let keys = JwtKeys::from_config(&config(None)).unwrap();
        assert!(matches!(keys.verify("nope"), Err(TokenError::Malformed(_))));
        assert!(keys.sign("has space", &[], 60).is_err());
    }
}
