//! Google's OAuth2 token endpoint (`POST /token`) for service-account JWT-bearer grants, so a
//! Vertex client can run its real token exchange against the simulator.
//!
//! The assertion must be a three-part JWT whose header names an `alg` and whose claims carry
//! `iss`, `scope`, `aud`, `iat` and `exp` (with `exp > iat`). The RS256 signature is not verified
//! (the simulator has no service-account public key).

use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::app::Ctx;
use crate::respond;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    respond::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

/// Decode `application/x-www-form-urlencoded` percent escapes and `+`.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'+') => out.push(b' '),
            Some(b'%') => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            Some(b) => out.push(*b),
            None => break,
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k) == name).then(|| form_decode(v))
    })
}

fn decode_part(part: &str) -> Option<Value> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Why an assertion is not an acceptable service-account JWT, if it is not.
fn check_assertion(jwt: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(format!(
            "expected 3 dot-separated parts, got {}",
            parts.len()
        ));
    };
    if signature.is_empty() {
        return Err("empty signature".into());
    }
    let header = decode_part(header).ok_or("header is not base64url JSON")?;
    if header.get("alg").and_then(Value::as_str).is_none() {
        return Err("header has no alg".into());
    }
    let claims = decode_part(claims).ok_or("claims are not base64url JSON")?;
    for name in ["iss", "scope", "aud"] {
        if claims
            .get(name)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("missing claim `{name}`"));
        }
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("missing claim `iat`")?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("missing claim `exp`")?;
    if exp <= iat {
        return Err("`exp` must be after `iat`".into());
    }
    Ok(())
}

/// POST /token.
pub(crate) async fn token(ctx: Ctx, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body);
    let grant = form_field(&body, "grant_type").unwrap_or_default();
    if grant != JWT_BEARER {
        return oauth_error(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant}"),
        );
    }
    let assertion = form_field(&body, "assertion").unwrap_or_default();
    if let Err(why) = check_assertion(&assertion) {
        return oauth_error(400, "invalid_grant", &format!("Invalid JWT: {why}"));
    }
    if let Some(status) = ctx.fault.upfront_error(false) {
        return oauth_error(status, "temporarily_unavailable", "Simulated failure.");
    }
    respond::unary(
        &ctx.fault,
        &json!({
            "access_token": format!("sim-token-{}", ctx.next_id()),
            "expires_in": 3600,
            "token_type": "Bearer",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        assert_eq!(form_decode("urn%3Aietf%3Aparams+x"), "urn:ietf:params x");
        assert_eq!(
            form_field("a=1&grant_type=b%2Fc", "grant_type").as_deref(),
            Some("b/c")
        );
    }

    #[test]
    fn checks_jwt_structure() {
        let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let h = enc(json!({"alg": "RS256", "typ": "JWT"}));
        let c = enc(json!({"iss": "a@b", "scope": "s", "aud": "u", "iat": 1, "exp": 2}));
        assert!(check_assertion(&format!("{h}.{c}.sig")).is_ok());
        assert!(check_assertion(&format!("{h}.{c}")).is_err());
        let bad = enc(json!({"iss": "a@b", "aud": "u", "iat": 1, "exp": 2}));
        assert!(check_assertion(&format!("{h}.{bad}.sig")).is_err());
    }
}
