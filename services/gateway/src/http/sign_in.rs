//! How the web app signs people in: `GET /api/web/config` tells it which
//! way (the identity provider's OpenID Connect settings, and whether the
//! development sign-in exists), and `POST /api/dev/sign-in` is that
//! development sign-in — a token for any name and role, signed with the
//! public development secret. The route is only added to the router in
//! development mode, so elsewhere it is the API's plain 404.

use super::extract::Json;
use crate::auth::Authenticator;
use crate::errors::ApiError;
use crate::web_config::WebConfig;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// How long a development sign-in lasts.
const DEV_TOKEN_TTL_SECS: u64 = 12 * 3600;

/// `GET /api/web/config`, no credentials needed: nothing in it is secret.
pub fn config_route<S: Clone + Send + Sync + 'static>(
    web: &WebConfig,
    development: bool,
) -> Router<S> {
    let oidc = match (&web.oidc_authority, &web.oidc_client_id) {
        (Some(authority), Some(client_id)) => json!({
            "authority": authority,
            "client_id": client_id,
            "scope": web.oidc_scope,
        }),
        _ => Value::Null,
    };
    let body = json!({
        "development_sign_in": development,
        "oidc": oidc,
        "runbook_url": web.runbook_url,
    });
    Router::new().route(
        "/api/web/config",
        get(move || std::future::ready(axum::Json(body.clone()))),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSignInBody {
    /// Shown in the app; the subject is derived from it.
    pub name: String,
    /// `learner` or `admin`.
    pub role: String,
}

#[derive(Debug, Serialize)]
pub struct DevSignInReply {
    pub token: String,
    pub subject: String,
    pub name: String,
    pub roles: Vec<&'static str>,
    pub expires_in: u64,
}

/// `POST /api/dev/sign-in`, for development mode only.
pub fn dev_routes<S: Clone + Send + Sync + 'static>(auth: Arc<Authenticator>) -> Router<S> {
    Router::new().route("/api/dev/sign-in", post(dev_sign_in).with_state(auth))
}

async fn dev_sign_in(
    State(auth): State<Arc<Authenticator>>,
    Json(body): Json<DevSignInBody>,
) -> Result<axum::Json<DevSignInReply>, ApiError> {
    let name = body.name.trim();
    let slug = subject_slug(name)?;
    let roles: Vec<&'static str> = match body.role.as_str() {
        "learner" => vec!["learner"],
        "admin" => vec!["learner", "admin"],
        other => {
            return Err(ApiError::invalid(format!(
                "role: expected \"learner\" or \"admin\", got {other:?}"
            )));
        }
    };
    let subject = format!("dev-{slug}");
    let token = auth
        .jwt()
        .sign(&subject, &roles, DEV_TOKEN_TTL_SECS)
        .map_err(|e| ApiError::invalid(format!("cannot sign a development token: {e}")))?;
    Ok(axum::Json(DevSignInReply {
        token,
        subject,
        name: name.to_owned(),
        roles,
        expires_in: DEV_TOKEN_TTL_SECS,
    }))
}

/// `Ada Lovelace` → `ada-lovelace`: the same name is the same learner.
fn subject_slug(name: &str) -> Result<String, ApiError> {
    if name.is_empty() || name.chars().count() > 40 {
        return Err(ApiError::invalid("name: give 1 to 40 characters"));
    }
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if (c == ' ' || c == '-' || c == '_' || c == '.') && !slug.ends_with('-') {
            slug.push('-');
        } else if !(c == ' ' || c == '-' || c == '_' || c == '.') {
            return Err(ApiError::invalid(format!(
                "name: use letters, digits, spaces, '-', '_' or '.' (not {c:?})"
            )));
        }
    }
    let slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        return Err(ApiError::invalid(
            "name: needs at least one letter or digit",
        ));
    }
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_stable_subjects() {
        assert_eq!(subject_slug("Ada Lovelace").unwrap(), "ada-lovelace");
        assert_eq!(subject_slug("  ana_b. ").unwrap(), "ana-b");
        assert!(subject_slug("").is_err());
        assert!(subject_slug("---").is_err());
        assert!(subject_slug("Zoë").is_err());
        assert!(subject_slug(&"x".repeat(41)).is_err());
    }
}
