//! One module per vendor wire protocol, plus the vendor enum and routing table.

use std::fmt;
use std::str::FromStr;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;

use crate::app::AppState;

pub(crate) mod anthropic;
pub(crate) mod anthropic_tools;
pub(crate) mod azure;
pub(crate) mod bedrock;
pub(crate) mod bedrock_tools;
pub(crate) mod eventstream;
pub(crate) mod google_oauth;
pub(crate) mod ollama;
pub(crate) mod openai;
pub(crate) mod openai_embeddings;
pub(crate) mod openai_tools;
pub(crate) mod tool_model;
pub(crate) mod vertex;

/// A simulated cloud vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    OpenAi,
    Azure,
    Anthropic,
    Bedrock,
    Vertex,
    Ollama,
}

impl Vendor {
    /// Every vendor, in a stable order.
    pub const ALL: [Vendor; 6] = [
        Vendor::OpenAi,
        Vendor::Azure,
        Vendor::Anthropic,
        Vendor::Bedrock,
        Vendor::Vertex,
        Vendor::Ollama,
    ];

    /// The lowercase name used in flags, URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::OpenAi => "openai",
            Vendor::Azure => "azure",
            Vendor::Anthropic => "anthropic",
            Vendor::Bedrock => "bedrock",
            Vendor::Vertex => "vertex",
            Vendor::Ollama => "ollama",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Which vendor a request path belongs to (`None` for `/_sim` and unknown prefixes).
    pub(crate) fn for_path(path: &str) -> Option<Vendor> {
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Some(Vendor::Anthropic)
        } else if path.starts_with("/v1/projects/")
            || path.starts_with("/v1beta1/projects/")
            || path == "/token"
        {
            Some(Vendor::Vertex)
        } else if path.starts_with("/v1/") {
            Some(Vendor::OpenAi)
        } else if path.starts_with("/openai/") {
            Some(Vendor::Azure)
        } else if path.starts_with("/model/") {
            Some(Vendor::Bedrock)
        } else if path.starts_with("/api/") {
            Some(Vendor::Ollama)
        } else {
            None
        }
    }

    /// This vendor's error response for `status`, with its documented body shape.
    pub(crate) fn error(self, status: u16, message: &str) -> Response {
        match self {
            Vendor::OpenAi => openai::error(status, message),
            Vendor::Azure => azure::error(status, message),
            Vendor::Anthropic => anthropic::error(status, message),
            Vendor::Bedrock => bedrock::error(status, message),
            Vendor::Vertex => vertex::error(status, message),
            Vendor::Ollama => ollama::error(status, message),
        }
    }

    /// This vendor's error for an injected `status=` fault, with a realistic message.
    pub(crate) fn fault_error(self, status: u16) -> Response {
        self.error(status, self.fault_message(status))
    }

    /// A realistic message for an injected `status=` fault.
    pub(crate) fn fault_message(self, status: u16) -> &'static str {
        match (self, status) {
            (Vendor::Anthropic, 529) => "Overloaded",
            (Vendor::Bedrock, 429) => "Too many requests, please wait before trying again.",
            (Vendor::Vertex, 429) => "Resource exhausted. Please try again later.",
            (_, 429) => "Rate limit reached for requests. Please try again later.",
            (_, 500) => "The server had an error while processing your request.",
            (_, 502) => "Bad gateway.",
            (_, 503) => "The service is temporarily unavailable.",
            (_, 504) => "The model timed out while processing your request.",
            _ => "Simulated failure.",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A vendor name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown vendor `{0}` (expected openai, azure, anthropic, bedrock, vertex or ollama)")]
pub struct UnknownVendor(pub String);

impl FromStr for Vendor {
    type Err = UnknownVendor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Vendor::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownVendor(s.to_owned()))
    }
}

/// Every vendor route.
pub(crate) fn routes() -> Router<AppState> {
    let vertex_model = "/publishers/google/models/{model_action}";
    Router::new()
        // OpenAI (and Ollama's OpenAI-compatible API)
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/embeddings", post(openai_embeddings::embeddings))
        .route("/v1/models", get(openai_embeddings::models))
        // Azure OpenAI (deployment-scoped and the newer /openai/v1 surface)
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure::chat),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure::embeddings),
        )
        .route("/openai/v1/chat/completions", post(azure::chat_v1))
        .route("/openai/v1/embeddings", post(azure::embeddings_v1))
        // Anthropic
        .route("/v1/messages", post(anthropic::messages))
        // AWS Bedrock Runtime
        .route("/model/{model_id}/converse", post(bedrock::converse))
        .route(
            "/model/{model_id}/converse-stream",
            post(bedrock::converse_stream),
        )
        .route("/model/{model_id}/invoke", post(bedrock::invoke))
        // GCP Vertex AI
        .route(
            &format!("/v1/projects/{{project}}/locations/{{location}}{vertex_model}"),
            post(vertex::model_action),
        )
        .route(
            &format!("/v1beta1/projects/{{project}}/locations/{{location}}{vertex_model}"),
            post(vertex::model_action),
        )
        .route("/token", post(google_oauth::token))
        // Ollama
        .route("/api/chat", post(ollama::chat))
        .route("/api/embed", post(ollama::embed))
        .route("/api/tags", get(ollama::tags))
        .route("/api/version", get(ollama::version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Vendor::ALL {
            assert_eq!(v.to_string().parse::<Vendor>().unwrap(), v);
        }
        assert!("aws".parse::<Vendor>().is_err());
    }

    #[test]
    fn classifies_paths() {
        assert_eq!(
            Vendor::for_path("/v1/chat/completions"),
            Some(Vendor::OpenAi)
        );
        assert_eq!(Vendor::for_path("/v1/messages"), Some(Vendor::Anthropic));
        assert_eq!(
            Vendor::for_path("/v1/projects/p/locations/l/publishers/google/models/g:predict"),
            Some(Vendor::Vertex)
        );
        assert_eq!(Vendor::for_path("/model/x/converse"), Some(Vendor::Bedrock));
        assert_eq!(Vendor::for_path("/api/chat"), Some(Vendor::Ollama));
        assert_eq!(
            Vendor::for_path("/openai/deployments/d/chat/completions"),
            Some(Vendor::Azure)
        );
        assert_eq!(Vendor::for_path("/_sim/health"), None);
    }
}
