//! One error vocabulary for every service, mapped to gRPC and to HTTP.
//!
//! Domain errors convert into a [`ServiceError`]; adapters turn it into a
//! `tonic::Status` (the reason travels in the `x-error-reason` metadata so the
//! gateway can tell a budget 429 from a rate-limit 429) or an HTTP status.

use tonic::{Code, Status};

/// Metadata key that carries [`ErrorCode::reason`] on a failed gRPC call.
pub const REASON_METADATA: &str = "x-error-reason";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    /// A different record already exists under this id.
    Conflict,
    PayloadTooLarge,
    RateLimited,
    /// The monthly LLM budget is exhausted.
    BudgetExceeded,
    /// Every provider candidate failed.
    AllProvidersFailed,
    /// A dependency (Redis, the database, a backend) is unavailable.
    Unavailable,
    DeadlineExceeded,
    /// A started stream was cut by its provider.
    StreamInterrupted,
    Unimplemented,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        Self::InvalidArgument,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::NotFound,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::BudgetExceeded,
        Self::AllProvidersFailed,
        Self::Unavailable,
        Self::DeadlineExceeded,
        Self::StreamInterrupted,
        Self::Unimplemented,
        Self::Internal,
    ];

    /// Stable snake_case name: JSON `code` fields, stream error frames, metric labels.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::BudgetExceeded => "budget_exceeded",
            Self::AllProvidersFailed => "all_providers_failed",
            Self::Unavailable => "unavailable",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::StreamInterrupted => "stream_interrupted",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
        }
    }

    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.reason() == reason)
    }

    pub fn grpc_code(self) -> Code {
        match self {
            Self::InvalidArgument => Code::InvalidArgument,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::Conflict => Code::AlreadyExists,
            Self::PayloadTooLarge => Code::OutOfRange,
            Self::RateLimited | Self::BudgetExceeded => Code::ResourceExhausted,
            Self::AllProvidersFailed | Self::Unavailable | Self::StreamInterrupted => {
                Code::Unavailable
            }
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Unimplemented => Code::Unimplemented,
            Self::Internal => Code::Internal,
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited | Self::BudgetExceeded => 429,
            Self::AllProvidersFailed | Self::Unavailable | Self::StreamInterrupted => 503,
            Self::DeadlineExceeded => 504,
            Self::Unimplemented => 501,
            Self::Internal => 500,
        }
    }

    /// The code of a gRPC status from another service: its reason metadata
    /// when present, else the closest code for its gRPC code.
    pub fn of_status(status: &Status) -> Self {
        if let Some(code) = status
            .metadata()
            .get(REASON_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::from_reason)
        {
            return code;
        }
        match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists | Code::Aborted => Self::Conflict,
            Code::OutOfRange => Self::PayloadTooLarge,
            Code::ResourceExhausted => Self::RateLimited,
            Code::Unavailable => Self::Unavailable,
            Code::DeadlineExceeded | Code::Cancelled => Self::DeadlineExceeded,
            Code::Unimplemented => Self::Unimplemented,
            _ => Self::Internal,
        }
    }
}

/// An error as callers see it: a code and a message safe to show.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.reason())]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn from_status(status: &Status) -> Self {
        Self::new(ErrorCode::of_status(status), status.message())
    }

    pub fn into_status(self) -> Status {
        let mut status = Status::new(self.code.grpc_code(), self.message);
        if let Ok(v) = self.code.reason().parse() {
            status.metadata_mut().insert(REASON_METADATA, v);
        }
        status
    }
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Self {
        e.into_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_grpc_status() {
        for code in ErrorCode::ALL {
            let status = ServiceError::new(code, "x").into_status();
            assert_eq!(status.code(), code.grpc_code());
            assert_eq!(ErrorCode::of_status(&status), code);
            assert_eq!(ErrorCode::from_reason(code.reason()), Some(code));
        }
    }

    #[test]
    fn budget_and_rate_limit_share_429_but_keep_their_reason() {
        assert_eq!(ErrorCode::BudgetExceeded.http_status(), 429);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        let plain = Status::resource_exhausted("slow down");
        assert_eq!(ErrorCode::of_status(&plain), ErrorCode::RateLimited);
    }
}
