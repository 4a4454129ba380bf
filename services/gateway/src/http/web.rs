//! The web app at `/`: the built single-page app (`WEB_DIR`), loaded into
//! memory once at start-up (a few hundred KB), so serving a file is a map
//! look-up and no request path ever reaches the file system.
//!
//! Vite names everything under `assets/` by content hash, so those files are
//! cached for a year; `index.html` is revalidated on every load so a deploy
//! is picked up at once. A browser navigating to a client route (`/talk/…`,
//! `/console`) gets `index.html`; the API prefixes keep their JSON 404s.

use super::edges;
use crate::web_config::WebConfig;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, header};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Paths that belong to the APIs, never to the app.
const RESERVED: [&str; 6] = [
    "/api",
    "/v1",
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
];

struct Asset {
    body: Bytes,
    content_type: &'static str,
    cache_control: &'static str,
}

/// The loaded app and the headers every page response carries.
pub struct WebApp {
    files: HashMap<String, Asset>,
    csp: HeaderValue,
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

impl WebApp {
    /// The app in `config.dir`, or `None` (API only) when there is none.
    pub fn load(config: &WebConfig) -> std::io::Result<Option<Self>> {
        let Some(dir) = &config.dir else {
            return Ok(None);
        };
        let mut files = HashMap::new();
        read_tree(dir, "", &mut files)?;
        if !files.contains_key("index.html") {
            return Ok(None);
        }
        Ok(Some(Self {
            files,
            csp: content_security_policy(config.oidc_origin()),
        }))
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn respond(&self, asset: &Asset) -> Response {
        let mut response = Response::new(Body::from(asset.body.clone()));
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(asset.cache_control),
        );
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }

    /// The file for `path`, `index.html` for a client route, or `None`.
    fn lookup(&self, path: &str, headers: &HeaderMap) -> Option<&Asset> {
        let key = path.trim_start_matches('/');
        let key = if key.is_empty() { "index.html" } else { key };
        if let Some(asset) = self.files.get(key) {
            return Some(asset);
        }
        let last = key.rsplit('/').next().unwrap_or_default();
        // A missing `app.js` is a 404, not the page; a route is a page only
        // for a browser asking for one.
        if last.contains('.') || !accepts_html(headers) {
            return None;
        }
        self.files.get("index.html")
    }
}

/// `script-src 'self'` with no inline script or eval; the page may call only
/// this origin and the identity provider's.
fn content_security_policy(idp_origin: Option<&str>) -> HeaderValue {
    let idp = idp_origin.map(|o| format!(" {o}")).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'{idp}; form-action 'self'{idp}; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"))
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|prefix| {
        path == *prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

fn read_tree(dir: &Path, prefix: &str, files: &mut HashMap<String, Asset>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}{name}");
        if entry.file_type()?.is_dir() {
            read_tree(&entry.path(), &format!("{key}/"), files)?;
            continue;
        }
        let hashed = key.starts_with("assets/");
        files.insert(
            key,
            Asset {
                body: Bytes::from(std::fs::read(entry.path())?),
                content_type: content_type(&name),
                cache_control: if hashed { IMMUTABLE } else { REVALIDATE },
            },
        );
    }
    Ok(())
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// The router's fallback: the app for page and asset requests, the API's
/// JSON 404 for everything else.
pub async fn fallback(State(web): State<Option<Arc<WebApp>>>, req: Request) -> Response {
    let path = req.uri().path();
    if let Some(web) = &web {
        let readable = req.method() == Method::GET || req.method() == Method::HEAD;
        if readable
            && !is_reserved(path)
            && let Some(asset) = web.lookup(path, req.headers())
        {
            return web.respond(asset);
        }
    }
    edges::not_found(req).await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_prefixes_are_reserved_but_lookalikes_are_not() {
        for p in [
            "/api",
            "/api/talk",
            "/v1/models",
            "/health",
            "/openapi.json",
        ] {
            assert!(is_reserved(p), "{p}");
        }
        for p in ["/", "/apiary", "/v10", "/talk/abc", "/console"] {
            assert!(!is_reserved(p), "{p}");
        }
    }

    #[test]
    fn the_policy_allows_the_identity_provider_only_when_configured() {
        let strict = content_security_policy(None);
        let strict = strict.to_str().unwrap();
        assert!(strict.contains("script-src 'self';"));
        assert!(strict.contains("frame-ancestors 'none'"));
        assert!(!strict.contains("unsafe-inline"));
        let with_idp = content_security_policy(Some("https://id.example.com"));
        assert!(
            with_idp
                .to_str()
                .unwrap()
                .contains("connect-src 'self' https://id.example.com;")
        );
    }
}
