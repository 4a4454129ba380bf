//! Who is calling: learners and SDK users with a JWT (`Authorization: Bearer`),
//! operators with a JWT carrying the admin role or the admin API key
//! (`X-Admin-Key: <key>` or `Authorization: Bearer fe-admin-…`, stored only as
//! its SHA-256 and compared in constant time).
//!
//! [`require`] runs per route group; it puts the [`Principal`] in the request
//! and makes it the current [`RequestContext`]'s subject and role, so every
//! gRPC call made for the request carries them in its signed service token.

pub mod jwks;
pub mod jwt;

use crate::config::AuthConfig;
use crate::errors::ApiError;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::request::Parts;
use jwt::{JwtKeys, TokenError};
use service_kit::{ConfigError, RequestContext};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Prefix that marks a bearer credential as the admin API key, not a JWT.
pub const ADMIN_KEY_PREFIX: &str = "fe-admin-";
pub const ADMIN_KEY_HEADER: &str = "x-admin-key";
/// The subject recorded for calls made with the admin API key.
pub const ADMIN_KEY_SUBJECT: &str = "admin-api-key";

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: Arc<str>,
    pub admin: bool,
}

/// What a route group needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid JWT (learners, SDK users, admins).
    User,
    /// A JWT with the admin role, or the admin API key.
    Admin,
}

pub struct Authenticator {
    jwt: JwtKeys,
    /// The identity provider's keys (`AUTH_JWKS_URL`): bearer JWTs go there.
    jwks: Option<jwks::JwksKeys>,
    admin_key_sha256: Option<[u8; 32]>,
}

impl Authenticator {
    pub fn from_config(config: &AuthConfig) -> Result<Self, ConfigError> {
        let jwks = match &config.jwks_url {
            None => None,
            Some(url) => Some(
                jwks::JwksKeys::new(url, &config.audience, config.issuer.as_deref())
                    .map_err(|m| ConfigError::new("AUTH_JWKS_URL", m))?,
            ),
        };
        Ok(Self {
            jwt: JwtKeys::from_config(config)?,
            jwks,
            admin_key_sha256: config.admin_key_sha256,
        })
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// The caller of a request needing `access`, or why not.
    pub fn authorize(&self, headers: &HeaderMap, access: Access) -> Result<Principal, ApiError> {
        let bearer = bearer_token(headers)?;
        let admin_key = headers
            .get(ADMIN_KEY_HEADER)
            .map(|v| v.to_str().unwrap_or_default())
            .or(bearer.filter(|t| t.starts_with(ADMIN_KEY_PREFIX)));
        if let Some(key) = admin_key {
            if access != Access::Admin {
                return Err(ApiError::unauthenticated(
                    "the admin API key is accepted only on /api/v1/admin/*; send a JWT here",
                ));
            }
            return self.check_admin_key(key);
        }
        let token = bearer.ok_or_else(|| {
            ApiError::unauthenticated("missing credentials: send `Authorization: Bearer <JWT>`")
        })?;
        let claims = self
            .jwt
            .verify(token)
            .map_err(|e: TokenError| ApiError::unauthenticated(e.to_string()))?;
        principal_of(claims, access)
    }

    /// [`Self::authorize`], with bearer JWTs verified by the identity
    /// provider's published keys when `AUTH_JWKS_URL` is set.
    pub async fn authorize_with_provider(
        &self,
        headers: &HeaderMap,
        access: Access,
    ) -> Result<Principal, ApiError> {
        let Some(jwks) = &self.jwks else {
            return self.authorize(headers, access);
        };
        let jwt = bearer_token(headers)?.filter(|t| {
            !t.starts_with(ADMIN_KEY_PREFIX) && !headers.contains_key(ADMIN_KEY_HEADER)
        });
        let Some(token) = jwt else {
            return self.authorize(headers, access);
        };
        let claims = jwks
            .verify(token)
            .await
            .map_err(|e| ApiError::unauthenticated(e.to_string()))?;
        principal_of(claims, access)
    }

    fn check_admin_key(&self, key: &str) -> Result<Principal, ApiError> {
        let Some(expected) = &self.admin_key_sha256 else {
            return Err(ApiError::unauthenticated(
                "no admin API key is configured on this gateway",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if bool::from(digest.ct_eq(expected)) {
            Ok(Principal {
                subject: ADMIN_KEY_SUBJECT.into(),
                admin: true,
            })
        } else {
            Err(ApiError::unauthenticated("invalid admin API key"))
        }
    }
}

fn principal_of(claims: jwt::Claims, access: Access) -> Result<Principal, ApiError> {
    let admin = claims.is_admin();
    if access == Access::Admin && !admin {
        return Err(ApiError::forbidden("this operation needs the admin role"));
    }
    Ok(Principal {
        subject: claims.sub.into(),
        admin,
    })
}

/// The bearer credential, if the request has an `Authorization` header.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("the Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// Middleware: authenticate for `access`, then run the rest of the stack as
/// the caller.
pub async fn require(
    State((auth, access)): State<(Arc<Authenticator>, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match auth.authorize_with_provider(req.headers(), access).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut ctx = req
        .extensions()
        .get::<RequestContext>()
        .cloned()
        .or_else(RequestContext::current)
        .unwrap_or_else(RequestContext::generated);
    ctx.subject = Some(principal.subject.to_string());
    ctx.admin = principal.admin;
    req.extensions_mut().insert(ctx.clone());
    req.extensions_mut().insert(principal);
    ctx.scope(next.run(req)).await
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("this route needs authentication"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(admin_key: Option<&str>) -> Authenticator {
        let config = AuthConfig {
            jwt_secret: None,
            public_keys_file: None,
            jwks_url: None,
            audience: "fluentedge".into(),
            issuer: None,
            dev_mode: true,
            admin_key_sha256: admin_key.map(|k| Sha256::digest(k.as_bytes()).into()),
        };
        Authenticator::from_config(&config).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn admin_key_by_header_or_bearer_prefix() {
        let auth = authenticator(Some("fe-admin-s3cret"));
        for h in [
            headers(&[("x-admin-key", "fe-admin-s3cret")]),
            headers(&[("authorization", "Bearer fe-admin-s3cret")]),
        ] {
            let p = auth.authorize(&h, Access::Admin).unwrap();
            assert!(p.admin);
            assert_eq!(&*p.subject, ADMIN_KEY_SUBJECT);
            assert!(auth.authorize(&h, Access::User).is_err());
        }
        let wrong = headers(&[("x-admin-key", "fe-admin-guess")]);
        assert_eq!(
            auth.authorize(&wrong, Access::Admin).unwrap_err().status(),
            401
        );
    }

    #[test]
    fn learners_are_not_admins() {
        let auth = authenticator(None);
        let token = auth.jwt().sign("learner-1", &["learner"], 60).unwrap();
        let h = headers(&[("authorization", &format!("Bearer {token}"))]);
        assert_eq!(
            &*auth.authorize(&h, Access::User).unwrap().subject,
            "learner-1"
        );
        assert_eq!(auth.authorize(&h, Access::Admin).unwrap_err().status(), 403);
        assert_eq!(
            auth.authorize(&HeaderMap::new(), Access::User)
                .unwrap_err()
                .status(),
            401
        );
        let basic = headers(&[("authorization", "Basic abc")]);
        assert_eq!(
            auth.authorize(&basic, Access::User).unwrap_err().status(),
            401
        );
    }
}
