//! The one mapping from failures (gRPC statuses from the backends, bad input,
//! auth, limits) to HTTP: a status code and a JSON body.
//!
//! Handlers and middleware return [`ApiError`]; its response carries the app
//! shape `{"error":{"code","message","request_id"}}` and the error itself as
//! an extension, so the outermost middleware can re-render it in OpenAI's
//! shape `{"error":{"message","type","param","code"}}` on `/v1/*` (the
//! `openai` SDKs pick their exception class from the HTTP status and read
//! this body).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use service_kit::error::REASON_METADATA;
use service_kit::{ErrorCode, RequestContext};
use std::sync::Arc;

/// A failure as the HTTP caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    /// snake_case, stable: `budget_exceeded`, `invalid_argument`, ...
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

/// The error a response was made from, kept for the edge to re-render.
#[derive(Debug, Clone)]
pub struct ErrorExtension(pub Arc<ApiError>);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.reason(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// An HTTP-only failure (not a backend's): 405, 415 and the like.
    pub fn http(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// A failed gRPC call to `backend`, mapped once for every route.
    pub fn from_status(backend: &'static str, status: &tonic::Status) -> Self {
        use tonic::Code;
        let code = ErrorCode::of_status(status);
        let has_reason = status.metadata().contains_key(REASON_METADATA);
        let detail = status.message();
        // Backends' own errors carry a reason and a message meant for callers;
        // transport and framework failures get a message naming the backend.
        let message = if has_reason {
            detail.to_owned()
        } else {
            match status.code() {
                Code::Unavailable if detail.is_empty() => format!("{backend} is unavailable"),
                Code::Unavailable => format!("{backend} is unavailable: {detail}"),
                Code::DeadlineExceeded | Code::Cancelled => {
                    format!("{backend} did not answer in time")
                }
                Code::Unimplemented => format!("{backend} does not implement this operation yet"),
                Code::Internal | Code::Unknown | Code::DataLoss => {
                    format!("{backend} failed (internal error)")
                }
                _ if detail.is_empty() => code.reason().replace('_', " "),
                _ => detail.to_owned(),
            }
        };
        let (public_code, message) = crate::caller_errors::for_caller(code, message);
        let error = Self {
            code: public_code,
            ..Self::new(code, message)
        };
        if error.status.is_server_error() {
            tracing::warn!(
                backend,
                grpc_code = ?status.code(),
                reason = code.reason(),
                detail,
                "gateway.backend_error"
            );
        }
        error
    }

    /// A stream's terminal error frame, mapped like the same failure on a unary call.
    pub fn from_stream_frame(
        backend: &'static str,
        grpc_code: u32,
        reason: &str,
        msg: &str,
    ) -> Self {
        let code = i32::try_from(grpc_code)
            .map(tonic::Code::from_i32)
            .unwrap_or(tonic::Code::Unknown);
        let mut status = tonic::Status::new(code, msg.to_owned());
        let known = ErrorCode::from_reason(reason).map(ErrorCode::reason);
        if let Some(Ok(v)) = known.map(str::parse) {
            status.metadata_mut().insert(REASON_METADATA, v);
        }
        Self::from_status(backend, &status)
    }

    /// `{"error":{"code","message","request_id"}}`, the app and admin API shape.
    pub fn app_body(&self, request_id: &str) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "request_id": request_id}})
    }

    /// OpenAI's error type for this failure.
    pub fn openai_type(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            409 => "conflict_error",
            429 if self.code == ErrorCode::BudgetExceeded.reason() => "insufficient_quota",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        }
    }

    /// `{"error":{"message","type","param","code"}}`, OpenAI's shape.
    pub fn openai_body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.openai_type(),
            "param": null,
            "code": self.code,
        }})
    }

    /// The response in OpenAI's shape (used at the edge for `/v1/*`).
    pub fn openai_response(&self) -> Response {
        self.response_with(self.openai_body())
    }

    fn response_with(&self, body: Value) -> Response {
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.code == ErrorCode::BudgetExceeded.reason() {
            // Retrying cannot help until an admin reset or the next month; the
            // openai SDKs honour this header instead of retrying a 429.
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = RequestContext::current()
            .map(|c| c.request_id)
            .unwrap_or_default();
        let mut response = self.response_with(self.app_body(&request_id));
        response
            .extensions_mut()
            .insert(ErrorExtension(Arc::new(self)));
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with `Content-Type: application/json`",
            ),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than this server accepts",
            ),
            // Data errors name the field and the expected type (serde's path).
            other => Self::invalid(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::ServiceError;
    use tonic::{Code, Status};

    #[test]
    fn grpc_codes_map_to_http_statuses() {
        let table = [
            (Code::InvalidArgument, 400),
            (Code::FailedPrecondition, 400),
            (Code::Unauthenticated, 401),
            (Code::PermissionDenied, 403),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::Aborted, 409),
            (Code::OutOfRange, 413),
            (Code::ResourceExhausted, 429),
            (Code::Unavailable, 503),
            (Code::DeadlineExceeded, 504),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unknown, 500),
        ];
        for (code, http) in table {
            let e = ApiError::from_status("llm-router", &Status::new(code, "x"));
            assert_eq!(e.status().as_u16(), http, "{code:?}");
        }
    }

    #[test]
    fn budget_keeps_its_reason_and_is_not_retried() {
        let status =
            ServiceError::new(ErrorCode::BudgetExceeded, "monthly budget exhausted").into_status();
        let e = ApiError::from_status("llm-router", &status);
        assert_eq!((e.status().as_u16(), e.code()), (429, "budget_exceeded"));
        assert_eq!(e.openai_type(), "insufficient_quota");
        let r = e.openai_response();
        assert_eq!(r.headers()["x-should-retry"], "false");
    }

    #[test]
    fn internal_details_stay_in_the_logs() {
        let e = ApiError::from_status("conversation", &Status::internal("pg: password=hunter2"));
        assert!(!e.message().contains("hunter2"));
        assert_eq!(e.message(), "conversation failed (internal error)");
    }

    #[test]
    fn stream_frames_map_like_unary_calls() {
        let e = ApiError::from_stream_frame("llm-router", 14, "all_providers_failed", "azure: 503");
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (503, "all_providers_failed")
        );
        // No request context: treated as a learner, who reads no provider names.
        assert!(!e.message().contains("azure"));
        let e = ApiError::from_stream_frame("llm-router", 8, "budget_exceeded", "over");
        assert_eq!(e.code(), "budget_exceeded");
        let e = ApiError::from_stream_frame("llm-router", 14, "stream_interrupted", "hyper: body");
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (503, "provider_stream_interrupted")
        );
        assert!(!e.message().contains("hyper"));
    }

    #[test]
    fn bodies_have_both_shapes() {
        let e = ApiError::not_found("no such session");
        assert_eq!(
            e.app_body("r1"),
            json!({"error": {"code": "not_found", "message": "no such session", "request_id": "r1"}})
        );
        assert_eq!(e.openai_body()["error"]["type"], "not_found_error");
        assert_eq!(e.openai_body()["error"]["param"], Value::Null);
    }
}
