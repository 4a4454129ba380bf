//! Configuration of the web app the gateway serves at `/` (see `http::web`).

use service_kit::{ConfigError, Env};
use std::path::{Path, PathBuf};

/// Where the built single-page app lives, and how it signs people in.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The built app (`WEB_DIR`; default `web/dist` when that directory
    /// exists; `WEB_DIR=off` serves the API alone).
    pub dir: Option<PathBuf>,
    /// The OpenID Connect issuer the app signs people in with
    /// (`WEB_OIDC_AUTHORITY`); without it the app offers only the
    /// development sign-in, and only in development mode.
    pub oidc_authority: Option<String>,
    /// The app's OAuth client id at that issuer (`WEB_OIDC_CLIENT_ID`).
    pub oidc_client_id: Option<String>,
    /// The scopes the app asks for (`WEB_OIDC_SCOPE`).
    pub oidc_scope: String,
    /// Where `docs/RUNBOOK.md` is published, for the console's links
    /// (`WEB_RUNBOOK_URL`); unset, the console names the sections.
    pub runbook_url: Option<String>,
}

pub const DEFAULT_WEB_DIR: &str = "web/dist";

impl WebConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let dir = match env.get("WEB_DIR").map(str::trim) {
            Some("off") => None,
            Some("") | None => Some(PathBuf::from(DEFAULT_WEB_DIR)).filter(|d| d.is_dir()),
            Some(dir) => {
                if !Path::new(dir).join("index.html").is_file() {
                    return Err(ConfigError::new(
                        "WEB_DIR",
                        format!(
                            "{dir} has no index.html (build the app with `npm run build` in web/, or set WEB_DIR=off)"
                        ),
                    ));
                }
                Some(PathBuf::from(dir))
            }
        };
        let oidc_authority = env
            .get("WEB_OIDC_AUTHORITY")
            .map(|a| a.trim().trim_end_matches('/').to_owned())
            .filter(|a| !a.is_empty());
        if let Some(a) = &oidc_authority
            && !(a.starts_with("https://") || a.starts_with("http://"))
        {
            return Err(ConfigError::new(
                "WEB_OIDC_AUTHORITY",
                "must be the issuer's http(s) URL",
            ));
        }
        let oidc_client_id = env.get("WEB_OIDC_CLIENT_ID").map(str::to_owned);
        if oidc_authority.is_some() != oidc_client_id.is_some() {
            return Err(ConfigError::new(
                "WEB_OIDC_CLIENT_ID",
                "set WEB_OIDC_AUTHORITY and WEB_OIDC_CLIENT_ID together",
            ));
        }
        Ok(Self {
            dir,
            oidc_authority,
            oidc_client_id,
            oidc_scope: env.string_or("WEB_OIDC_SCOPE", "openid profile"),
            runbook_url: env.get("WEB_RUNBOOK_URL").map(str::to_owned),
        })
    }

    /// The issuer's origin (`scheme://host[:port]`), which the page may call.
    pub fn oidc_origin(&self) -> Option<&str> {
        let a = self.oidc_authority.as_deref()?;
        let after_scheme = a.find("://")? + 3;
        let end = a[after_scheme..]
            .find('/')
            .map_or(a.len(), |i| after_scheme + i);
        Some(&a[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_needs_both_values_and_a_url() {
        let only_one = Env::from_pairs([("WEB_OIDC_AUTHORITY", "https://id.example.com")]);
        assert_eq!(
            WebConfig::from_env(&only_one).unwrap_err().var,
            "WEB_OIDC_CLIENT_ID"
        );
        let not_url = Env::from_pairs([
            ("WEB_OIDC_AUTHORITY", "id.example.com"),
            ("WEB_OIDC_CLIENT_ID", "web"),
        ]);
        assert_eq!(
            WebConfig::from_env(&not_url).unwrap_err().var,
            "WEB_OIDC_AUTHORITY"
        );
        let ok = Env::from_pairs([
            (
                "WEB_OIDC_AUTHORITY",
                "https://id.example.com:8443/realms/x/",
            ),
            ("WEB_OIDC_CLIENT_ID", "web"),
        ]);
        let c = WebConfig::from_env(&ok).unwrap();
        assert_eq!(c.oidc_origin(), Some("https://id.example.com:8443"));
    }

    #[test]
    fn a_web_dir_without_an_app_is_refused_and_off_means_off() {
        let missing = Env::from_pairs([("WEB_DIR", "/nonexistent/dist")]);
        assert_eq!(WebConfig::from_env(&missing).unwrap_err().var, "WEB_DIR");
        let off = Env::from_pairs([("WEB_DIR", "off")]);
        assert!(WebConfig::from_env(&off).unwrap().dir.is_none());
    }
}
